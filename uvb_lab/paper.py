"""The paper's numbers (Saremi, "Unnormalized Variational Bayes"), as the report compares with them (docs/reproduction.md): plain data.

The report puts our runs beside these; nothing here is computed.
"""

# The noise levels of Tables 2 and 3, in pixel units (x in [0, 1]).
SIGMAS = (0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9, 1.0)

# Table 1, dim(theta): the paper's rounded counts and the exact counts of the Sec. 3.1 architectures
# (3x3 unpadded convolutions, SiLU), keyed by (model, dataset).
TABLE1_PAPER = {("uvb", "mnist"): 2.7e7, ("deen", "mnist"): 2.6e7, ("uvb", "cifar10"): 4.1e7, ("deen", "cifar10"): 3.6e7}
TABLE1_EXACT = {
    ("uvb", "mnist"): 26_777_528,
    ("deen", "mnist"): 26_257_609,
    ("uvb", "cifar10"): 41_187_368,
    ("deen", "cifar10"): 36_090_313,
}

# Sec. 3.1: every run of the tables trained for this many epochs.
EPOCHS = 400

# Tables 2 (MNIST) and 3 (CIFAR-10): the denoising loss (Eq. 4) at the end of training, per sigma.
# Keyed by dataset, then (model, split) with split "train" or "test"; values follow SIGMAS.
SIGMA_TABLES = {
    "mnist": {
        ("uvb", "train"): (2.60, 3.84, 5.09, 6.83, 8.72, 10.6, 12.6, 14.7),
        ("deen", "train"): (2.77, 4.43, 6.45, 8.87, 11.5, 14.4, 17.3, 20.1),
        ("uvb", "test"): (3.01, 4.42, 5.94, 7.55, 9.27, 11.1, 13.0, 15.0),
        ("deen", "test"): (2.89, 4.48, 6.47, 8.83, 11.5, 14.3, 17.1, 19.9),
    },
    "cifar10": {
        ("uvb", "train"): (14.4, 20.1, 25.0, 29.7, 33.7, 37.8, 42.1, 46.0),
        ("deen", "train"): (15.5, 21.5, 27.1, 32.6, 37.9, 43.0, 48.1, 52.6),
        ("uvb", "test"): (15.4, 20.7, 25.7, 30.5, 34.7, 39.0, 42.9, 46.9),
        ("deen", "test"): (15.5, 21.5, 27.1, 32.8, 38.0, 43.0, 48.1, 52.7),
    },
}
SIGMA_TABLE_NUMBER = {"mnist": 2, "cifar10": 3}


def sigma_table_value(dataset: str | None, model: str, split: str, sigma: float | None) -> float | None:
    """The entry of Table 2 or 3 for (dataset, model, split, sigma); None where the paper reports none (a lookup of
    SIGMA_TABLES by SIGMAS' order, so no caller indexes the tuples itself)."""
    row = SIGMA_TABLES.get(dataset, {}).get((model, split))
    return row[SIGMAS.index(sigma)] if row and sigma in SIGMAS else None

# Tables 4 and 5 (MNIST, sigma = 1, test set): mean KL(q(z|.) || p(z)) and mean E_q ||. - mu_y(z)||^2 / (2 sigma^2).
TABLE4_KL = {"uvb": 692.0, "vae": 3.70}
TABLE5_RECONSTRUCTION = {"uvb": 103.0, "vae": 51.5}

# Remark 4: UVB with a Laplace decoder (MNIST, sigma = 1): the training loss saturates here.
REMARK4_TRAIN_LOSS = 58.4
