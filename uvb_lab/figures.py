"""The paper's figures from a trained run: `uvb-figures RUN_DIR [--compare OTHER_RUN_DIR]` (= `python -m uvb_lab.figures`).

Writes into RUN_DIR/figures/ (or --out DIR):
    fig2_denoising.png   x, y (noise fixed), x_hat(y), NEBULA x_hat(x_hat(y)), [the other run's x_hat(y)]   (Fig. 2)
    fig3_walk_jump.png   one walk-jump chain, a jump after every k Langevin steps, left to right, top to bottom (Fig. 3)
    fig4_decoder.png     decoder samples mu_y(z), z ~ N(0, I)  (models with a decoder: UVB, VAE; Fig. 4)
    vae_failure.png      x, y, mu_y(z ~ q(z|y)), decoder samples (models with a decoder; Sec. 3.3.2)
    numbers.json         max |x_hat with 1 z draw - x_hat with K draws| (Fig. 2 caption: <= 0.0068), and the
                         mixing numbers of the walk-jump chains labelled by a cached classifier (uvb_lab/mixing.py)

`uvb-train` calls the same code at the end of training (config `figures:`), and logs the PNGs to W&B.
"""

import argparse
import json
import logging
import sys
from collections.abc import Mapping
from pathlib import Path
from typing import Any, NamedTuple

import torch
from hydra.errors import InstantiationException
from hydra.utils import instantiate
from omegaconf import DictConfig, OmegaConf

from uvb_lab import checkpoint, devices, run_files
from uvb_lab.config import TRUSTED_TARGETS, untrusted_targets
from uvb_lab.run import folder as run_folder
from uvb_lab.classifier import classify, load_or_train_classifier
from uvb_lab.data.images import ImageData
from uvb_lab.image_grid import save_grid
from uvb_lab.mixing import mixing_numbers
from uvb_lab.models.energy import EnergyModel
from uvb_lab.models.uvb import UVB
from uvb_lab.samplers import decoder_samples, nebula, walk_jump, x_hat
from uvb_lab.samplers.seeding import seeded

log = logging.getLogger(__name__)

FIGURES = "figures"
NUMBERS = "numbers.json"
# Mixing numbers count digit classes: they need labelled data with at least this many classes, and a classifier
# that tells them apart (test accuracy at least MIN_ACCURACY), else they would count the classifier's mistakes.
MIN_CLASSES = 10
MIN_ACCURACY = 0.9


class FiguresError(ValueError):
    """A run folder (or an option) the figures cannot be made from."""


class Run(NamedTuple):
    name: str
    model: EnergyModel
    data: ImageData
    settings: dict[str, Any]  # the run's `figures:` config, without after_training (empty for older runs)


def make_figures(
    out: Path,
    model: EnergyModel,
    data: ImageData,
    name: str = "",
    compare: tuple[str, EnergyModel] | None = None,
    images: int = 10,
    prior_samples: int = 100,
    nebula_steps: int = 2,
    z_samples: int = 1000,
    delta: float = 0.2,
    steps_per_jump: int = 10,
    jumps: int = 100,
    chains: int = 4,
    seed: int = 0,
    mixing: bool = True,
    classifier_epochs: int = 2,
    cache_dir: str = "~/.cache/uvb-lab",
    trained: str = "",
) -> tuple[dict[str, Path], dict[str, Any]]:
    """Write the figures of `model` into the folder out; returns {figure name: PNG path} and the numbers.

    compare: (name, model) of another run on the same data and sigma, whose x_hat(y) is Fig. 2's last row.
    Keyword meanings and units are those of conf/config.yaml's `figures:` section.
    """
    if images < 1 or prior_samples < 1 or chains < 1:
        raise FiguresError(f"images, prior_samples and chains must be >= 1, got {images}, {prior_samples}, {chains}")
    out = Path(out)
    device = next(model.parameters()).device
    was_training = model.training
    model.eval()
    if compare is not None:
        compare[1].eval()
    pngs: dict[str, Path] = {}
    numbers: dict[str, Any] = {"run": name, "sigma": model.sigma, "seed": seed}
    title = f"{name}  sigma={model.sigma:g}" + (f"  ({trained})" if trained else "")

    # -- Fig. 2: test images, noise drawn once from the seed and held fixed for every row.
    x = data.test[:images].to(device)
    with seeded(seed, device):
        y = x + model.sigma * torch.randn_like(x)
    denoised = x_hat(model, y, 1, seed=seed)
    rows = [("x", x), ("y", y), ("x_hat(y)", denoised), (f"NEBULA {nebula_steps} steps", nebula(model, y, nebula_steps, seed=seed))]
    if compare is not None:
        rows.append((f"{compare[0]} x_hat(y)", x_hat(compare[1], y, seed=seed)))
    pngs["fig2_denoising"] = save_grid(out / "fig2_denoising.png", rows, title)

    if isinstance(model, UVB):
        # -- Fig. 2 caption: how much averaging grad f over K draws z ~ q(z|y) changes x_hat (the paper: <= 0.0068).
        difference = (denoised - x_hat(model, y, z_samples, seed=seed + 1)).abs().max().item()
        numbers.update(x_hat_max_abs_diff_1_vs_K=difference, K=z_samples)
        print(f"{name}: max |x_hat(y) with 1 z draw - with K={z_samples}| over {images} test images = {difference:.4g}")

        # -- Fig. 4 and Sec. 3.3.2: the decoder on prior samples, and on samples of the posterior of y.
        samples = decoder_samples(model, prior_samples, seed=seed)
        pngs["fig4_decoder"] = save_grid(out / "fig4_decoder.png", [("mu_y(z), z~N(0,I)", samples)], title, columns=images)
        with seeded(seed, device), torch.no_grad():
            mu, log_var = model.encode(y)
            mu_y = model.decode(mu + (0.5 * log_var).exp() * torch.randn_like(mu))
        rows = [("x", x), ("y", y), ("mu_y(z~q(z|y))", mu_y), ("mu_y(z~N(0,I))", samples[:images])]
        pngs["vae_failure"] = save_grid(out / "vae_failure.png", rows, title)

    # -- Fig. 3: walk-jump chains from Unif[0,1]^d, no warm-up; chain 0 is drawn.
    chain = walk_jump(model, data.shape, chains, jumps, steps_per_jump, delta, seed=seed, device=device)
    rows = [(f"jumps {i + 1}-{min(i + images, jumps)}", chain.jumps[i : i + images, 0]) for i in range(0, jumps, images)]
    walk_title = f"{title}  walk-jump: delta={delta:g}, a jump every {steps_per_jump} steps"
    pngs["fig3_walk_jump"] = save_grid(out / "fig3_walk_jump.png", rows, walk_title)

    # -- Beyond the paper: label every jump sample with a classifier and count the classes each chain visits.
    if mixing:
        if why_not := no_mixing_reason(data, jumps):
            numbers["mixing_skipped"] = why_not
            log.info("%s: no mixing numbers: %s", name, why_not)
        else:
            try:
                numbers.update(chain_mixing(chain.jumps, data, name, delta, steps_per_jump, classifier_epochs, cache_dir, device))
            except Exception as error:  # noqa: BLE001 - the figures and the other numbers are still worth keeping
                log.warning("%s: no mixing numbers (%r)", name, error, exc_info=True)

    run_files.write_atomic(out / NUMBERS, lambda tmp: tmp.write_text(json.dumps(numbers, indent=2) + "\n"))
    model.train(was_training)
    return pngs, numbers


def no_mixing_reason(data: ImageData, jumps: int) -> str | None:
    """Why mixing numbers would mean nothing for this data, or None where they mean something."""
    if data.train_labels is None:
        return f"{data.name} has no labels, so no classes to count"
    if data.num_classes < MIN_CLASSES:
        return f"{data.name} has {data.num_classes} classes, fewer than {MIN_CLASSES}"
    if jumps < 2:
        return "one jump has no class changes to count"
    return None


def chain_mixing(
    jumps: torch.Tensor,
    data: ImageData,
    name: str,
    delta: float,
    steps_per_jump: int,
    classifier_epochs: int,
    cache_dir: str,
    device: torch.device,
) -> dict[str, Any]:
    """{"mixing": numbers} of walk-jump chains, jumps of shape (J, chains, C, H, W), from a classifier's labels;
    {"mixing_skipped": why} where the classifier is not good enough to count classes with."""
    num_jumps, chains = jumps.shape[:2]
    judge = load_or_train_classifier(data, cache_dir, classifier_epochs, device)
    if judge.test_accuracy < MIN_ACCURACY:
        why = f"the classifier reached {100 * judge.test_accuracy:.1f}% test accuracy, below {100 * MIN_ACCURACY:.0f}%"
        log.info("%s: no mixing numbers: %s", name, why)
        return {"mixing_skipped": why}
    # The classifier saw images in [0, 1]; a jump can overshoot slightly, so it is shown the clipped image.
    labels = classify(judge.model, jumps.flatten(0, 1).clamp(0, 1)).view(num_jumps, chains).cpu()
    per_chain = [mixing_numbers(labels[:, c].tolist(), judge.num_classes) for c in range(chains)]
    mixing = {
        "classifier_test_accuracy": judge.test_accuracy,
        "num_classes": judge.num_classes,
        "delta": delta,
        "steps_per_jump": steps_per_jump,
        "mean_num_classes_visited": sum(c["num_classes_visited"] for c in per_chain) / chains,
        "mean_class_changes_per_100_jumps": sum(c["class_changes_per_100_jumps"] for c in per_chain) / chains,
        "chains_that_saw_all_classes": sum(c["jump_all_classes_seen"] is not None for c in per_chain),
        "chains": per_chain,
    }
    first = per_chain[0]
    all_seen = first["jump_all_classes_seen"]
    when = f"all {judge.num_classes} seen by jump {all_seen}" if all_seen is not None else f"not all {judge.num_classes} seen in {num_jumps} jumps"
    print(
        f"{name}: walk-jump chain 0 visited {first['num_classes_visited']} of {judge.num_classes} classes "
        f"({when}), {first['class_changes_per_100_jumps']:.1f} class changes per 100 jumps; over {chains} chains: "
        f"{mixing['mean_num_classes_visited']:.2f} classes, {mixing['mean_class_changes_per_100_jumps']:.1f} changes "
        f"per 100 jumps (classifier test accuracy {100 * judge.test_accuracy:.2f}%)"
    )
    return {"mixing": mixing}


def trained_for(summary: Mapping[str, Any] | None) -> str:
    """How far the model of the figures was trained, for their titles: "step 469, test loss 25.85"."""
    if not summary or summary.get("steps_done") is None:
        return ""
    loss = summary.get("test_loss")
    return f"step {summary['steps_done']}" + (f", test loss {loss:.4g}" if isinstance(loss, int | float) else "")


def figures_after_training(
    run_dir: Path, model: EnergyModel, data: ImageData, name: str, settings: Mapping[str, Any], logger: Any, step: int, trained: str = ""
) -> None:
    """The end-of-training hook of uvb-train: figures into the run folder and to the tracker; a failure only warns."""
    try:
        options = {key: value for key, value in settings.items() if key != "after_training"}
        pngs, numbers = make_figures(run_dir / FIGURES, model, data, name=name, trained=trained, **options)
        logger.log_images({f"figures/{key}": path for key, path in pngs.items()}, step=step)
        scalars = {f"figures/{key}": value for key, value in numbers.get("mixing", {}).items() if key.startswith("mean_")}
        if "x_hat_max_abs_diff_1_vs_K" in numbers:
            scalars["figures/x_hat_max_abs_diff_1_vs_K"] = numbers["x_hat_max_abs_diff_1_vs_K"]
        logger.log(scalars, step=step)
    except Exception as error:  # noqa: BLE001 - the trained model and its files matter more than its pictures
        log.warning("figures failed (%r); the run is complete, retry with: uvb-figures %s", error, run_dir, exc_info=True)


def run_config(run_dir: Path) -> DictConfig:
    """The run's config as uvb-train last ran it, every interpolation resolved (run_files.write_config)."""
    path = run_dir / run_files.CONFIG
    if not path.is_file():
        raise FiguresError(f"{run_dir} is not a uvb-train run folder: {path} is missing")
    return OmegaConf.load(path)


def load_run(run_dir: Path, device: torch.device, trusted: tuple[str, ...] = TRUSTED_TARGETS) -> Run:
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
    settings = OmegaConf.to_container(cfg.figures, resolve=True) if "figures" in cfg else {}
    settings.pop("after_training", None)
    return Run(str(cfg.run.name), model, data, settings)


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
        pngs, _ = make_figures(out, run.model, run.data, name=run.name, compare=compare, trained=trained_for(summary), **options)
    except FiguresError as error:
        print(f"uvb-figures: error: {error}", file=sys.stderr)
        return 2
    for path in pngs.values():
        print(path)
    return 0


if __name__ == "__main__":
    sys.exit(main())
