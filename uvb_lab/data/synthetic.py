"""Generated images for tests and quick tries: no files, no download, seconds to train on."""

import math

import torch

from uvb_lab.data.gmm import GaussianMixture
from uvb_lab.data.images import ImageData, check_shape
from uvb_lab.data.validation import hold_out


def shapes(
    n_train: int = 512, n_test: int = 128, channels: int = 1, image_size: int = 16, seed: int = 0, val_fraction: float = 0.0
) -> ImageData:
    """Bright axis-aligned rectangles on a dark background, one per image, in [0, 1]; label = 1 if wide."""
    generator = torch.Generator().manual_seed(seed)
    n = n_train + n_test
    corners = torch.randint(0, image_size // 2, (n, 2), generator=generator)
    sizes = torch.randint(2, image_size // 2 + 1, (n, 2), generator=generator)
    grid = torch.arange(image_size)
    rows = (grid >= corners[:, :1]) & (grid < corners[:, :1] + sizes[:, :1])  # (n, H)
    cols = (grid >= corners[:, 1:]) & (grid < corners[:, 1:] + sizes[:, 1:])  # (n, W)
    mask = (rows[:, :, None] & cols[:, None, :]).float()
    intensity = 0.5 + 0.5 * torch.rand(n, channels, 1, 1, generator=generator)
    images = (mask[:, None] * intensity).clamp(0, 1)
    labels = (sizes[:, 1] > sizes[:, 0]).long()
    data = ImageData("synthetic", images[:n_train], images[n_train:], labels[:n_train], labels[n_train:])
    return hold_out(check_shape(data, channels, image_size), val_fraction)


def gaussian(
    n_train: int = 4096,
    n_test: int = 1024,
    channels: int = 1,
    image_size: int = 8,
    mean: float = 0.5,
    std: float = 0.5,
    seed: int = 0,
    val_fraction: float = 0.0,
) -> ImageData:
    """x ~ N(mean, std^2 I): the one case with a closed-form optimal denoiser, used to check learning.

    For y = x + sigma eps the Bayes estimator is linear and its risk is d std^2 sigma^2 / (std^2 + sigma^2).
    Values are not clipped to [0, 1], so that formula holds exactly.
    """
    generator = torch.Generator().manual_seed(seed)
    images = mean + std * torch.randn(n_train + n_test, channels, image_size, image_size, generator=generator)
    shape = (channels, image_size, image_size)
    exact = GaussianMixture(torch.ones(1, dtype=torch.float64), torch.full((1, math.prod(shape)), float(mean), dtype=torch.float64), std, shape)
    data = ImageData("gaussian", images[:n_train], images[n_train:], ground_truth=exact)  # a mixture of one component
    return hold_out(check_shape(data, channels, image_size), val_fraction)


def optimal_gaussian_risk(dim: int, std: float, sigma: float) -> float:
    """E||x - x_hat(y)||^2 of the Bayes estimator for x ~ N(m, std^2 I_dim), y = x + sigma eps."""
    return dim * std**2 * sigma**2 / (std**2 + sigma**2)
