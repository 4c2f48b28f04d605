"""Energy models: an energy f(y), from which the score -grad f and so x_hat follow (uvb_lab/models/score.py).

A model overrides `energy` (and, if it has more to report on the test set, `test_terms`); `score` is derived here
once (as in the author's later code, nnaisense/mems), so double backprop is asked for only where training needs it.
Models with a latent z and a decoder (UVB, VAE, sigma-VAE) also have `likelihood`, `posterior_sample`,
`prior_sample` and `decode` (uvb_lab/models/uvb.py).
"""

import torch

from uvb_lab.models.score import ScoreModel


class EnergyModel(ScoreModel):
    """f: R^d -> R, the energy (negative log density up to a constant) of y = x + sigma * eps."""

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
