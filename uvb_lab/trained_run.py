"""A trained run read back from its folder: its model with the newest good checkpoint's weights, its data and its
`figures:` settings, for uvb-figures, a finished run's missing figures (uvb_lab/launch/job.py) and notebooks.

The folder's config.yaml is data (uvb_lab/run/saved_config.py): the model and data are rebuilt only through
uvb_lab/rebuild.py's allow-list, plus the target prefixes the user trusts.
"""

from pathlib import Path
from typing import Any, NamedTuple

import torch
from omegaconf import DictConfig, OmegaConf
from omegaconf.errors import OmegaConfBaseException

from uvb_lab import ranges, rebuild
from uvb_lab.compose import compose_config
from uvb_lab.config import FiguresSchema
from uvb_lab.data.images import DataError, ImageData
from uvb_lab.figures.paper_figures import FiguresError
from uvb_lab.models.score import ScoreModel
from uvb_lab.run import checkpoint, saved_config

# Settings of `figures:` that say where files go on the machine drawing the figures, never taken from a run folder.
LOCAL_SETTINGS = ("cache_dir",)


class TrainedRun(NamedTuple):
    """What the figures are drawn from: a run folder's trained model, its data and its `figures:` settings."""

    name: str
    model: ScoreModel
    data: ImageData
    settings: dict[str, Any]  # the run's `figures:` config; today's defaults for runs that recorded none


def load_trained_run(run_dir: Path, device: torch.device, trusted: tuple[str, ...] = ()) -> TrainedRun:
    """Model (with the weights of its newest good checkpoint) and data of a finished or running uvb-train run.

    The folder's config.yaml is data (uvb_lab/run/saved_config.py): the model and data are rebuilt only
    through uvb_lab/rebuild.py's allow-list, plus the target prefixes the user trusts (--trust-target).
    """
    run_dir = Path(run_dir)
    try:
        cfg = saved_config.read(run_dir)
        if not checkpoint.exists(run_dir):
            raise FiguresError(f"{run_dir / checkpoint.LAST} is missing: the run has not saved a checkpoint yet (one at each epoch end)")
        plain = OmegaConf.to_container(cfg)
        model = rebuild.build("model", plain.get("model"), trusted).to(device)
        data = rebuild.build("data", plain.get("data"), trusted)
        model.load_state_dict(checkpoint.weights(checkpoint.load(run_dir, map_location=device)))
    except (saved_config.SavedConfigError, rebuild.RebuildError, checkpoint.CheckpointError) as error:
        raise FiguresError(str(error)) from error
    except (DataError, TypeError, ValueError, RuntimeError) as error:  # the constructor's, loader's or weights' own complaint
        raise FiguresError(f"cannot rebuild {run_dir}'s model or data: {error}") from error
    return TrainedRun(str(OmegaConf.select(cfg, "run.name", default=run_dir.name)), model, data, recorded_settings(cfg))


def recorded_settings(cfg: DictConfig) -> dict[str, Any]:
    """The run's `figures:` settings, type-checked against the schema; today's default for a key added since.

    Where files go on this machine (cache_dir) is not the run's to say: that stays this machine's default.
    """
    defaults = default_settings()
    recorded = cfg.get("figures")
    if recorded is None:
        return defaults
    if not isinstance(recorded, DictConfig):
        raise FiguresError(f"the run's figures: settings are {recorded!r}, not a mapping")
    known = {key: value for key, value in recorded.items() if key in defaults and key not in LOCAL_SETTINGS}
    try:
        checked = OmegaConf.merge(OmegaConf.structured(FiguresSchema), defaults, known)
    except OmegaConfBaseException as error:
        raise FiguresError(f"the run's figures: settings are not valid ({str(error).splitlines()[0]})") from error
    settings = OmegaConf.to_container(checked)
    settings.pop("after_training", None)
    if found := ranges.problems(settings, "figures"):  # the ranges uvb-train checks, for the values a run folder brings
        raise FiguresError(f"the run's {found[0]}")
    return settings


def default_settings() -> dict[str, Any]:
    """conf/config.yaml's `figures:` section, the one place the figures' defaults live."""
    settings = OmegaConf.to_container(compose_config([]).figures, resolve=True)
    settings.pop("after_training", None)
    return settings
