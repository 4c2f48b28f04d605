"""DEEN (Saremi & Hyvarinen 2019; Sec. 3.1.2): the energy f(y) is a ConvNet R^d -> R.

With quadratic=True, f(y) = ||y - b||^2 / (2c) + net(y), with b (an image) and c > 0 learnt: the energy of a
Gaussian N(b, c I) plus the ConvNet's correction. A Gaussian's Bayes denoiser is linear in y, and the ConvNet
alone must build a gradient that grows linearly in y out of saturating units and a linear readout; the
quadratic term gives it the Wiener filter's shape for free, so a DEEN that still loses to the linear baseline
with it is not losing for lack of that shape (issue 22, "settle DEEN on the mixture").
"""

import math
from collections.abc import Sequence

import torch
from torch import nn

from uvb_lab.models.energy import EnergyModel
from uvb_lab.models.networks import check_sizes, conv_mlp


class DEEN(EnergyModel):
    """The sizes and their paper values are conf/model/deen.yaml's, the one place they are written: no defaults here
    (a folder of a DEEN run made before `quadratic` existed is read with quadratic: false, uvb_lab/run/legacy.py)."""

    def __init__(
        self,
        sigma: float,
        channels: int,
        image_size: int,
        *,
        conv_channels: Sequence[int],
        hidden: int,
        quadratic: bool,
    ):
        super().__init__(sigma)
        check_sizes(conv_channels=conv_channels, hidden=hidden)
        self.net = conv_mlp(channels, image_size, conv_channels, hidden, out_features=1)
        self.quadratic = bool(quadratic)
        if self.quadratic:
            self.center = nn.Parameter(torch.full((channels, image_size, image_size), 0.5))  # b: mid-grey pixels
            # log c, starting at c = 1 + sigma^2: the energy of unit-variance data seen through the noise, a weak pull
            self.log_scale = nn.Parameter(torch.tensor(math.log(1.0 + self.sigma**2)))

    def energy(self, y: torch.Tensor, z_samples: int | None = None) -> torch.Tensor:
        f = self.net(y).squeeze(1)  # deterministic: no z to draw
        if self.quadratic:
            f = f + (y - self.center).pow(2).flatten(1).sum(1) / (2 * self.log_scale.exp())
        return f
