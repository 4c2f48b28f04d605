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
from typing import Any, NamedTuple

import torch
from omegaconf import DictConfig, OmegaConf
from omegaconf.errors import OmegaConfBaseException

from uvb_lab import ranges, rebuild
from uvb_lab.compose import compose_config
from uvb_lab.config import FiguresSchema
from uvb_lab.data.images import DataError, ImageData
from uvb_lab.figures.after_training import trained_for
from uvb_lab.figures.paper_figures import FIGURES, FiguresError, make_figures
from uvb_lab.models.score import ScoreModel
from uvb_lab.run import checkpoint, devices, saved_config
from uvb_lab.run import files as run_files
from uvb_lab.run import folder as run_folder

# Settings of `figures:` that say where files go on the machine drawing the figures, never taken from a run folder.
LOCAL_SETTINGS = ("cache_dir",)


class TrainedRun(NamedTuple):
    """What the figures are drawn from: a run folder's trained model, its data and its `figures:` settings."""

    name: str
    model: ScoreModel
    data: ImageData
    settings: dict[str, Any]  # the run's `figures:` config; today's defaults for runs that recorded none


def load_trained_run(run_dir: Path, device: torch.device, trusted: tuple[str, ...] = ()) -> TrainedRun:
    """Model (with the weights of its newest good checkpoint) and data of a finished or running uvb-train run.

    The folder's config.yaml is data (uvb_lab/run/saved_config.py): the model and data are rebuilt only
    through uvb_lab/rebuild.py's allow-list, plus the target prefixes the user trusts (--trust-target).
    """
    run_dir = Path(run_dir)
    try:
        cfg = saved_config.read(run_dir)
        if not checkpoint.exists(run_dir):
            raise FiguresError(f"{run_dir / checkpoint.LAST} is missing: the run has not saved a checkpoint yet (one at each epoch end)")
        plain = OmegaConf.to_container(cfg)
        model = rebuild.build("model", plain.get("model"), trusted).to(device)
        data = rebuild.build("data", plain.get("data"), trusted)
        model.load_state_dict(checkpoint.weights(checkpoint.load(run_dir, map_location=device)))
    except (saved_config.SavedConfigError, rebuild.RebuildError, checkpoint.CheckpointError) as error:
        raise FiguresError(str(error)) from error
    except (DataError, TypeError, ValueError, RuntimeError) as error:  # the constructor's, loader's or weights' own complaint
        raise FiguresError(f"cannot rebuild {run_dir}'s model or data: {error}") from error
    return TrainedRun(str(OmegaConf.select(cfg, "run.name", default=run_dir.name)), model, data, recorded_settings(cfg))


def recorded_settings(cfg: DictConfig) -> dict[str, Any]:
    """The run's `figures:` settings, type-checked against the schema; today's default for a key added since.

    Where files go on this machine (cache_dir) is not the run's to say: that stays this machine's default.
    """
    defaults = default_settings()
    recorded = cfg.get("figures")
    if recorded is None:
        return defaults
    if not isinstance(recorded, DictConfig):
        raise FiguresError(f"the run's figures: settings are {recorded!r}, not a mapping")
    known = {key: value for key, value in recorded.items() if key in defaults and key not in LOCAL_SETTINGS}
    try:
        checked = OmegaConf.merge(OmegaConf.structured(FiguresSchema), defaults, known)
    except OmegaConfBaseException as error:
        raise FiguresError(f"the run's figures: settings are not valid ({str(error).splitlines()[0]})") from error
    settings = OmegaConf.to_container(checked)
    settings.pop("after_training", None)
    if found := ranges.problems(settings, "figures"):  # the ranges uvb-train checks, for the values a run folder brings
        raise FiguresError(f"the run's {found[0]}")
    return settings


def default_settings() -> dict[str, Any]:
    """conf/config.yaml's `figures:` section, the one place the figures' defaults live."""
    settings = OmegaConf.to_container(compose_config([]).figures, resolve=True)
    settings.pop("after_training", None)
    return settings


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
