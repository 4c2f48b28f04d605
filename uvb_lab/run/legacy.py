"""Run folders made by earlier uvb-lab versions, read in today's terms, so that they still continue and load: the one
place that knows the older formats. Each is upgraded as it is read; nothing in the folder is changed.

The run-folder format (identity.json's format_version):
    1  uvb-lab 0.1.0: no identity.json (the identity is read from the resolved config.yaml), and checkpoints without
       the training curve's window (window_sum, window_count) or the W&B run id: `upgrade_checkpoint`
    2  identity.json, one folder per identity
    3  uvb-lab 0.3 made two settings objects chosen by `_target_` instead of strings: `upgrade_config`, `upgrade_identity`
           loss:  the functions uvb_lab.loss.denoising_loss / negative_elbo_loss (built with _partial_) are the
                  classes DenoisingLoss / NegativeELBO
           model: decoder: gaussian | laplace and laplace_scale are model.likelihood (uvb_lab/models/likelihood.py)
       Both are the same computation, so a folder's recorded identity and config are rewritten on reading.
    4  checkpoints hold the training stream (train_stream: the generator of the data order and the training noise,
       uvb_lab/training_stream.py). An older checkpoint has none: `upgrade_checkpoint` gives it None, and its run goes on
       drawing them from the global generator, as it started, so it still continues exactly (for that run only; the
       log says so). The version keeps an older uvb-lab from continuing a run of this format, which it would do
       silently with the wrong stream.
Settings added within a format (ADDED_SETTINGS) are read with the value the runs made before them trained with.
"""

from collections.abc import Mapping
from typing import Any

import torch

# The run-folder format this version writes (identity.json's format_version); a folder of a later one is refused.
FORMAT_VERSION = 4

LOSSES = {
    "uvb_lab.loss.denoising_loss": "uvb_lab.loss.DenoisingLoss",
    "uvb_lab.loss.negative_elbo_loss": "uvb_lab.loss.NegativeELBO",
}
# (group, the class that has it, key, the value of runs made before it): a saved config without the key rebuilds with it.
ADDED_SETTINGS = (
    ("model", "uvb_lab.models.DEEN", "quadratic", False),
    ("loss", "uvb_lab.loss.DenoisingLoss", "target", "x"),
    ("data", "uvb_lab.data.gmm.gmm", "component_rank", 0),
    ("data", "uvb_lab.data.gmm.gmm", "component_scale", 1.0),  # unread at rank 0: conf/data/gmm.yaml's value
)
LIKELIHOODS = {
    "gaussian": "uvb_lab.models.likelihood.GaussianLikelihood",
    "laplace": "uvb_lab.models.likelihood.LaplaceLikelihood",
}


def _loss(node: Mapping[str, Any]) -> dict[str, Any]:
    node = dict(node)
    if node.get("_target_") in LOSSES:
        node["_target_"] = LOSSES[node["_target_"]]
        node.pop("_partial_", None)
    return node


def _model(node: Mapping[str, Any]) -> dict[str, Any]:
    node = dict(node)
    if "decoder" not in node:
        return node
    kind, scale = node.pop("decoder"), node.pop("laplace_scale", None)
    likelihood: dict[str, Any] = {"_target_": LIKELIHOODS.get(kind, kind), "_partial_": True}
    if kind == "laplace":
        likelihood["scale"] = scale
    return {"likelihood": likelihood, **node}


def _renamed(config: Mapping[str, Any]) -> dict[str, Any]:
    config = dict(config)
    if isinstance(config.get("loss"), Mapping):
        config["loss"] = _loss(config["loss"])
    if isinstance(config.get("model"), Mapping):
        config["model"] = _model(config["model"])
    return config


def upgrade_config(config: Mapping[str, Any]) -> dict[str, Any]:
    """A saved config.yaml (as plain containers) with the model and loss nodes of today's format, and the settings
    added since it was written."""
    config = _renamed(config)
    for group, target, key, value in ADDED_SETTINGS:
        node = config.get(group)
        if isinstance(node, Mapping) and node.get("_target_") == target and key not in node:
            config[group] = {**node, key: value}
    return config


def upgrade_identity(identity: Mapping[str, Any]) -> dict[str, Any]:
    """A recorded identity (flat dotted keys, identity.json of format <= 2) in today's keys, in sorted order."""
    nested: dict[str, Any] = {"loss": {}, "model": {}}
    flat = {}
    for key, value in identity.items():
        group, _, rest = key.partition(".")
        if group in nested and rest and "." not in rest:
            nested[group][rest] = value
        else:
            flat[key] = value
    upgraded = _renamed(nested)
    for group in ("loss", "model"):
        for key, value in upgraded[group].items():
            if isinstance(value, Mapping):
                flat.update({f"{group}.{key}.{inner}": v for inner, v in value.items()})
            else:
                flat[f"{group}.{key}"] = value
    return dict(sorted(flat.items()))


def upgrade_checkpoint(state: Mapping[str, Any]) -> dict[str, Any]:
    """A checkpoint's contents in today's keys: those of uvb-lab 0.1.0 lack the training curve's window (it starts
    empty, as at a row) and the W&B run id (the continued run is a new W&B run); those of format <= 3 lack the
    training stream (None: the global generator, which their data order and noise came from)."""
    return {"window_sum": torch.zeros(()), "window_count": 0, "wandb_run_id": None, "train_stream": None, **state}
