"""The paper's figures of one trained model, drawn into a folder (the CLI is uvb_lab/figures/cli.py).

    fig2_denoising.png   x, y (noise fixed), x_hat(y), NEBULA x_hat(x_hat(y)), [the other run's x_hat(y)]   (Fig. 2)
    fig3_walk_jump.png   one walk-jump chain, a jump after every k Langevin steps, left to right, top to bottom (Fig. 3)
    fig4_decoder.png     decoder samples mu_y(z), z ~ N(0, I)  (models with a decoder: UVB, VAE; Fig. 4)
    vae_failure.png      x, y, mu_y(z ~ q(z|y)), decoder samples (models with a decoder; Sec. 3.3.2)
    numbers.json         max |x_hat with 1 z draw - x_hat with K draws| (Fig. 2 caption: <= 0.0068), and the
                         mixing numbers of the walk-jump chains labelled by a cached classifier (uvb_lab/figures/mixing.py)
"""

import json
import logging
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import torch

from uvb_lab import ranges
from uvb_lab.data.images import ImageData
from uvb_lab.figures.image_grid import save_grid
from uvb_lab.figures.mixing import chain_mixing, no_mixing_reason
from uvb_lab.models.score import ScoreModel
from uvb_lab.run import files as run_files
from uvb_lab.samplers import decoder_samples, jump, nebula, walk_jump
from uvb_lab.samplers.seeding import seeded

log = logging.getLogger(__name__)

FIGURES = "figures"  # the folder inside a run folder
NUMBERS = "numbers.json"


class FiguresError(ValueError):
    """A run folder (or an option) the figures cannot be made from."""


def make_figures(
    out: Path,
    model: ScoreModel,
    data: ImageData,
    settings: Mapping[str, Any],
    name: str = "",
    compare: tuple[str, ScoreModel] | None = None,
    trained: str = "",
) -> tuple[dict[str, Path], dict[str, Any]]:
    """Write the figures of `model` into the folder out; returns {figure name: PNG path} and the numbers.

    settings: conf/config.yaml's `figures:` section (its keys, meanings and units; after_training is ignored).
    compare: (name, model) of another run on the same data and sigma, whose x_hat(y) is Fig. 2's last row.
    trained: how far the model was trained, for the titles (after_training.trained_for).
    The files replace out's earlier ones together once all are drawn: a failure on the way (a full disk) leaves the
    earlier set as it was, never half of each.
    """
    if found := ranges.problems(settings, "figures"):  # uvb-train's ranges, for a caller that did not check them
        raise FiguresError("; ".join(found))
    with run_files.written_together(Path(out)) as staging:
        pngs, numbers = _draw(staging, model, data, settings, name, compare, trained)
    return {key: Path(out) / path.name for key, path in pngs.items()}, numbers


def _draw(
    out: Path, model: ScoreModel, data: ImageData, settings: Mapping[str, Any], name: str, compare: tuple[str, ScoreModel] | None, trained: str
) -> tuple[dict[str, Path], dict[str, Any]]:
    """make_figures' drawing, into the folder out."""
    images, prior_samples, nebula_steps, z_samples = (settings[k] for k in ("images", "prior_samples", "nebula_steps", "z_samples"))
    delta, steps_per_jump, jumps, chains, seed = (settings[k] for k in ("delta", "steps_per_jump", "jumps", "chains", "seed"))
    friction = settings["friction"] if settings["sampler"] == "underdamped" else None  # None: Eq. 19, the paper's walk
    device = next(model.parameters()).device
    was_training = model.training
    model.eval()
    if compare is not None:
        compare[1].eval()
    pngs: dict[str, Path] = {}
    numbers: dict[str, Any] = {"run": name, "sigma": model.sigma, "seed": seed, "sampler": settings["sampler"]}
    if settings["sampler"] == "underdamped":
        numbers["friction"] = settings["friction"]
    title = f"{name}  sigma={model.sigma:g}" + (f"  ({trained})" if trained else "")

    # -- Fig. 2: test images, noise drawn once from the seed and held fixed for every row.
    x = data.test[:images].to(device)
    with seeded(seed, device):
        y = x + model.sigma * torch.randn_like(x)
    denoised = jump(model, y, 1, seed=seed)
    rows = [("x", x), ("y", y), ("x_hat(y)", denoised), (f"NEBULA {nebula_steps} steps", nebula(model, y, nebula_steps, seed=seed))]
    if compare is not None:
        rows.append((f"{compare[0]} x_hat(y)", jump(compare[1], y, seed=seed)))
    pngs["fig2_denoising"] = save_grid(out / "fig2_denoising.png", rows, title)

    if model.has_decoder:
        # -- Fig. 2 caption: how much averaging grad f over K draws z ~ q(z|y) changes x_hat (the paper: <= 0.0068).
        difference = (denoised - jump(model, y, z_samples, seed=seed + 1)).abs().max().item()
        numbers.update(x_hat_max_abs_diff_1_vs_K=difference, K=z_samples)
        print(f"{name}: max |x_hat(y) with 1 z draw - with K={z_samples}| over {images} test images = {difference:.4g}")

        # -- Fig. 4 and Sec. 3.3.2: the decoder on prior samples, and on samples of the posterior of y.
        samples = decoder_samples(model, prior_samples, seed=seed)
        pngs["fig4_decoder"] = save_grid(out / "fig4_decoder.png", [("mu_y(z), z~N(0,I)", samples)], title, columns=images)
        with seeded(seed, device), torch.no_grad():
            mu_y = model.decode(model.posterior_sample(y)[0])
        rows = [("x", x), ("y", y), ("mu_y(z~q(z|y))", mu_y), ("mu_y(z~N(0,I))", samples[:images])]
        pngs["vae_failure"] = save_grid(out / "vae_failure.png", rows, title)

    # -- Fig. 3: walk-jump chains from Unif[0,1]^d, no warm-up; chain 0 is drawn.
    chain = walk_jump(model, data.shape, chains=chains, jumps=jumps, steps_per_jump=steps_per_jump, delta=delta, seed=seed, device=device,
                      friction=friction)
    rows = [(f"jumps {i + 1}-{min(i + images, jumps)}", chain.jumps[i : i + images, 0]) for i in range(0, jumps, images)]
    walk_title = f"{title}  walk-jump: delta={delta:g}, a jump every {steps_per_jump} steps"
    if friction is not None:
        walk_title += f", underdamped (friction {friction:g})"
    pngs["fig3_walk_jump"] = save_grid(out / "fig3_walk_jump.png", rows, walk_title)

    # -- Beyond the paper: label every jump sample with a classifier and count the classes each chain visits.
    if settings["mixing"]:
        if why_not := no_mixing_reason(data, jumps):
            numbers["mixing_skipped"] = why_not
            log.info("%s: no mixing numbers: %s", name, why_not)
        else:
            try:
                numbers.update(chain_mixing(
                    chain.jumps, data, name, delta, steps_per_jump, settings["classifier_epochs"], settings["cache_dir"], device
                ))
            except Exception as error:  # noqa: BLE001 - the figures and the other numbers are still worth keeping
                log.warning("%s: no mixing numbers (%r)", name, error, exc_info=True)

    (out / NUMBERS).write_text(json.dumps(numbers, indent=2) + "\n")
    model.train(was_training)
    return pngs, numbers
