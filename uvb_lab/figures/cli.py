"""`uvb-figures RUN_DIR [--compare OTHER_RUN_DIR]` (= `python -m uvb_lab.figures`): the paper's figures of a trained run.

Writes into RUN_DIR/figures/ (or --out DIR) what uvb_lab/figures/paper_figures.py draws; `uvb-train` draws the
same at the end of training (config `figures:`). Options not given take the run's own `figures:` config.

Exit codes: 0 drawn; 2 refused, with one line: a folder that is not a run it can draw, an option out of range, or a
folder it cannot write (read-only, full: the figures there stay as they were).
"""

import argparse
import logging
import sys
from pathlib import Path
from typing import Any

from uvb_lab.figures.after_training import trained_for
from uvb_lab.figures.paper_figures import FIGURES, FiguresError, make_figures
from uvb_lab.run import devices
from uvb_lab.run import files as run_files
from uvb_lab.run import folder as run_folder

# A run read back (its model, data and figures: settings) is uvb_lab/trained_run.py's; imported from here before it was.
from uvb_lab.trained_run import LOCAL_SETTINGS, TrainedRun, default_settings, load_trained_run, recorded_settings

__all__ = ["LOCAL_SETTINGS", "TrainedRun", "default_settings", "load_trained_run", "main", "recorded_settings"]

def positive(kind: type) -> Any:
    """An argparse type: a number of that kind > 0, else argparse's own clear error (exit 2)."""

    def parse(text: str) -> Any:
        value = kind(text)
        if not value > 0:
            raise argparse.ArgumentTypeError(f"must be > 0, got {text}")
        return value

    parse.__name__ = kind.__name__  # argparse names the type in its message
    return parse


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="uvb-figures",
        description="Write the paper's Figures 2-4, the VAE-failure figure and the mixing numbers of a uvb-train run into RUN_DIR/figures/. "
        "Options not given take the run's own `figures:` config.",
    )
    parser.add_argument("run_dir", type=Path, help="a uvb-train run folder (holding config.yaml and checkpoints/)")
    parser.add_argument("--compare", type=Path, help="another run on the same data and sigma, whose x_hat(y) is Fig. 2's last row (UVB vs DEEN)")
    parser.add_argument("--device", default="auto", help="auto (cuda when available) | cpu | cuda | cuda:N")
    parser.add_argument("--out", type=Path, help="write the figures here instead of RUN_DIR/figures/ (which is then left as it is)")
    parser.add_argument("--jumps", type=positive(int), help="jumps per walk-jump chain (Fig. 3: 100)")
    parser.add_argument("--chains", type=positive(int), help="walk-jump chains for the mixing numbers (chain 0 is drawn)")
    parser.add_argument("--steps-per-jump", type=positive(int), dest="steps_per_jump", help="Langevin steps between jumps (Fig. 3: 10)")
    parser.add_argument("--delta", type=positive(float), help="Langevin step size (Fig. 3: 0.2)")
    parser.add_argument("--sampler", choices=("overdamped", "underdamped"), help="the walk: overdamped (Eq. 19, the paper's) or underdamped (BAOAB)")
    parser.add_argument("--friction", type=positive(float), help="gamma of the underdamped walk (1/time)")
    parser.add_argument("--z-samples", type=positive(int), dest="z_samples", help="K, z draws averaged for the 1-vs-K comparison (paper: 1000)")
    parser.add_argument("--images", type=positive(int), help="test images per row")
    parser.add_argument("--seed", type=int, help="noise, z draws and chains")
    parser.add_argument("--no-mixing", dest="mixing", action="store_const", const=False, help="skip the classifier and the mixing numbers")
    parser.add_argument(
        "--trust-target", action="append", default=[], metavar="PREFIX",
        help="also build _target_s starting with PREFIX from the run's config.yaml (your own classes); by default only the "
        "model, likelihood and data constructors of uvb-lab's config groups",
    )
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    args = parse_args(argv)
    try:
        try:
            device = devices.resolve_device(args.device)
        except devices.DeviceError as error:
            raise FiguresError(str(error).replace("trainer.device", "--device")) from error
        out = args.out or args.run_dir / FIGURES
        if problem := run_files.unwritable(out):  # before anything is loaded or drawn: a read-only mount, a file in the way
            raise FiguresError(f"cannot write the figures into {out} ({problem}); give a folder you can write with --out DIR")
        trusted = tuple(args.trust_target)
        run = load_trained_run(args.run_dir, device, trusted)
        compare = None
        if args.compare is not None:
            other = load_trained_run(args.compare, device, trusted)
            if other.data.shape != run.data.shape or other.model.sigma != run.model.sigma:
                raise FiguresError(
                    f"--compare needs a run on the same data and sigma: {run.name} has images {run.data.shape} at sigma "
                    f"{run.model.sigma}, {other.name} has {other.data.shape} at sigma {other.model.sigma}"
                )
            compare = (other.name, other.model)
        not_options = ("run_dir", "compare", "device", "trust_target", "out")
        options = {**run.settings, **{k: v for k, v in vars(args).items() if k not in not_options and v is not None}}
        summary = run_folder.read_summary_or_checkpoint(args.run_dir)
        try:
            pngs, _ = make_figures(out, run.model, run.data, options, name=run.name, compare=compare, trained=trained_for(summary))
        except OSError as error:  # a disk that filled while drawing: the earlier figures stay, all of them (make_figures)
            raise FiguresError(f"cannot write the figures into {out}: {error.strerror or error}; the figures there are as they were") from error
    except FiguresError as error:
        print(f"uvb-figures: error: {error}", file=sys.stderr)
        return 2
    for path in pngs.values():
        print(path)
    return 0


if __name__ == "__main__":
    sys.exit(main())
