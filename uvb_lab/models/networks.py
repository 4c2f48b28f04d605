"""The building blocks of Sec. 3.1: an unpadded SiLU ConvNet trunk with an MLP head, and the decoder.

The paper's choices (3x3 convolutions, stride 1, no padding, no pooling, SiLU everywhere) are the ones
that reproduce Table 1's parameter counts exactly; see docs/reproduction.md.
"""

from collections.abc import Sequence

from torch import nn


def check_sizes(**sizes: int | Sequence[int]) -> None:
    """ValueError naming the first layer size (a model.* config key) that is not a positive integer."""
    for key, value in sizes.items():
        for size in value if isinstance(value, Sequence) else [value]:
            if not (isinstance(size, int) and size >= 1):
                raise ValueError(f"model.{key} must be a positive integer (a layer width), got {value}")


def conv_mlp(
    in_channels: int,
    image_size: int,
    conv_channels: Sequence[int],
    hidden: int,
    out_features: int,
) -> nn.Sequential:
    """Conv(3x3, no padding) + SiLU per entry of conv_channels -> flatten -> Linear(hidden) + SiLU -> Linear.

    The readout is linear: it gives an energy (DEEN) or a latent mean / log-variance (UVB encoder).
    """
    layers: list[nn.Module] = []
    channels, size = in_channels, image_size
    for width in conv_channels:
        layers += [nn.Conv2d(channels, width, kernel_size=3), nn.SiLU()]
        channels, size = width, size - 2  # an unpadded 3x3 convolution trims one pixel each side
    if size < 1:
        raise ValueError(
            f"{len(conv_channels)} unpadded 3x3 convolutions need images larger than "
            f"{2 * len(conv_channels)} pixels, got {image_size}"
        )
    layers += [
        nn.Flatten(),
        nn.Linear(channels * size * size, hidden),
        nn.SiLU(),
        nn.Linear(hidden, out_features),
    ]
    return nn.Sequential(*layers)


def mlp_decoder(latent_dim: int, hidden: int, out_channels: int, image_size: int) -> nn.Sequential:
    """mu_y(z): Linear -> SiLU -> Linear -> sigmoid (the paper's "logistic readout"), shaped as an image."""
    return nn.Sequential(
        nn.Linear(latent_dim, hidden),
        nn.SiLU(),
        nn.Linear(hidden, out_channels * image_size * image_size),
        nn.Sigmoid(),
        nn.Unflatten(1, (out_channels, image_size, image_size)),
    )
