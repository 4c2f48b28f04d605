"""The one interface every model implements: a score s(y), from which the denoiser x_hat follows.

A model gives `score` (and, if it has more to report on the test set, `test_terms`); `x_hat` is derived here
once. Most models are energy models (uvb_lab/models/energy.py): their score is -grad f of an energy f(y). The direct
denoiser (uvb_lab/models/denoiser.py) outputs its score itself and has no energy.
"""

import torch
from torch import nn


class ScoreModel(nn.Module):
    """s: R^d -> R^d, the model's estimate of grad log p(y) for y = x + sigma * eps, and its denoiser x_hat."""

    likelihood = None  # the decoder's noise model p(y|z) (uvb_lab/models/likelihood.py); None: no decoder

    def __init__(self, sigma: float):
        super().__init__()
        self.sigma = float(sigma)

    @property
    def has_decoder(self) -> bool:
        """Whether the model generates through a decoder mu_y(z) (Fig. 4, the VAE-failure figure)."""
        return self.likelihood is not None

    def score(self, y: torch.Tensor, create_graph: bool = False, z_samples: int | None = None) -> torch.Tensor:
        """The model's estimate of grad log p(y) for a batch y (B, C, H, W), in y's shape.

        create_graph=True keeps the graph from the parameters to the score, so a loss of it can be backpropagated
        (training); evaluation and sampling leave it False. z_samples: for a model that draws z ~ q(z|y), how many
        (None: the model's own number); a deterministic model ignores it.
        """
        raise NotImplementedError

    def x_hat(self, y: torch.Tensor, create_graph: bool = False, z_samples: int | None = None) -> torch.Tensor:
        """The empirical Bayes estimator of x (Eq. 2, Tweedie's formula): x_hat(y) = y + sigma^2 s(y)."""
        return y + self.sigma**2 * self.score(y, create_graph=create_graph, z_samples=z_samples)

    def test_terms(self, x: torch.Tensor, y: torch.Tensor) -> dict[str, torch.Tensor]:
        """Per-sample numbers of a test pair beyond the loss, {name: (B,)}, averaged by uvb_lab/evaluate.py; none here."""
        return {}
