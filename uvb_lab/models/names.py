"""Each conf/model/ option's name in the report's tables, figures and legends: a new model is one line here
(tests/test_configs.py checks that every option has one)."""

DISPLAY_NAMES = {
    "deen": "DEEN",
    "deen_quadratic": "DEEN (quadratic)",
    "uvb": "UVB",
    "uvb_laplace": "UVB (Laplace decoder)",
    "vae": "VAE",
    "sigma_vae": "σ-VAE",
}


def display_name(model: str) -> str:
    """The model's name for a reader; an option not listed (a user's own) keeps its config name."""
    return DISPLAY_NAMES.get(model, model)
