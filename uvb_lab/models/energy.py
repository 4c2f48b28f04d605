"""The one interface every model implements: an energy f(y), from which score and x_hat follow.

A model overrides `energy` (and, if it has more to report on the test set, `test_terms`); `score` and
`x_hat` are derived here once (as in the author's later code, nnaisense/mems), so double backprop is
asked for only where training needs it. Models with a latent z and a decoder (UVB, VAE, sigma-VAE) also
have `likelihood`, `posterior_sample`, `prior_sample` and `decode` (uvb_lab/models/uvb.py).
"""

import torch
from torch import nn


class EnergyModel(nn.Module):
    """f: R^d -> R, the energy (negative log density up to a constant) of y = x + sigma * eps."""

    likelihood = None  # the decoder's noise model p(y|z) (uvb_lab/models/likelihood.py); None: no decoder

    def __init__(self, sigma: float):
        super().__init__()
        self.sigma = float(sigma)

    @property
    def has_decoder(self) -> bool:
        """Whether the model generates through a decoder mu_y(z) (Fig. 4, the VAE-failure figure)."""
        return self.likelihood is not None

    def energy(self, y: torch.Tensor, z_samples: int | None = None) -> torch.Tensor:
        """f(y) for a batch y of shape (B, C, H, W): one energy per sample, shape (B,).

        z_samples: for an energy that averages over draws z ~ q(z|y), how many (None: the model's own
        number); a deterministic energy ignores it.
        """
        raise NotImplementedError

    def score(self, y: torch.Tensor, create_graph: bool = False, z_samples: int | None = None) -> torch.Tensor:
        """-grad_y f(y), the model's estimate of grad log p(y).

        create_graph=True keeps the graph of the gradient so a loss of it can be backpropagated
        (double backprop, needed in training); evaluation and sampling leave it False.
        """
        with torch.enable_grad():
            y = y.detach().requires_grad_(True)
            f = self.energy(y, z_samples)
            (grad_f,) = torch.autograd.grad(f.sum(), y, create_graph=create_graph)
        return -grad_f

    def x_hat(self, y: torch.Tensor, create_graph: bool = False, z_samples: int | None = None) -> torch.Tensor:
        """The empirical Bayes estimator of x (Eq. 2 / 3): x_hat(y) = y - sigma^2 grad f(y)."""
        return y + self.sigma**2 * self.score(y, create_graph=create_graph, z_samples=z_samples)

    def test_terms(self, x: torch.Tensor, y: torch.Tensor) -> dict[str, torch.Tensor]:
        """Per-sample numbers of a test pair beyond the loss, {name: (B,)}, averaged by uvb_lab/evaluate.py; none here."""
        return {}
