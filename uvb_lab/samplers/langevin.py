"""Overdamped Langevin MCMC on the learned energy of y (Sec. 3.4, step (i))."""

import math

import torch

from uvb_lab.models.score import ScoreModel
from uvb_lab.samplers.seeding import seeded


# Eq. 19: y_{t+1} = y_t - delta^2 grad f(y_t) + sqrt(2) delta eps_t, eps_t ~ N(0, I).
def langevin_walk(
    model: ScoreModel, y: torch.Tensor, delta: float, steps: int, seed: int | None = None
) -> torch.Tensor:
    """`steps` Langevin steps from y (a batch of independent chains), detached; y is not modified.

    delta is the step size in pixel units (Fig. 3: 0.2). Unadjusted (no Metropolis correction), as in
    the paper: on a Gaussian energy of variance s^2 the chain's stationary variance is s^2 / (1 - delta^2 / (2 s^2)).
    """
    if not delta > 0:
        raise ValueError(f"the Langevin step delta must be > 0, got {delta}")
    if steps < 0:
        raise ValueError(f"steps must be >= 0, got {steps}")
    noise_scale = math.sqrt(2) * delta
    with seeded(seed, y.device):
        y = y.detach()
        for _ in range(steps):
            # score = -grad f, so "- delta^2 grad f" is "+ delta^2 score"
            y = y + delta**2 * model.score(y).detach() + noise_scale * torch.randn_like(y)
    return y
