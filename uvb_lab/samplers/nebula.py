"""Gradient descent on the learned energy towards its attractors (Saremi & Hyvarinen 2019; Sec. 3.3.1)."""

import torch

from uvb_lab.models.score import ScoreModel
from uvb_lab.samplers.jump import jump
from uvb_lab.samplers.seeding import seeded


# Sec. 3.3.1, "poor man's NEBULA": y <- y - sigma^2 grad f(y), n times; one step is x_hat(y) (Eq. 3).
def nebula(model: ScoreModel, y: torch.Tensor, steps: int = 2, seed: int | None = None) -> torch.Tensor:
    """x_hat applied `steps` times (the paper: 2 steps, x_hat(x_hat(y)), Fig. 2d)."""
    if steps < 1:
        raise ValueError(f"NEBULA needs steps >= 1, got {steps}")
    with seeded(seed, y.device):
        for _ in range(steps):
            y = jump(model, y)
    return y
