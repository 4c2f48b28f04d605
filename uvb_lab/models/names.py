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


# The models the reports draw, by their conf/model/ option; a pair (A, B) is compared as A - B.
SIGMA_TABLE_PAIR = ("uvb", "deen")  # Tables 2 and 3 (Fig. 2): UVB against DEEN at about equal parameter count
ELBO_TABLE_PAIR = ("uvb", "vae")  # Tables 4 and 5: UVB's KL and reconstruction terms against a VAE's
LAPLACE_UVB = "uvb_laplace"  # Remark 4: UVB with a Laplace decoder
DECODER_DENOISERS = ("sigma_vae",)  # models whose own denoiser is their decoder's mean mu_y(z), not x_hat(y) of Eq. 4
# Where the reports show every model (the Bayes-gap table's rows, its figure's legend): this order, then the others.
REPORT_ORDER = ("uvb", "deen", "denoiser", "vae", "sigma_vae", "uvb_laplace")


def display_name(model: str) -> str:
    """The model's name for a reader; an option not listed (a user's own) keeps its config name."""
    return MODELS[model].name if model in MODELS else model


def model_color(model: str) -> str:
    """The colour of the model's curves; grey for an option not listed."""
    return MODELS[model].color if model in MODELS else OTHER_COLOR
