"""The direct denoiser (beyond the paper; issue 33): what a practitioner who only wants a denoiser trains.

A network of DEEN's kind (uvb_lab/models/networks.py, conv_mlp: unpadded 3x3 convolutions, a fully connected hidden
layer) with a d-dimensional readout regresses x on y: x_hat(y) = net(y), trained by the denoising loss of Eq. 4 with
no energy and no double backprop. Its score follows from Tweedie's formula (Eq. 2), s(y) = (x_hat(y) - y) / sigma^2:
an unconstrained score, where DEEN's is the gradient of an energy. That is the one difference from DEEN.

Why x_hat and not the score is the network's output: x_hat = y + sigma^2 s_theta(y) with this trunk must rebuild the
whole noise through the readout, and s_theta lies in the readout's span, so the noise outside it passes through x_hat
untouched. On MNIST at sigma = 1, at 2.78M parameters, that form stood at 214 after 800 steps where x_hat = net(y)
was at 22.8, below the linear filter's 26.9 (docs/results.md): the clean image is what a bottlenecked readout can
represent.
"""

from collections.abc import Sequence

import torch
from torch import nn

from uvb_lab.models.networks import check_sizes, conv_mlp
from uvb_lab.models.score import ScoreModel


class Denoiser(ScoreModel):
    """The sizes and their defaults are conf/model/denoiser.yaml's, the one place they are written: no defaults here."""

    def __init__(self, sigma: float, channels: int, image_size: int, *, conv_channels: Sequence[int], hidden: int):
        super().__init__(sigma)
        check_sizes(conv_channels=conv_channels, hidden=hidden)
        shape = (channels, image_size, image_size)
        self.net = nn.Sequential(
            conv_mlp(channels, image_size, conv_channels, hidden, out_features=channels * image_size * image_size),
            nn.Unflatten(1, shape),
        )

    def x_hat(self, y: torch.Tensor, create_graph: bool = False, z_samples: int | None = None) -> torch.Tensor:
        # One forward pass: its graph to the parameters is kept only where a loss of x_hat will be backpropagated, as
        # the energy models keep the graph of grad_y f; a training step is then one forward and one backward.
        with torch.set_grad_enabled(create_graph):
            return self.net(y)

    def score(self, y: torch.Tensor, create_graph: bool = False, z_samples: int | None = None) -> torch.Tensor:
        """Tweedie's formula read backwards (Eq. 2): s(y) = (x_hat(y) - y) / sigma^2, for the samplers."""
        return (self.x_hat(y, create_graph=create_graph) - y) / self.sigma**2
