"""A Gaussian mixture of images: the one dataset whose best possible denoiser is known exactly.

For x ~ sum_k pi_k N(m_k, C_k) and y = x + sigma eps, the noisy data of component k is N(m_k, C_k + sigma^2 I), so the
posterior mean E[x | y] has a closed form and its risk E||x - E[x | y]||^2 (the Bayes risk) is the lowest
denoising loss any model can reach (docs/reproduction.md). A run on this data can therefore say how far its
model is from optimal, not just how it ranks against other models. The linear (Wiener) denoiser's risk, also
exact, tells how much of that gap needs a non-linear model: the mixture is multimodal, so the best denoiser is
not linear, unlike on the single Gaussian of uvb_lab/data/synthetic.py.

The means are blocky grey patterns with pixels in [0.5 - spread, 0.5 + spread]; with a small s nearly every
pixel lies in [0, 1] like an image's, but nothing is clipped or quantised, so the formulas hold exactly.

Each component's covariance is C_k = s^2 I (component_rank 0: isotropic, the shape of UVB's Gaussian decoder), or with
component_rank R > 0, C_k = s^2 I + U_k U_k^T: the images of a component also vary along R smooth random patterns of
their own (the columns of U_k, d x R, each of norm component_scale), so no component is a blob of UVB's shape. The
posterior stays exact: per component, y ~ N(m_k, s^2 I + sigma^2 I + U_k U_k^T), inverted through the R x R matrix
M_k = (s^2 + sigma^2) I + U_k^T U_k (Woodbury), in float64.
"""

import hashlib
import math
from dataclasses import dataclass
from typing import NamedTuple

import torch

from uvb_lab.data.images import DataError, ImageData, check_shape
from uvb_lab.data.validation import hold_out

# Side in pixels of the square blocks of constant grey that make up each mean m_k.
BLOCK = 2
# Standard deviation in pixels of the Gaussian blur that turns white noise into a component's smooth patterns U_k.
PATTERN_BLUR = 2.0

# Monte Carlo Bayes risks already estimated in this process, by (mixture fingerprint, sigma, n, seed): a sweep's
# runs at one sigma (seeds, models) share one estimate instead of paying its seconds at every run start.
_MONTE_CARLO_RISKS: dict[tuple[str, float, int, int], tuple[float, float]] = {}


@dataclass(frozen=True)
class GaussianMixture:
    """x ~ sum_k weights[k] N(means[k], std^2 I + factors[k] factors[k]^T), images of shape `shape` (C, H, W)."""

    weights: torch.Tensor  # (K,) float64, sums to 1
    means: torch.Tensor  # (K, d) float64, d = C * H * W
    std: float  # s, pixel units
    shape: tuple[int, int, int]
    factors: torch.Tensor | None = None  # (K, d, R) float64: U_k, R > 0 patterns per component; None: C_k = std^2 I

    def __post_init__(self):
        k, d = len(self.weights), math.prod(self.shape)
        if self.weights.shape != (k,) or self.means.shape != (k, d):
            raise ValueError(
                f"weights must be (K,) and means (K, {d}) for images {self.shape}, "
                f"got {tuple(self.weights.shape)} and {tuple(self.means.shape)}"
            )
        if self.factors is not None and (self.factors.dim() != 3 or self.factors.shape[:2] != (k, d) or self.factors.shape[2] < 1):
            raise ValueError(f"factors must be (K, {d}, R) with R >= 1 (None for none), got {tuple(self.factors.shape)}")

    @property
    def dim(self) -> int:
        return self.means.shape[1]

    @property
    def rank(self) -> int:
        """R, the patterns each component varies along beyond its isotropic s^2 I."""
        return 0 if self.factors is None else self.factors.shape[2]

    def sample(self, n: int, generator: torch.Generator) -> tuple[torch.Tensor, torch.Tensor]:
        """n images (n, C, H, W) float64 and the index (n,) of the component each was drawn from."""
        component = torch.multinomial(self.weights, n, replacement=True, generator=generator)
        noise = torch.randn(n, self.dim, generator=generator, dtype=torch.float64)
        x = self.means[component] + self.std * noise
        if self.factors is not None:  # drawn only here, so that a mixture of rank 0 draws what it always drew
            z = torch.randn(n, self.rank, generator=generator, dtype=torch.float64)
            for k, factor in enumerate(self.factors):
                chosen = component == k
                x[chosen] += z[chosen] @ factor.T  # U_k z, z ~ N(0, I_R)
        return x.reshape(n, *self.shape), component

    def posterior_weights(self, y: torch.Tensor, sigma: float) -> torch.Tensor:
        """w_k(y) = p(k | y) for a batch y (B, C, H, W): (B, K) float64."""
        return self._posterior(y, sigma)[0]

    def posterior_mean(self, y: torch.Tensor, sigma: float) -> torch.Tensor:
        """E[x | y] for a batch y (B, C, H, W), in y's dtype (computed in float64)."""
        shrink = self.std**2 / (self.std**2 + sigma**2)
        flat = y.reshape(len(y), -1).to(torch.float64)
        weights, solved = self._posterior(y, sigma)
        # sum_k w_k (m_k + shrink (y - m_k)) with sum_k w_k = 1.
        mean = shrink * flat + (1 - shrink) * (weights @ self.means.to(flat.device))
        if self.factors is not None:
            # Each component's m_k + C_k (C_k + sigma^2 I)^-1 (y - m_k) = y - sigma^2 (C_k + sigma^2 I)^-1 (y - m_k), with
            # (C_k + sigma^2 I)^-1 = (I - U_k M_k^-1 U_k^T) / v, v = s^2 + sigma^2 (Woodbury): the isotropic part above,
            # plus sigma^2 / v U_k M_k^-1 U_k^T (y - m_k), weighted by w_k.
            factors = self.factors.to(flat.device)
            along = (weights[:, :, None] * solved).flatten(1) @ factors.transpose(1, 2).flatten(0, 1)  # sum_k w_k U_k a_k
            mean = mean + sigma**2 / (self.std**2 + sigma**2) * along
        return mean.reshape(y.shape).to(y.dtype)

    def _posterior(self, y: torch.Tensor, sigma: float) -> tuple[torch.Tensor, torch.Tensor | None]:
        """w_k(y), (B, K), and for R > 0 the coefficients a_k = M_k^-1 U_k^T (y - m_k), (B, K, R); float64."""
        variance = self.std**2 + sigma**2
        flat = y.reshape(len(y), -1).to(torch.float64)
        means, weights = self.means.to(flat.device), self.weights.to(flat.device)
        # log pi_k + log N(y; m_k, variance I) up to terms common to every k (||y||^2 and the normaliser),
        # which the softmax cancels; dropping ||y||^2 avoids the cancellation of a large y in the expanded square.
        logits = weights.log() + (flat @ means.T - 0.5 * (means**2).sum(1)) / variance
        if self.factors is None:
            return torch.softmax(logits, dim=1), None
        # N(y; m_k, v I + U_k U_k^T): the quadratic form loses r_k^T M_k^-1 r_k / v, r_k = U_k^T (y - m_k), and the
        # log-determinant gains log det(M_k / v), with M_k = v I_R + U_k^T U_k (the R x R capacitance matrix).
        factors = self.factors.to(flat.device)
        capacitance = variance * torch.eye(self.rank, dtype=torch.float64, device=flat.device) + factors.transpose(1, 2) @ factors
        cholesky = torch.linalg.cholesky(capacitance)  # (K, R, R)
        residual = torch.einsum("bd,kdr->kbr", flat, factors) - torch.einsum("kd,kdr->kr", means, factors)[:, None]  # (K, B, R)
        solved = torch.cholesky_solve(residual.transpose(1, 2), cholesky).transpose(1, 2)  # M_k^-1 r_k, (K, B, R)
        log_det = 2 * cholesky.diagonal(dim1=1, dim2=2).log().sum(1) - self.rank * math.log(variance)  # log det(M_k / v)
        logits = logits + 0.5 * (residual * solved).sum(2).T / variance - 0.5 * log_det
        return torch.softmax(logits, dim=1), solved.transpose(0, 1)

    def bayes_risk_monte_carlo(self, sigma: float, n: int = 100_000, seed: int = 0) -> tuple[float, float]:
        """E||x - E[x | y]||^2 (summed over pixels) by n fresh draws of x and y: (mean, standard error).

        Deterministic in (mixture, sigma, n, seed), so it is computed once per process for each."""
        key = (self.fingerprint(), float(sigma), n, seed)
        if key not in _MONTE_CARLO_RISKS:
            generator = torch.Generator().manual_seed(seed)
            losses = []
            for size in chunk_sizes(n, 10_000):  # bounded memory for any n
                x, _ = self.sample(size, generator)
                y = x + sigma * torch.randn(x.shape, generator=generator, dtype=torch.float64)
                losses.append(bayes_risk(self, x, y, sigma))
            losses = torch.cat(losses)
            _MONTE_CARLO_RISKS[key] = losses.mean().item(), (losses.std() / math.sqrt(n)).item()
        return _MONTE_CARLO_RISKS[key]

    def fingerprint(self) -> str:
        """A digest of the mixture's numbers: equal for mixtures rebuilt from the same arguments."""
        digest = hashlib.sha256(repr((self.std, self.shape)).encode())
        for tensor in (self.weights, self.means, *(() if self.factors is None else (self.factors,))):
            digest.update(tensor.detach().cpu().contiguous().numpy().tobytes())
        return digest.hexdigest()

    def linear_risk(self, sigma: float) -> float:
        """E||x - x_hat(y)||^2 of the best affine denoiser x_hat(y) = mu + A (y - mu), exactly.

        With Sigma_x = s^2 I + sum_k pi_k (U_k U_k^T + (m_k - mu)(m_k - mu)^T) and eigenvalues lambda_i of Sigma_x, the
        risk of A = Sigma_x (Sigma_x + sigma^2 I)^-1 is sum_i lambda_i sigma^2 / (lambda_i + sigma^2).
        """
        rows = (self.means - self.weights @ self.means) * self.weights.sqrt()[:, None]
        if self.factors is not None:  # sqrt(pi_k) U_k^T: K R more rows
            rows = torch.cat([rows, (self.factors * self.weights.sqrt()[:, None, None]).transpose(1, 2).flatten(0, 1)])
        # Sigma_x - s^2 I = rows^T rows has rank <= len(rows): its non-zero eigenvalues are those of the Gram matrix.
        between = torch.linalg.eigvalsh(rows @ rows.T).clamp(min=0)
        between = torch.cat([between, between.new_zeros(max(self.dim - len(between), 0))])[-self.dim :]
        eigenvalues = self.std**2 + between
        return (eigenvalues * sigma**2 / (eigenvalues + sigma**2)).sum().item()

    def known_component_risk(self, sigma: float) -> float:
        """The Bayes risk if the component k were known as well as y: sum_k pi_k tr(C_k - C_k (C_k + sigma^2 I)^-1 C_k),
        d s^2 sigma^2 / (s^2 + sigma^2) for isotropic components; a floor under the Bayes risk."""
        isotropic = self.std**2 * sigma**2 / (self.std**2 + sigma**2)
        if self.factors is None:
            return self.dim * isotropic
        # C_k's eigenvalues: s^2 + those of U_k^T U_k (R of them), s^2 for the other d - R.
        eigenvalues = self.std**2 + torch.linalg.eigvalsh(self.factors.transpose(1, 2) @ self.factors).clamp(min=0)
        along = (eigenvalues * sigma**2 / (eigenvalues + sigma**2)).sum(1)
        return (self.weights @ along).item() + (self.dim - self.rank) * isotropic


def bayes_risk(mixture: GaussianMixture, x: torch.Tensor, y: torch.Tensor, sigma: float) -> torch.Tensor:
    """||x - E[x | y]||^2 summed over pixels, per image (B,) float64: the optimal denoiser on these very pairs."""
    error = x.to(torch.float64) - mixture.posterior_mean(y.to(torch.float64), sigma)
    return error.reshape(len(x), -1).pow(2).sum(1)


def chunk_sizes(n: int, chunk: int) -> list[int]:
    return [min(chunk, n - start) for start in range(0, n, chunk)]


def gaussian_mixture(
    *, channels: int, image_size: int, components: int, std: float, spread: float, component_rank: int, component_scale: float, seed: int,
) -> GaussianMixture:
    """The mixture the loader `gmm` samples from, rebuilt from the same arguments (deterministic in them)."""
    arguments = MixtureArguments(channels, image_size, components, std, spread, component_rank, component_scale)
    check_mixture_arguments(arguments)
    return draw_mixture(torch.Generator().manual_seed(seed), arguments)


class MixtureArguments(NamedTuple):
    """The arguments that make a mixture, besides its seed (conf/data/gmm.yaml says what each means)."""

    channels: int
    image_size: int
    components: int
    std: float
    spread: float
    component_rank: int
    component_scale: float


def draw_mixture(generator: torch.Generator, arguments: MixtureArguments) -> GaussianMixture:
    channels, image_size, components = arguments.channels, arguments.image_size, arguments.components
    # Uneven weights, none below a third of the largest, so every component has images to learn from.
    weights = 0.5 + torch.rand(components, generator=generator, dtype=torch.float64)
    cells = math.ceil(image_size / BLOCK)
    grey = 0.5 + arguments.spread * (2 * torch.rand(components, channels, cells, cells, generator=generator, dtype=torch.float64) - 1)
    blocks = grey.repeat_interleave(BLOCK, dim=2).repeat_interleave(BLOCK, dim=3)[:, :, :image_size, :image_size]
    # The patterns are drawn after everything a mixture of rank 0 draws, and only for rank > 0: rank 0 is unchanged.
    factors = smooth_patterns(generator, arguments) if arguments.component_rank > 0 else None
    return GaussianMixture(weights / weights.sum(), blocks.reshape(components, -1), arguments.std, (channels, image_size, image_size), factors)


def smooth_patterns(generator: torch.Generator, arguments: MixtureArguments) -> torch.Tensor:
    """U_k for every component: (K, d, R) float64, each column white noise blurred by a Gaussian of PATTERN_BLUR pixels
    (so its energy is in the low spatial frequencies), scaled to norm component_scale."""
    side = torch.arange(arguments.image_size, dtype=torch.float64)
    blur = torch.exp(-0.5 * ((side[:, None] - side[None, :]) / PATTERN_BLUR) ** 2)  # (H, H), rows and columns alike
    size = (arguments.components, arguments.component_rank, arguments.channels, arguments.image_size, arguments.image_size)
    patterns = (blur @ torch.randn(size, generator=generator, dtype=torch.float64) @ blur).flatten(2)  # (K, R, d)
    patterns = arguments.component_scale * patterns / patterns.norm(dim=2, keepdim=True)
    return patterns.transpose(1, 2).contiguous()


def check_mixture_arguments(arguments: MixtureArguments) -> None:
    channels, image_size, components, std, spread, rank, scale = arguments
    problems = [
        message
        for holds, message in (
            (channels >= 1, f"channels must be >= 1, got {channels}"),
            (image_size >= 2 and image_size % 2 == 0, f"image_size must be even (the means are made of 2x2-pixel blocks), got {image_size}"),
            (components >= 1, f"components must be >= 1, got {components}"),
            (std > 0, f"std must be > 0 (pixel units), got {std}"),
            (0 <= spread <= 0.5, f"spread must be in [0, 0.5] so the means stay in [0, 1], got {spread}"),
            (0 <= rank <= channels * image_size**2, f"component_rank must be in [0, {channels * image_size**2}] (d), got {rank}"),
            (scale > 0, f"component_scale must be > 0 (pixel units), got {scale}"),
        )
        if not holds
    ]
    if problems:
        raise DataError("gmm: " + "; ".join(problems))


def gmm(
    *, n_train: int, n_test: int, channels: int, image_size: int, components: int, std: float, spread: float, component_rank: int,
    component_scale: float, seed: int, val_fraction: float,
) -> ImageData:
    """Images drawn from gaussian_mixture(channels, ..., component_scale, seed); label = component.

    Float32, neither clipped nor quantised (a few pixels fall outside [0, 1]), so the exact risks apply. The values,
    their meanings and units are conf/data/gmm.yaml's (and data.val_fraction conf/config.yaml's): no defaults here.
    """
    if n_train < 1 or n_test < 1:
        raise DataError(f"gmm: n_train and n_test must be >= 1, got {n_train} and {n_test}")
    arguments = MixtureArguments(channels, image_size, components, std, spread, component_rank, component_scale)
    check_mixture_arguments(arguments)
    # One stream from `seed`: the mixture first (so it equals gaussian_mixture(...)), then the test images, so that
    # neither changes with n_train.
    generator = torch.Generator().manual_seed(seed)
    mixture = draw_mixture(generator, arguments)
    test, test_labels = mixture.sample(n_test, generator)
    train, train_labels = mixture.sample(n_train, generator)
    data = ImageData("gmm", train.to(torch.float32), test.to(torch.float32), train_labels, test_labels, ground_truth=mixture)
    return hold_out(check_shape(data, channels, image_size), val_fraction)
