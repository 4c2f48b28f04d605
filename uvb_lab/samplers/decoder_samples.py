"""Samples of a VAE-type model's generative side: its decoder fed with the prior (Fig. 4)."""

import torch

from uvb_lab.models.score import ScoreModel
from uvb_lab.samplers.seeding import seeded


# Fig. 4 / Sec. 3.5: mu_y(z) with z ~ p(z) = N(0, I_{d_z}) (the decoder mean, no pixel noise added).
def decoder_samples(model: ScoreModel, n: int, seed: int | None = None) -> torch.Tensor:
    """n decoder means, (n, C, H, W) in [0, 1], without gradients."""
    if not model.has_decoder:
        raise TypeError(f"decoder samples need a model with a decoder (UVB, VAE, sigma-VAE), got {type(model).__name__}")
    if n < 1:
        raise ValueError(f"n must be >= 1, got {n}")
    device = next(model.parameters()).device
    with seeded(seed, device), torch.no_grad():
        return model.decode(model.prior_sample(n))
