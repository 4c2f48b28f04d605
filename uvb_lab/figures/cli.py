"""`uvb-figures RUN_DIR [--compare OTHER_RUN_DIR]` (= `python -m uvb_lab.figures`): the paper's figures of a trained run.

Writes into RUN_DIR/figures/ (or --out DIR) what uvb_lab/figures/paper_figures.py draws; `uvb-train` draws the
same at the end of training (config `figures:`). Options not given take the run's own `figures:` config.
"""

import argparse
import logging
import sys
from pathlib import Path
from typing import Any, NamedTuple

import torch
from hydra.errors import InstantiationException
from hydra.utils import instantiate
from omegaconf import DictConfig, OmegaConf

from uvb_lab.config import TRUSTED_TARGETS, compose_config, untrusted_targets
from uvb_lab.data.images import ImageData
from uvb_lab.figures.after_training import trained_for
from uvb_lab.figures.paper_figures import FIGURES, FiguresError, make_figures
from uvb_lab.models.energy import EnergyModel
from uvb_lab.run import checkpoint, devices, legacy
from uvb_lab.run import files as run_files
from uvb_lab.run import folder as run_folder


class TrainedRun(NamedTuple):
    """What the figures are drawn from: a run folder's trained model, its data and its `figures:` settings."""

    name: str
    model: EnergyModel
    data: ImageData
    settings: dict[str, Any]  # the run's `figures:` config; today's defaults for runs that recorded none


def run_config(run_dir: Path) -> DictConfig:
    """The run's config as uvb-train last ran it, every interpolation resolved (run_files.write_config)."""
    path = run_dir / run_files.CONFIG
    if not path.is_file():
        raise FiguresError(f"{run_dir} is not a uvb-train run folder: {path} is missing")
    saved = OmegaConf.to_container(OmegaConf.load(path), resolve=False)  # YAML read as data
    return OmegaConf.create(legacy.upgrade_config(saved))  # an older uvb-lab's names for the model and loss


def load_run(run_dir: Path, device: torch.device, trusted: tuple[str, ...] = TRUSTED_TARGETS) -> TrainedRun:
    """Model (with the weights of its newest good checkpoint) and data of a finished or running uvb-train run.

    The folder's config.yaml is data: only `_target_`s under the trusted prefixes (uvb_lab.) are built.
    """
    run_dir = Path(run_dir)
    cfg = run_config(run_dir)
    if untrusted := untrusted_targets(cfg, trusted):
        raise FiguresError(
            f"{run_dir / run_files.CONFIG} names code outside uvb_lab ({', '.join(untrusted)}); nothing was built. "
            "If these are your own classes, pass --trust-target PREFIX for each"
        )
    if not checkpoint.exists(run_dir):
        raise FiguresError(f"{run_dir / checkpoint.LAST} is missing: the run has not saved a checkpoint yet (one at each epoch end)")
    try:
        model = instantiate(cfg.model).to(device)
        data = instantiate(cfg.data)
    except InstantiationException as error:  # show the constructor's or loader's own complaint
        raise FiguresError(f"cannot rebuild {run_dir}'s model or data: {error.__cause__ or error}") from error
    try:
        model.load_state_dict(checkpoint.load(run_dir, map_location=device)["model"])
    except checkpoint.CheckpointError as error:
        raise FiguresError(str(error)) from error
    recorded = OmegaConf.to_container(cfg.figures, resolve=True) if "figures" in cfg else {}
    settings = {**default_settings(), **recorded}  # a key added to `figures:` since the run was made: its default
    settings.pop("after_training", None)
    return TrainedRun(str(cfg.run.name), model, data, settings)


def default_settings() -> dict[str, Any]:
    """conf/config.yaml's `figures:` section, the one place the figures' defaults live."""
    return OmegaConf.to_container(compose_config([]).figures, resolve=True)


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
        help="also build _target_s starting with PREFIX from the run's config.yaml (your own classes); by default only uvb_lab.*",
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
        trusted = (*TRUSTED_TARGETS, *args.trust_target)
        run = load_run(args.run_dir, device, trusted)
        compare = None
        if args.compare is not None:
            other = load_run(args.compare, device, trusted)
            if other.data.shape != run.data.shape or other.model.sigma != run.model.sigma:
                raise FiguresError(
                    f"--compare needs a run on the same data and sigma: {run.name} has images {run.data.shape} at sigma "
                    f"{run.model.sigma}, {other.name} has {other.data.shape} at sigma {other.model.sigma}"
                )
            compare = (other.name, other.model)
        not_options = ("run_dir", "compare", "device", "trust_target", "out")
        options = {**run.settings, **{k: v for k, v in vars(args).items() if k not in not_options and v is not None}}
        out = args.out or args.run_dir / FIGURES
        summary = run_folder.read_summary(args.run_dir)
        pngs, _ = make_figures(out, run.model, run.data, options, name=run.name, compare=compare, trained=trained_for(summary))
    except FiguresError as error:
        print(f"uvb-figures: error: {error}", file=sys.stderr)
        return 2
    for path in pngs.values():
        print(path)
    return 0


if __name__ == "__main__":
    sys.exit(main())
