"""The empirical Bayes jump from a noisy y to an estimate of the clean x: x_hat(y) for samplers and figures."""

import torch

from uvb_lab.models.score import ScoreModel
from uvb_lab.samplers.seeding import seeded

# z draws per pass when averaging grad f over many: bounds memory at (chunk * batch) decoder outputs.
Z_CHUNK = 100


# Eq. 2 / 3 (and Eq. 20 as the jump of walk-jump sampling): x_hat(y) = y - sigma^2 grad f(y).
def jump(model: ScoreModel, y: torch.Tensor, z_samples: int = 1, seed: int | None = None) -> torch.Tensor:
    """The Bayes estimator of x given y, detached, from z_samples draws; y is not modified.

    EnergyModel.x_hat made fit for sampling: seeded, detached, and for any number of draws (the jump of
    walk-jump sampling, Eq. 20; NEBULA's step; Fig. 2's x_hat(y)).
    z_samples=K: for a model whose energy draws z ~ q(z|y) (UVB, VAE), grad f is averaged over K draws,
    the expectation over q(z|y) that Fig. 2's caption says one draw approximates well. The K-draw energy
    (reconstruction averaged over the draws, plus the deterministic KL) has exactly that averaged gradient,
    so the draws go through the model's energy Z_CHUNK at a time. A deterministic energy gives the same
    gradient for any K and is evaluated once.
    """
    if z_samples < 1:
        raise ValueError(f"z_samples must be >= 1, got {z_samples}")
    with seeded(seed, y.device):
        if z_samples == 1:
            return model.x_hat(y, z_samples=1).detach()
        score_sum = torch.zeros_like(y)
        for start in range(0, z_samples, Z_CHUNK):
            draws = min(Z_CHUNK, z_samples - start)
            score_sum += draws * model.score(y, z_samples=draws).detach()  # weight each chunk by its draws
        return (y + model.sigma**2 * score_sum / z_samples).detach()
