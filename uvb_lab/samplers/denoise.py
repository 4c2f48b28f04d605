"""The empirical Bayes jump from a noisy y to an estimate of the clean x."""

import torch

from uvb_lab.models.energy import EnergyModel
from uvb_lab.models.uvb import UVB
from uvb_lab.samplers.seeding import seeded

# z draws per pass when averaging grad f over many: bounds memory at (chunk * batch) decoder outputs.
Z_CHUNK = 100


# Eq. 2 / 3 (and Eq. 20 as the jump of walk-jump sampling): x_hat(y) = y - sigma^2 grad f(y).
def x_hat(model: EnergyModel, y: torch.Tensor, z_samples: int = 1, seed: int | None = None) -> torch.Tensor:
    """The Bayes estimator of x given y, detached; y is not modified.

    z_samples=K: for a model whose energy draws z ~ q(z|y) (UVB, VAE), grad f is averaged over K draws,
    the expectation over q(z|y) that Fig. 2's caption says one draw approximates well. The K-draw energy
    (reconstruction averaged over the draws, plus the deterministic KL) has exactly that averaged gradient,
    so the draws are batched through the model's own `z_samples`, Z_CHUNK at a time. Models without
    z draws have one deterministic gradient and ignore K.
    """
    if z_samples < 1:
        raise ValueError(f"z_samples must be >= 1, got {z_samples}")
    with seeded(seed, y.device):
        if not isinstance(model, UVB):
            return model.x_hat(y).detach()
        saved = model.z_samples
        score_sum = torch.zeros_like(y)
        try:
            for start in range(0, z_samples, Z_CHUNK):
                model.z_samples = min(Z_CHUNK, z_samples - start)
                score_sum += model.z_samples * model.score(y).detach()  # weight each chunk by its draws
        finally:
            model.z_samples = saved
        return (y + model.sigma**2 * score_sum / z_samples).detach()
