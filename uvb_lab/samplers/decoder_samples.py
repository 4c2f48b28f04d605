"""Samples of a VAE-type model's generative side: its decoder fed with the prior (Fig. 4)."""

import torch

from uvb_lab.models.uvb import UVB
from uvb_lab.samplers.seeding import seeded


# Fig. 4 / Sec. 3.5: mu_y(z) with z ~ p(z) = N(0, I_{d_z}) (the decoder mean, no pixel noise added).
def decoder_samples(model: UVB, n: int, seed: int | None = None) -> torch.Tensor:
    """n decoder means, (n, C, H, W) in [0, 1], without gradients."""
    if not isinstance(model, UVB):
        raise TypeError(f"decoder samples need a model with a decoder (UVB or VAE), got {type(model).__name__}")
    if n < 1:
        raise ValueError(f"n must be >= 1, got {n}")
    device = next(model.parameters()).device
    with seeded(seed, device), torch.no_grad():
        z = torch.randn(n, model.latent_dim, device=device)
        return model.decode(z)
