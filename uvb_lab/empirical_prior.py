"""The training set's Bayes denoiser (the "training-set prior"): the exact posterior mean when the prior is the
training split itself, N point masses of equal weight at the training images x_1..x_N. With y = x + sigma eps (Eq. 1),
Bayes' rule gives

    x_hat(y) = sum_i w_i(y) x_i,    w(y) = softmax_i(-||y - x_i||^2 / (2 sigma^2)).

It is what a model that memorised its training set would denoise with: as sigma -> 0 it returns the training image
nearest y, so on unseen images it cannot do better than a nearest neighbour, while at large sigma it averages many
training images and is hard to beat. Where a learned model's test loss falls below it, the model generalises past its
training set; the sigma at which that happens is the finding. On data whose distribution is known (data=gmm) it is
a denoiser like any other, above the exact Bayes risk by as much as N samples fall short of the true prior.

Its prior is exactly the images the model trains on: the training split less the validation split where
data.val_fraction holds one out (the caller passes the training images). What a run records (summary.json,
test_empirical_prior_loss and val_empirical_prior_loss) is its measured loss ||x - x_hat(y)||^2 (summed over pixels,
mean over images: uvb_lab/loss.py's scale) on the very noisy images the models are scored on
(uvb_lab/paired_noise.py), so it is paired with them, as the linear (Wiener) row is (uvb_lab/linear_baseline.py).

Computed exactly, in float64 and by a running log-sum-exp over chunks of training images (so MNIST's 54,000 x 10,000
pairs never exist at once), once per (training images, split images, sigma, eval seed, split), then kept in this
process and under the cache folder (uvb_lab/number_cache.py). Its time on MNIST: docs/performance.md.
"""

import logging
import time
from pathlib import Path

import torch

from uvb_lab.linear_baseline import compute_device, content_digest
from uvb_lab.number_cache import cached_number, key_of
from uvb_lab.paired_noise import noisy

log = logging.getLogger(__name__)

_LOSSES: dict[str, float] = {}  # by key, in this process
CACHE_FOLDER = "empirical_prior"  # under the cache folder: one <key digest>.json per loss
# Training images per chunk, and noisy images per block of a chunk: a block's logits are 1024 x 4096 float64 (32 MB),
# so the working set is a few hundred MB at most (with the noisy images and their running sums, 10,000 x 784 float64
# each on MNIST), while each product is still large enough to run near the matmul's peak.
TRAIN_CHUNK = 4096
NOISY_BLOCK = 1024


def posterior_mean(train: torch.Tensor, y: torch.Tensor, sigma: float) -> torch.Tensor:
    """x_hat(y) = sum_i softmax_i(-||y - x_i||^2 / (2 sigma^2)) x_i for every noisy image of y (B, C, H, W), float64.

    ||y - x_i||^2 = ||y||^2 - 2 y.x_i + ||x_i||^2, and ||y||^2 is the same for every x_i, so the softmax of
    (y.x_i - ||x_i||^2 / 2) / sigma^2 is the same: no large ||y||^2 is subtracted, and the terms left are of the
    order of ||x_i||^2 (about 100 on MNIST). float64 rounds them to ~1e-14 relative, ~1e-11 absolute after the
    division by sigma^2 = 0.09 at sigma 0.3: every weight is exact to far better than 1e-6. float32 would round the
    logits to ~1e-3 there, a 0.1% error in the weights.

    The softmax runs over chunks of training images as a running log-sum-exp: per noisy image, the largest logit so
    far (m), sum_i exp(logit_i - m) and sum_i exp(logit_i - m) x_i, rescaled by exp(m_old - m_new) when m grows.
    """
    device = compute_device(y)
    flat_y = y.detach().to(device, torch.float64).flatten(1)
    n = len(flat_y)
    largest = torch.full((n,), -torch.inf, dtype=torch.float64, device=device)
    normaliser = torch.zeros(n, dtype=torch.float64, device=device)
    weighted = torch.zeros_like(flat_y)
    for start in range(0, len(train), TRAIN_CHUNK):
        x = train[start:start + TRAIN_CHUNK].detach().to(device, torch.float64).flatten(1)
        half_norms = x.pow(2).sum(1) / 2
        for block in range(0, n, NOISY_BLOCK):
            rows = slice(block, block + NOISY_BLOCK)
            logits = (flat_y[rows] @ x.T).sub_(half_norms).div_(sigma**2)  # in place: one block-sized buffer
            new_largest = torch.maximum(largest[rows], logits.amax(1))
            rescale = torch.exp(largest[rows] - new_largest)  # 0 for the first chunk (exp(-inf))
            weights = logits.sub_(new_largest[:, None]).exp_()
            normaliser[rows] = normaliser[rows] * rescale + weights.sum(1)
            weighted[rows] = weighted[rows] * rescale[:, None] + weights @ x
            largest[rows] = new_largest
    return (weighted / normaliser[:, None]).reshape(y.shape)


def measured_loss(train: torch.Tensor, x: torch.Tensor, y: torch.Tensor, sigma: float) -> float:
    """Mean over images of ||x - x_hat(y)||^2, x_hat the training set's posterior mean, in float64."""
    x_hat = posterior_mean(train, y, sigma)
    return (x.detach().to(x_hat.device, torch.float64) - x_hat).flatten(1).pow(2).sum(1).mean().item()


def empirical_prior_loss(train: torch.Tensor, x: torch.Tensor, sigma: float, seed: int, split: str,
                         cache_dir: str | Path | None = None) -> float:
    """The training set's Bayes denoiser, scored on x's paired noisy images y = x + sigma eps (seed, split), as the
    models are; computed once per (train, x, sigma, seed, split), then read from memory or the cache folder."""
    train_digest = content_digest(train)
    key = key_of("training-set prior", train_digest, content_digest(x), float(sigma), int(seed), split)

    def compute() -> float:
        started = time.perf_counter()
        loss = measured_loss(train, x, noisy(x, sigma, seed, split), sigma)  # noisy: float32, as the evaluation adds it
        log.info("training-set prior on the %d %s images at sigma %g: %.4f (%d training images, %.1f s)",
                 len(x), split, sigma, loss, len(train), time.perf_counter() - started)
        return loss

    return cached_number(_LOSSES, key, compute, cache_dir, CACHE_FOLDER, "training-set prior's loss",
                         sigma=float(sigma), seed=int(seed), split=split, train_digest=train_digest)
