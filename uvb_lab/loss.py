"""The training objectives. Each is called as loss(model, x, y) and returns the batch mean of a per-sample loss.

A loss also says how the model it trains is scored as a denoiser on the test set (uvb_lab/evaluate.py):
`denoises` when the loss is itself the denoising loss, and `denoise(model, y)`, the model's estimate of x; and what
a model needs beyond a score to be trained by it (`requires`: the energy, a decoder), which `training_loss` checks.
"""

from typing import Any, Literal, Protocol

import torch

from uvb_lab.data.images import ImageData
from uvb_lab.models.score import ScoreModel


def squared_error(x: torch.Tensor, x_estimate: torch.Tensor) -> torch.Tensor:
    """||x - x_estimate||^2 per image, summed over every pixel and channel, with no factor 1/2 (the tables' scale)."""
    return (x - x_estimate).pow(2).flatten(1).sum(1)


class Loss(Protocol):
    denoises: bool  # the loss is the denoising loss of Eq. 4: its test value is the test denoising loss
    requires: tuple[str, ...]  # the model's methods the loss calls beyond score and x_hat

    def __call__(self, model: ScoreModel, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor: ...

    def denoise(self, model: ScoreModel, y: torch.Tensor) -> torch.Tensor:
        """The trained model's estimate of x from y, as the model is meant to denoise."""
        ...


class DenoisingLoss:
    """Empirical Bayes least squares, Eq. 4 / 18: mean over the batch of ||x - x_hat(y)||^2 (DEEN, UVB, the direct denoiser).

    In training mode the gradient graph is kept, so backward() differentiates through grad_y f
    (double backprop) for an energy model; in eval mode it is not.

    target: what training regresses x_hat(y) on. "x", the clean image, as the paper does; "posterior_mean", the data's
    exact E[x|y] where it is known (a mixture, uvb_lab/data/gmm.py): the same minimiser, since
    E||x - x_hat||^2 = E||x - E[x|y]||^2 + E||E[x|y] - x_hat||^2, without the variance of x around E[x|y]. Called
    as loss(model, x, y), the loss is always against x (the test loss); the training step's is `training_loss`'s.
    """

    denoises = True
    requires = ()

    def __init__(self, *, target: Literal["x", "posterior_mean"]):
        self.target = target

    def __call__(self, model: ScoreModel, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        return squared_error(x, model.x_hat(y, create_graph=model.training)).mean()

    def denoise(self, model: ScoreModel, y: torch.Tensor) -> torch.Tensor:
        return model.x_hat(y)


class PosteriorMeanTarget:
    """The denoising loss against the exact E[x|y] of the data's distribution instead of x (loss.target=posterior_mean):
    mean over the batch of ||E[x|y] - x_hat(y)||^2, the excess risk over the Bayes risk. Training only."""

    denoises = True
    requires = ()

    def __init__(self, loss: DenoisingLoss, ground_truth: Any):
        self.loss, self.ground_truth = loss, ground_truth

    def __call__(self, model: ScoreModel, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        with torch.autocast(y.device.type, enabled=False):  # exact: float64 inside, never a lower precision
            target = self.ground_truth.posterior_mean(y.detach(), model.sigma)
        return self.loss(model, target, y)

    def denoise(self, model: ScoreModel, y: torch.Tensor) -> torch.Tensor:
        return self.loss.denoise(model, y)


class NegativeELBO:
    """The vanilla VAE of y: maximise the ELBO of Eq. 14, i.e. minimise the energy f(y) itself.

    The clean x is not seen: the model only ever learns from the noisy y. As a denoiser it is judged by
    the empirical Bayes x_hat(y) of its energy, like the models trained by denoising.
    """

    denoises = False
    requires = ("energy",)

    def __call__(self, model: ScoreModel, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        return model.energy(y).mean()

    def denoise(self, model: ScoreModel, y: torch.Tensor) -> torch.Tensor:
        return model.x_hat(y)


class CleanNegativeELBO:
    """The sigma-VAE (Saremi 2020; Sec. 2.2, Eqs. 9-10): minimise the negative ELBO of the clean x, with the
    decoder variance sigma^2 of the model's Gaussian likelihood; one z draw, reparametrised.

    The noisy y is never seen in training. It denoises by inference then decoding, x = mu_y(z ~ q(z|y)).
    """

    denoises = False
    requires = ("energy", "posterior_sample", "decode")

    def __call__(self, model: ScoreModel, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        return model.energy(x).mean()

    def denoise(self, model: ScoreModel, y: torch.Tensor) -> torch.Tensor:
        return model.decode(model.posterior_sample(y)[0])


def training_loss(loss: Loss, model: ScoreModel, data: ImageData) -> Loss:
    """The loss the training step minimises: `loss` itself, or with loss.target=posterior_mean the denoising loss
    against the exact E[x|y] of the data's distribution (ImageData.ground_truth).

    ValueError, one line, where the model lacks what the loss calls (the direct denoiser has no energy for the negative
    ELBO) or the data has no exact posterior mean to aim at. The model may be on the meta device: nothing is run.
    """
    if missing := [name for name in loss.requires if not callable(getattr(model, name, None))]:
        raise ValueError(
            f"{type(loss).__name__} needs the model's {', '.join(missing)}, which {type(model).__name__} does not have "
            "(it gives a score only): train it with loss=denoising"
        )
    if getattr(loss, "target", "x") == "x":
        return loss
    if data.ground_truth is None:
        raise ValueError(
            f"loss.target={loss.target} needs data whose posterior mean E[x|y] is known exactly (data=gmm, data=gaussian); "
            f"{data.name} has none: use loss.target=x"
        )
    return PosteriorMeanTarget(loss, data.ground_truth)
