"""A validation split for tuning: `data.val_fraction` of the training set held out, the same images in every run.

The paper evaluates on the test set (Sec. 3.1), so the default holds out nothing. A hyperparameter search
that picked lr by the test loss would report a number it was tuned on; with `data.val_fraction` set, the
evaluations also score the held-out images (val_loss, ...) and the value a Hydra sweeper minimises is the
validation loss (uvb_lab/launch/job.py, `sweeper_objective`). Every loader ends with `hold_out`, so a data config
with `val_fraction` set builds with the split made, by uvb-train or by `hydra.utils.instantiate` in a notebook.
"""

from dataclasses import replace

import torch

from uvb_lab.data.images import DataError, ImageData

# The split's own seed, apart from trainer.seed: runs of a search that differ by seed still share one split.
SPLIT_SEED = 0


def hold_out(data: ImageData, fraction: float) -> ImageData:
    """data with round(fraction * N) training images (and labels) moved to `validation`, chosen by SPLIT_SEED."""
    if fraction == 0:
        return data
    n_val = round(fraction * len(data.train))
    if not 0 < n_val < len(data.train):
        raise DataError(
            f"data.val_fraction={fraction} holds out {n_val} of {data.name}'s {len(data.train)} training images; "
            "it must leave at least one image on each side"
        )
    order = torch.randperm(len(data.train), generator=torch.Generator().manual_seed(SPLIT_SEED))
    train, val = order[n_val:].sort().values, order[:n_val].sort().values  # sorted: the training set keeps its order
    labels = data.train_labels
    return replace(
        data,
        train=data.train[train],
        validation=data.train[val],
        train_labels=None if labels is None else labels[train],
        validation_labels=None if labels is None else labels[val],
    )
