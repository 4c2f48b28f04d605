"""The UVB energy (Sec. 2.3): the negative ELBO of a VAE of the noisy y, Eq. 17.

    f(y) = E_{q(z|y)} -log p(y|z) + KL[q(z|y) || N(0, I)],   -log p(y|z) = ||y - mu_y(z)||^2 / (2 sigma^2) + const

The same network is the vanilla VAE when it is trained by maximising the ELBO of y (Eq. 14) and the
sigma-VAE when trained on the ELBO of the clean x (Eqs. 9-10), instead of by denoising (Eq. 18): the
model is the energy; what it is trained on is the loss's business (uvb_lab/loss.py).
"""

from collections.abc import Callable, Sequence
from typing import NamedTuple

import torch

from uvb_lab.models.energy import EnergyModel
from uvb_lab.models.likelihood import GaussianLikelihood, LaplaceLikelihood
from uvb_lab.models.networks import check_sizes, conv_mlp, mlp_decoder

Likelihood = GaussianLikelihood | LaplaceLikelihood


def gaussian_kl(mu: torch.Tensor, log_var: torch.Tensor) -> torch.Tensor:
    """KL[N(mu, exp(log_var)) || N(0, I)] per sample, Eq. 15: -1/2 sum_k (1 + lambda_k - mu_k^2 - exp(lambda_k))."""
    return -0.5 * (1 + log_var - mu.pow(2) - log_var.exp()).sum(dim=1)


class ELBOTerms(NamedTuple):
    """The two terms of the negative ELBO, one value per sample (their sum is the energy), and the decoder means."""

    reconstruction: torch.Tensor
    kl: torch.Tensor
    decoded: torch.Tensor  # mu_y(z) for the draws z ~ q(z|input), (z_samples, B, C, H, W)


class UVB(EnergyModel):
    """A Gaussian-encoder VAE whose negative ELBO is the energy of y (Sec. 3.1.1 architecture).

    likelihood: the decoder's noise model for a given sigma (uvb_lab/models/likelihood.py): Gaussian,
    Eq. 6; LaplaceLikelihood is Remark 4's. z_samples: the draws z ~ q(z|y) averaged in the energy when a
    caller does not ask for another number (the paper uses 1). The sizes and their paper values are
    conf/model/uvb.yaml's, the one place they are written: no defaults here.
    """

    def __init__(
        self,
        sigma: float,
        channels: int,
        image_size: int,
        *,
        conv_channels: Sequence[int],
        hidden: int,
        latent_dim: int,
        decoder_hidden: int,
        likelihood: Callable[[float], Likelihood],
        z_samples: int,
    ):
        super().__init__(sigma)
        check_sizes(conv_channels=conv_channels, hidden=hidden, latent_dim=latent_dim, decoder_hidden=decoder_hidden)
        self.z_samples = self._checked_draws(z_samples)
        self.likelihood = likelihood(sigma)
        # Two encoders without weight sharing, one for mu and one for lambda = log sigma_k^2 (Sec. 3.1.1).
        self.encoder_mu = conv_mlp(channels, image_size, conv_channels, hidden, latent_dim)
        self.encoder_log_var = conv_mlp(channels, image_size, conv_channels, hidden, latent_dim)
        self.decoder = mlp_decoder(latent_dim, decoder_hidden, channels, image_size)
        self.latent_dim = latent_dim

    @staticmethod
    def _checked_draws(z_samples: int) -> int:
        if z_samples < 1:
            raise ValueError(f"model.z_samples must be >= 1, got {z_samples}")
        return z_samples

    def encode(self, y: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """The factorised Gaussian posterior q(z|y) of Eq. 13, as (mu, lambda = log variance)."""
        return self.encoder_mu(y), self.encoder_log_var(y)

    def decode(self, z: torch.Tensor) -> torch.Tensor:
        """mu_y(z), the decoder mean, an image in [0, 1]."""
        return self.decoder(z)

    def posterior_sample(self, y: torch.Tensor, draws: int = 1) -> torch.Tensor:
        """z ~ q(z|y) by reparametrisation (Eq. 16), shape (draws, B, latent_dim)."""
        mu, log_var = self.encode(y)
        return self._reparametrised(mu, log_var, draws)

    def prior_sample(self, n: int) -> torch.Tensor:
        """z ~ p(z) = N(0, I_{d_z}), shape (n, latent_dim), on the model's device."""
        return torch.randn(n, self.latent_dim, device=next(self.parameters()).device)

    @staticmethod
    def _reparametrised(mu: torch.Tensor, log_var: torch.Tensor, draws: int) -> torch.Tensor:
        eps = torch.randn((draws, *mu.shape), device=mu.device, dtype=mu.dtype)
        return mu + (0.5 * log_var).exp() * eps  # Eq. 16

    def elbo_terms(self, y: torch.Tensor, z_samples: int | None = None) -> ELBOTerms:
        """Reconstruction (averaged over z_samples draws z ~ q(z|y), Eq. 16) and KL (Eq. 15) of y."""
        draws = self.z_samples if z_samples is None else self._checked_draws(z_samples)
        mu, log_var = self.encode(y)
        z = self._reparametrised(mu, log_var, draws)
        mu_y = self.decode(z.flatten(0, 1)).unflatten(0, (draws, y.shape[0]))
        reconstruction = self.likelihood.negative_log(y, mu_y).mean(0)  # (draws, B) -> (B,)
        return ELBOTerms(reconstruction, gaussian_kl(mu, log_var), mu_y)

    def energy(self, y: torch.Tensor, z_samples: int | None = None) -> torch.Tensor:
        terms = self.elbo_terms(y, z_samples)
        return terms.reconstruction + terms.kl

    def test_terms(self, x: torch.Tensor, y: torch.Tensor) -> dict[str, torch.Tensor]:
        """The two terms of Eq. 14 on the noisy y (what the energy is made of) and on the clean x (Tables 4 and 5),
        and the decoder-mean denoiser's squared error ||x - mu_y(z ~ q(z|y))||^2 of the same draws (Sec. 2.2)."""
        on_y, on_x = self.elbo_terms(y), self.elbo_terms(x)
        decoder_error = (x - on_y.decoded).flatten(-3).pow(2).sum(-1).mean(0)
        return {
            "kl_on_y": on_y.kl, "recon_on_y": on_y.reconstruction,
            "kl_on_x": on_x.kl, "recon_on_x": on_x.reconstruction,
            "decoder_denoising_loss": decoder_error,
        }
