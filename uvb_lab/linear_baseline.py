"""The best linear denoiser of a dataset (the Wiener filter), the floor every model's test loss should be under.

From the training set's mean m and covariance C = U diag(lambda) U^T (d x d, float64; d = 784 for MNIST, 3072 for
CIFAR-10), the affine denoiser of least expected squared error on data with those two moments is

    x_hat(y) = m + C (C + sigma^2 I)^-1 (y - m) = m + U diag(lambda / (lambda + sigma^2)) U^T (y - m),

so one eigendecomposition per dataset serves every sigma. For x ~ N(m, s^2 I) it is the Bayes estimator itself
(uvb_lab/data/synthetic.py, `gaussian`); for any data a model that denoises worse than it is mis-tuned or unable.

What a run records (summary.json, test_linear_risk and val_linear_risk where a validation split is held out) is
the filter's measured loss ||x - x_hat(y)||^2 (summed over pixels, mean over images: uvb_lab/loss.py's scale) on
the very noisy images the models are scored on (uvb_lab/paired_noise.py), so it is paired with them; the filter
is fitted on the training set only. `expected_risk` is the closed form sum_i lambda_i sigma^2 / (lambda_i +
sigma^2) on the training distribution, for comparison.

Computed once per (training images, test images, sigma, eval seed, split): kept in this process and in a small
JSON file per key under the cache folder (figures.cache_dir, default ~/.cache/uvb-lab), keyed by digests of the
images' content, so no other data can hit it (uvb_lab/number_cache.py). A cache folder that cannot be written only warns.
"""

import hashlib
from dataclasses import dataclass
from pathlib import Path

import torch

from uvb_lab.number_cache import cached_number, key_of
from uvb_lab.paired_noise import noisy

# Spectra kept in this process, by the training images' digest; one dataset or two per process.
_KEEP = 2
_SPECTRA: dict[str, "Spectrum"] = {}
_RISKS: dict[str, float] = {}
CACHE_FOLDER = "linear_baseline"  # under the cache folder: one <key digest>.json per risk


@dataclass(frozen=True)
class Spectrum:
    """The training set's mean m (d,) and covariance C = U diag(lambda) U^T: eigenvalues (d,), eigenvectors U (d, d)."""

    mean: torch.Tensor
    eigenvalues: torch.Tensor
    eigenvectors: torch.Tensor

    def shrinkage(self, sigma: float) -> torch.Tensor:
        """lambda / (lambda + sigma^2): how much of each principal direction of y - m the filter keeps."""
        return self.eigenvalues / (self.eigenvalues + sigma**2)


def content_digest(images: torch.Tensor) -> str:
    """sha256 of the images' shape and float32 bytes: the same for the same data however it was loaded."""
    flat = images.detach().to("cpu", torch.float32).contiguous()
    digest = hashlib.sha256(repr(tuple(flat.shape)).encode())
    digest.update(flat.numpy().tobytes())
    return digest.hexdigest()


def compute_device(images: torch.Tensor) -> torch.device:
    return torch.device("cpu") if images.device.type == "mps" else images.device  # MPS has no float64


def spectrum(train: torch.Tensor, digest: str | None = None) -> Spectrum:
    """The mean and eigendecomposed covariance (1/N, the training set's own) of train (N, C, H, W), in float64."""
    digest = digest or content_digest(train)
    if digest not in _SPECTRA:
        x = train.detach().to(compute_device(train), torch.float64).flatten(1)
        mean = x.mean(0)
        centred = x - mean
        eigenvalues, eigenvectors = torch.linalg.eigh(centred.T @ centred / len(x))
        # A covariance has no negative eigenvalue; eigh's rounding can give -1e-17 for a direction the data lacks.
        _SPECTRA[digest] = Spectrum(mean, eigenvalues.clamp(min=0), eigenvectors)
        while len(_SPECTRA) > _KEEP:
            _SPECTRA.pop(next(iter(_SPECTRA)))
    return _SPECTRA[digest]


def wiener_denoise(spec: Spectrum, y: torch.Tensor, sigma: float) -> torch.Tensor:
    """x_hat(y) = m + U diag(lambda / (lambda + sigma^2)) U^T (y - m) for a batch y (B, C, H, W), in float64."""
    flat = y.to(spec.mean.device, torch.float64).flatten(1) - spec.mean
    x_hat = spec.mean + ((flat @ spec.eigenvectors) * spec.shrinkage(sigma)) @ spec.eigenvectors.T
    return x_hat.reshape(y.shape)


def expected_risk(spec: Spectrum, sigma: float) -> float:
    """E||x - x_hat(y)||^2 of the filter on data with the training set's mean and covariance, in closed form."""
    return (spec.eigenvalues * sigma**2 / (spec.eigenvalues + sigma**2)).sum().item()


def measured_risk(spec: Spectrum, x: torch.Tensor, y: torch.Tensor, sigma: float) -> float:
    """Mean over images of ||x - x_hat(y)||^2; computed in U's basis, where the norm is the same, with one product per set."""
    m, u = spec.mean, spec.eigenvectors
    clean = (x.to(m.device, torch.float64).flatten(1) - m) @ u
    noisy_ = (y.to(m.device, torch.float64).flatten(1) - m) @ u
    return (clean - spec.shrinkage(sigma) * noisy_).pow(2).sum(1).mean().item()


def linear_risk(train: torch.Tensor, x: torch.Tensor, sigma: float, seed: int, split: str, cache_dir: str | Path | None = None) -> float:
    """The Wiener filter of `train`, scored on x's paired noisy images y = x + sigma eps (seed, split), as the models are."""
    train_digest = content_digest(train)
    key = key_of(train_digest, content_digest(x), float(sigma), int(seed), split)

    def compute() -> float:
        y = noisy(x, sigma, seed, split)  # float32, exactly as the evaluation adds the noise
        return measured_risk(spectrum(train, train_digest), x, y, sigma)

    return cached_number(_RISKS, key, compute, cache_dir, CACHE_FOLDER, "linear risk",
                         sigma=float(sigma), seed=int(seed), split=split, train_digest=train_digest)
