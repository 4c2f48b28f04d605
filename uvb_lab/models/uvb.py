"""The UVB energy (Sec. 2.3): the negative ELBO of a VAE of the noisy y, Eq. 17.

    f(y) = E_{q(z|y)} ||y - mu_y(z)||^2 / (2 sigma^2) + KL[q(z|y) || N(0, I)]

The same network is the vanilla VAE when it is trained by maximising the ELBO (Eq. 14) instead of by
denoising (Eq. 18): the model is the energy; what it is trained on is the loss's business.
"""

import math
from collections.abc import Sequence
from typing import Literal, NamedTuple

import torch

from uvb_lab.models.energy import EnergyModel
from uvb_lab.models.networks import check_sizes, conv_mlp, mlp_decoder

DECODERS = ("gaussian", "laplace")


def gaussian_kl(mu: torch.Tensor, log_var: torch.Tensor) -> torch.Tensor:
    """KL[N(mu, exp(log_var)) || N(0, I)] per sample, Eq. 15: -1/2 sum_k (1 + lambda_k - mu_k^2 - exp(lambda_k))."""
    return -0.5 * (1 + log_var - mu.pow(2) - log_var.exp()).sum(dim=1)


class ELBOTerms(NamedTuple):
    """The two terms of the negative ELBO, one value per sample; their sum is the energy."""

    reconstruction: torch.Tensor
    kl: torch.Tensor


class UVB(EnergyModel):
    """A Gaussian-encoder VAE whose negative ELBO is the energy of y (Sec. 3.1.1 architecture).

    decoder="gaussian": p(y|z) = N(mu_y(z), sigma^2 I), Eq. 6. decoder="laplace": the deliberately
    wrong noise model of Remark 4, p(y|z) = Laplace(mu_y(z), b); b defaults to sigma / sqrt(2), the
    scale whose variance 2 b^2 equals sigma^2 (the paper does not give b).
    """

    def __init__(
        self,
        sigma: float,
        channels: int,
        image_size: int,
        conv_channels: Sequence[int] = (32, 64, 128),
        hidden: int = 200,
        latent_dim: int = 100,
        decoder_hidden: int = 2000,
        decoder: Literal["gaussian", "laplace"] = "gaussian",
        laplace_scale: float | None = None,
        z_samples: int = 1,
    ):
        super().__init__(sigma)
        if decoder not in DECODERS:
            raise ValueError(f"model.decoder must be one of {DECODERS}, got {decoder!r}")
        check_sizes(conv_channels=conv_channels, hidden=hidden, latent_dim=latent_dim, decoder_hidden=decoder_hidden)
        if z_samples < 1:
            raise ValueError(f"model.z_samples must be >= 1, got {z_samples}")
        self.decoder_kind = decoder
        self.laplace_scale = sigma / math.sqrt(2) if laplace_scale is None else float(laplace_scale)
        self.z_samples = z_samples
        # Two encoders without weight sharing, one for mu and one for lambda = log sigma_k^2 (Sec. 3.1.1).
        self.encoder_mu = conv_mlp(channels, image_size, conv_channels, hidden, latent_dim)
        self.encoder_log_var = conv_mlp(channels, image_size, conv_channels, hidden, latent_dim)
        self.decoder = mlp_decoder(latent_dim, decoder_hidden, channels, image_size)
        self.latent_dim = latent_dim

    def encode(self, y: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """The factorised Gaussian posterior q(z|y) of Eq. 13, as (mu, lambda = log variance)."""
        return self.encoder_mu(y), self.encoder_log_var(y)

    def decode(self, z: torch.Tensor) -> torch.Tensor:
        """mu_y(z), the decoder mean, an image in [0, 1]."""
        return self.decoder(z)

    def reconstruction_error(self, target: torch.Tensor, mu_y: torch.Tensor) -> torch.Tensor:
        """-log p(target | z) up to a constant, one value per image (any leading dims): the first term of Eq. 17."""
        residual = (target - mu_y).flatten(-3)  # sum over channels and pixels only
        if self.decoder_kind == "laplace":
            return residual.abs().sum(-1) / self.laplace_scale
        return residual.pow(2).sum(-1) / (2 * self.sigma**2)

    def elbo_terms(self, y: torch.Tensor) -> ELBOTerms:
        """Reconstruction (averaged over z_samples draws z ~ q(z|y), Eq. 16) and KL (Eq. 15) of y."""
        mu, log_var = self.encode(y)
        eps = torch.randn((self.z_samples, *mu.shape), device=mu.device, dtype=mu.dtype)
        z = mu + (0.5 * log_var).exp() * eps  # reparametrisation, Eq. 16
        mu_y = self.decode(z.flatten(0, 1)).unflatten(0, (self.z_samples, y.shape[0]))
        reconstruction = self.reconstruction_error(y, mu_y).mean(0)  # (z_samples, B) -> (B,)
        return ELBOTerms(reconstruction, gaussian_kl(mu, log_var))

    def energy(self, y: torch.Tensor) -> torch.Tensor:
        terms = self.elbo_terms(y)
        return terms.reconstruction + terms.kl
