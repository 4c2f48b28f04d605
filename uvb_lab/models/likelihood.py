"""The decoder's noise model p(y|z) of a VAE energy: -log p(target | z) up to a constant, one value per image.

Each likelihood is a class built for one sigma; conf/model/likelihood/ holds one YAML file per class, so a
new noise model is a new class here and a YAML file there (uvb-train model=uvb model/likelihood=laplace).
"""

import math

import torch


class GaussianLikelihood:
    """p(y|z) = N(mu_y(z), sigma^2 I), Eq. 6: the noise model that matches y = x + sigma eps."""

    name = "gaussian"

    def __init__(self, sigma: float):
        self.sigma = float(sigma)

    def negative_log(self, target: torch.Tensor, mean: torch.Tensor) -> torch.Tensor:
        """||target - mean||^2 / (2 sigma^2), summed over channels and pixels (any leading dims kept)."""
        return (target - mean).flatten(-3).pow(2).sum(-1) / (2 * self.sigma**2)


class LaplaceLikelihood:
    """p(y|z) = Laplace(mu_y(z), b), Remark 4's deliberately wrong noise model for Gaussian noise.

    scale=None gives b = sigma / sqrt(2), the scale whose variance 2 b^2 equals sigma^2 (the paper does not give b).
    """

    name = "laplace"

    def __init__(self, sigma: float, scale: float | None = None):
        if scale is not None and not scale > 0:
            raise ValueError(f"the Laplace scale must be > 0, got {scale}")
        self.scale = float(sigma) / math.sqrt(2) if scale is None else float(scale)

    def negative_log(self, target: torch.Tensor, mean: torch.Tensor) -> torch.Tensor:
        """||target - mean||_1 / b, summed over channels and pixels (any leading dims kept)."""
        return (target - mean).flatten(-3).abs().sum(-1) / self.scale
