"""The training objectives. Each takes (model, x, y) and returns the batch mean of a per-sample loss."""

import torch

from uvb_lab.models.energy import EnergyModel


def denoising_loss(model: EnergyModel, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """Empirical Bayes least squares, Eq. 4 / 18: mean over the batch of ||x - x_hat(y)||^2.

    Summed over every pixel and channel, with no factor 1/2 (the paper's tables use this scale).
    In training mode the gradient graph is kept, so backward() differentiates through grad_y f
    (double backprop); in eval mode it is not.
    """
    x_hat = model.x_hat(y, create_graph=model.training)
    return (x - x_hat).pow(2).flatten(1).sum(1).mean()


def negative_elbo_loss(model: EnergyModel, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """The vanilla VAE of y: maximise the ELBO of Eq. 14, i.e. minimise the energy f(y) itself.

    The clean x is not seen: the model only ever learns from the noisy y.
    """
    return model.energy(y).mean()
