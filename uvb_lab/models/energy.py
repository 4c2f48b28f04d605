"""The one interface every model implements: an energy f(y), from which score and x_hat follow.

A model overrides `energy` and nothing else; `score` and `x_hat` are derived here once (as in the
author's later code, nnaisense/mems), so double backprop is asked for only where training needs it.
"""

import torch
from torch import nn


class EnergyModel(nn.Module):
    """f: R^d -> R, the energy (negative log density up to a constant) of y = x + sigma * eps."""

    def __init__(self, sigma: float):
        super().__init__()
        self.sigma = float(sigma)

    def energy(self, y: torch.Tensor) -> torch.Tensor:
        """f(y) for a batch y of shape (B, C, H, W): one energy per sample, shape (B,)."""
        raise NotImplementedError

    def score(self, y: torch.Tensor, create_graph: bool = False) -> torch.Tensor:
        """-grad_y f(y), the model's estimate of grad log p(y).

        create_graph=True keeps the graph of the gradient so a loss of it can be backpropagated
        (double backprop, needed in training); evaluation and sampling leave it False.
        """
        with torch.enable_grad():
            y = y.detach().requires_grad_(True)
            f = self.energy(y)
            (grad_f,) = torch.autograd.grad(f.sum(), y, create_graph=create_graph)
        return -grad_f

    def x_hat(self, y: torch.Tensor, create_graph: bool = False) -> torch.Tensor:
        """The empirical Bayes estimator of x (Eq. 2 / 3): x_hat(y) = y - sigma^2 grad f(y)."""
        return y + self.sigma**2 * self.score(y, create_graph=create_graph)
