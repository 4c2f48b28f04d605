"""DEEN (Saremi & Hyvarinen 2019; Sec. 3.1.2): the energy f(y) is a ConvNet R^d -> R."""

from collections.abc import Sequence

import torch

from uvb_lab.models.energy import EnergyModel
from uvb_lab.models.networks import check_sizes, conv_mlp


class DEEN(EnergyModel):
    def __init__(
        self,
        sigma: float,
        channels: int,
        image_size: int,
        conv_channels: Sequence[int] = (128, 256, 512),
        hidden: int = 100,
    ):
        super().__init__(sigma)
        check_sizes(conv_channels=conv_channels, hidden=hidden)
        self.net = conv_mlp(channels, image_size, conv_channels, hidden, out_features=1)

    def energy(self, y: torch.Tensor, z_samples: int | None = None) -> torch.Tensor:
        return self.net(y).squeeze(1)  # deterministic: no z to draw
