"""The direct denoiser (beyond the paper; issue 33): what a practitioner who only wants a denoiser trains.

A network regresses x on y with the denoising loss of Eq. 4, with no energy and no double backprop. It is
parametrised as an unconstrained score (Tweedie's formula, Eq. 2): x_hat(y) = y + sigma^2 s_theta(y), with
s_theta: R^d -> R^d a ConvNet of DEEN's kind (uvb_lab/models/networks.py, conv_mlp) whose readout has d outputs,
reshaped to the image. The one difference from DEEN is that s_theta need not be the gradient of an energy.

The readout's rank: s_theta(y) lies in b + span(W), W the d x hidden readout matrix. Where hidden < d, the noise
outside that span passes through x_hat untouched, so the risk is at least sigma^2 (d - hidden) whatever the
training; the widths of conf/model/denoiser.yaml and of the experiments' `sizes.denoiser` keep hidden >= d.
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

    def score(self, y: torch.Tensor, create_graph: bool = False, z_samples: int | None = None) -> torch.Tensor:
        # One forward pass: its graph to the parameters is kept only where a loss of the score will be backpropagated,
        # as the energy models keep the graph of grad_y f; a training step is then one forward and one backward.
        with torch.set_grad_enabled(create_graph):
            return self.net(y)
