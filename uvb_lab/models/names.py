"""How each conf/model/ option is shown in the report's tables, figures and legends: its name and its curves' colour.
A new model is one entry here (tests/test_configs.py checks that every option has one)."""

from typing import NamedTuple


class Shown(NamedTuple):
    name: str  # in tables, figures and legends
    color: str  # its curves and points (Okabe-Ito, colour-blind safe: UVB blue, DEEN vermillion, direct denoiser black)


OTHER_COLOR = "#555555"  # a model without a colour of its own: grey
MODELS = {
    "deen": Shown("DEEN", "#D55E00"),
    "deen_quadratic": Shown("DEEN (quadratic)", OTHER_COLOR),
    "denoiser": Shown("Direct denoiser", "#000000"),
    "uvb": Shown("UVB", "#0072B2"),
    "uvb_laplace": Shown("UVB (Laplace decoder)", "#CC79A7"),
    "vae": Shown("VAE", "#009E73"),
    "sigma_vae": Shown("σ-VAE", "#E69F00"),
}


def display_name(model: str) -> str:
    """The model's name for a reader; an option not listed (a user's own) keeps its config name."""
    return MODELS[model].name if model in MODELS else model


def model_color(model: str) -> str:
    """The colour of the model's curves; grey for an option not listed."""
    return MODELS[model].color if model in MODELS else OTHER_COLOR
