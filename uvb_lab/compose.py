"""Composing conf/, and Hydra's global state: the one module that touches either; everything else takes plain values.

Hydra keeps state for the whole process: its initialised instance (GlobalHydra: where conf/ is), the config of
the job being run (HydraConfig: ${hydra:...}, the group choices), the config store (the schema) and OmegaConf's
resolvers. This module reads and sets them, and hands the rest of uvb-lab what they hold:

- `compose_config(overrides)`: conf/ as `uvb-train OVERRIDES` composes it, for code outside the Hydra app
  (tests, bench, report, figures); `compose_job` the same inside uvb-train's plan, which holds conf/ open.
- `job_config()`, `group_choices()`, `multirun_job_num()`: what Hydra holds about the job being run.
- `one_line(error)`: a composition's error (Hydra's and OmegaConf's are multi-line) as the one line a command prints.
- `defaults_identity(choices)`: the identity of the defaults of the chosen model, data and experiment, which a
  run's folder name (uvb_lab/run/identity.py) and the check that a folder holds this run compare against.
- On import: the schema (uvb_lab/config.py) in Hydra's config store, and the resolvers conf/ uses:
  ${uvb_run_name:} (the run folder's name) and ${uvb_sweep_group:} (a sweep's W&B group).

Importing this module loads no torch: `uvb-train --help` and TAB completion stay fast.
"""

import contextlib
import copy
import difflib
import functools
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

from hydra import compose, initialize_config_dir
from hydra.core.config_store import ConfigStore
from hydra.core.global_hydra import GlobalHydra
from hydra.core.hydra_config import HydraConfig
from hydra.errors import HydraException
from hydra.types import RunMode
from omegaconf import DictConfig, OmegaConf, open_dict, read_write
from omegaconf.errors import OmegaConfBaseException

from uvb_lab.config import SCHEMA, Schema
from uvb_lab.hydra_internals import BASIC_SWEEPER
from uvb_lab.paths import CONFIG_DIR
from uvb_lab.run import identity as run_identity
from uvb_lab.run import records


@contextlib.contextmanager
def conf_dir() -> Iterator[None]:
    """Hydra initialised with conf/ for the block (many compositions, one set-up), as it was afterwards."""
    with initialize_config_dir(config_dir=CONFIG_DIR, version_base="1.3"):
        yield


def _compose(overrides: list[str]) -> DictConfig:
    """conf/config.yaml composed with these overrides, hydra node included, inside a Hydra app or outside one."""
    if GlobalHydra.instance().is_initialized():
        return compose("config", overrides=overrides, return_hydra_config=True)
    with conf_dir():
        return compose("config", overrides=overrides, return_hydra_config=True)


def compose_job(overrides: list[str]) -> DictConfig:
    """One job's composition, hydra node included, made the config Hydra holds: ${hydra:...} and the run name
    read it, as they read the job's own config when it runs."""
    cfg = _compose(overrides)
    HydraConfig.instance().set_config(cfg)
    apply_model_settings(cfg)
    return cfg


def one_line(error: BaseException) -> str:
    """An error, Hydra's and OmegaConf's multi-line ones with their cause, as one line."""
    text = str(error).split("Config search path:")[0]
    cause = error.__cause__
    if isinstance(error, (HydraException, OmegaConfBaseException)) and cause is not None and str(cause):
        text += f": {str(cause).splitlines()[0]}"
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    lines = [line for line in lines if not line.startswith(("full_key:", "object_type=", "reference_type="))]
    parts: list[str] = []
    listing = False  # after a line ending with ':', the lines are its items: "options in 'model': deen, uvb"
    for line in lines:
        if parts and parts[-1].endswith(":"):
            parts[-1] += " " + line
            listing = True
        elif listing:
            parts[-1] += ", " + line
        else:
            parts.append(line)
    return "; ".join(part[:-1] if part.endswith(".") and i < len(parts) - 1 else part for i, part in enumerate(parts))  # no ".;"


class ModelSettingError(ValueError):
    """A `sizes.<model>.<key>` that the model has no setting for."""


def _model_settings(cfg: DictConfig) -> tuple[str | None, DictConfig | None]:
    """The chosen model, and its node of `sizes` where the config has one."""
    model = OmegaConf.select(cfg, "hydra.runtime.choices.model", default=None) or OmegaConf.select(cfg, "run.model", default=None)
    settings = OmegaConf.select(cfg, f"sizes.{model}", default=None) if model else None
    return model, settings if isinstance(settings, DictConfig) else None


def _command_keys() -> set[str]:
    """The keys the command line sets for the job being composed or run (hydra.overrides.task), without +/~."""
    hydra_cfg = job_config()
    task = OmegaConf.select(hydra_cfg, "overrides.task", default=None) if hydra_cfg is not None else None
    return {str(override).split("=", 1)[0].lstrip("+~") for override in task or []}


def apply_model_settings(cfg: DictConfig) -> None:
    """`sizes.<model>.<key>=value`: model.<key> for that model's runs only, so a sweep of several models can size each
    (`model=uvb,deen sizes.deen.hidden=64 sizes.uvb.latent_dim=16`). The job and its plan both apply it, before the
    run's identity is read; `sizes` itself is not identity (uvb_lab/run/identity.py): what counts is model.*. The run's
    name applies it too (`with_model_settings`), since Hydra names a sweep's job folder before the job applies it.

    The more specific setting wins: a `model.<key>=value` on the command line over a config file's sizes (an
    experiment's, +preset=quick's), and a `++sizes.<model>.<key>` on the command line over a `model.<key>` there."""
    model, settings = _model_settings(cfg)
    if settings is None:
        return
    given = _command_keys()
    for key, value in settings.items_ex(resolve=False):
        if f"model.{key}" in given and f"sizes.{model}.{key}" not in given:
            continue
        if key not in cfg.model:
            known = [k for k in cfg.model if not k.startswith("_")]
            close = difflib.get_close_matches(key, known, n=3, cutoff=0.6)
            hint = f"did you mean {' or '.join(f'sizes.{model}.{k}' for k in close)}?" if close else f"its settings: {', '.join(known)}"
            raise ModelSettingError(f"sizes.{model}.{key}: {model} has no setting {key} ({hint})")
        cfg.model[key] = value


def with_model_settings(cfg: DictConfig) -> DictConfig:
    """cfg with its `sizes.<model>` applied: cfg itself where it has none, else a copy.

    Hydra resolves a sweep job's folder (hydra.sweep.subdir: ${run.name}) on the config it composed, before the job
    runs and applies the sizes: the name read them from the model's defaults, so the run trained in a folder named
    without its sizes (`uvb-gmm-sigma1.0`), and two sizes of one model (`++sizes.deen.hidden=48,64`) in one folder.
    """
    if _model_settings(cfg)[1] is None:
        return cfg
    sized = copy.deepcopy(cfg)
    with read_write(sized), open_dict(sized):
        apply_model_settings(sized)
    return sized


def compose_config(overrides: list[str], with_hydra: bool = False) -> DictConfig:
    """conf/ composed as `uvb-train OVERRIDES` would compose it, for code that runs outside the Hydra app.

    A composition of its own, whatever Hydra app ran before in this process; ${hydra:...} interpolations
    resolve against it afterwards (it is the config Hydra holds). with_hydra keeps the hydra node.
    """
    GlobalHydra.instance().clear()
    cfg = compose_job(overrides)
    if not with_hydra:
        with open_dict(cfg):
            del cfg["hydra"]
    return cfg


@contextlib.contextmanager
def hydra_state_kept() -> Iterator[None]:
    """Compositions inside the block (compose_config) leave no trace: the config Hydra holds is the caller's again,
    and no initialisation lingers."""
    saved = HydraConfig.instance().cfg
    try:
        yield
    finally:
        GlobalHydra.instance().clear()
        HydraConfig.instance().cfg = saved


def forget_app() -> None:
    """Hydra as if no app had run in this process (an in-process `uvb-train` leaves it initialised)."""
    GlobalHydra.instance().clear()


def job_config() -> DictConfig | None:
    """The hydra node of the job being run (or of the last composition made here); None outside any."""
    return HydraConfig.get() if HydraConfig.initialized() else None


def group_choices() -> dict[str, str | None]:
    """The group options chosen for the current composition (model, data, loss, experiment, ...)."""
    hydra_cfg = job_config()
    return dict(hydra_cfg.runtime.choices) if hydra_cfg is not None else {}


def multirun_job_num() -> int | None:
    """This job's number within a Hydra multirun (0, 1, ...); None for a single run or outside Hydra."""
    hydra_cfg = job_config()
    return hydra_cfg.job.num if hydra_cfg is not None and hydra_cfg.mode == RunMode.MULTIRUN else None


_composing_defaults = False  # a composition of the defaults is under way (see _run_name)


@functools.lru_cache(maxsize=16)
def _defaults(chosen: tuple[tuple[str, str], ...]) -> tuple[dict[str, Any], dict[str, str | None]]:
    global _composing_defaults
    overrides = [f"+{k}={v}" if k in run_identity.SETTINGS_GROUPS else f"{k}={v}" for k, v in chosen]
    _composing_defaults = True
    try:
        cfg = _compose(overrides)
    finally:
        _composing_defaults = False
    return run_identity.identity(cfg), dict(cfg.hydra.runtime.choices)


def defaults_identity(choices: Mapping[str, str | None], also: tuple[str, ...] = ()) -> tuple[dict[str, Any], dict[str, str | None]]:
    """The identity (and group choices) of the chosen model, data, experiment and search (and the groups in `also`)
    with no other override."""
    return _defaults(run_identity.defaults_choice(choices, also))


# A search's folder holds one study: search.json records the settings its trials share (uvb_lab/launch/plan.py).
SEARCH_RECORD = "search.json"
# search.json's "trials_named" where the search's trials are named by what they vary (an Optuna study begun since).
NAMED_BY_WHAT_VARIES = "by what they vary"


def search_reference() -> dict[str, Any] | None:
    """In a trial of a search whose record names trials by what they vary: the settings every trial shares.

    An Optuna trial's lr has 16 digits, and the keys the command set for every trial (small sizes, a few images)
    came before it in the name, which then passed MAX_NAME and became a hash. Named against the settings the
    trials share, a trial reads by what it tries: `uvb-mnist-sigma1.0-lr0.0005910317077425306`. Folders of
    studies begun before (no "trials_named") keep their names, so a relaunch still finds their trials.
    """
    hydra_cfg = job_config()
    if hydra_cfg is None or hydra_cfg.mode != RunMode.MULTIRUN or hydra_cfg.sweeper.get("_target_") == BASIC_SWEEPER:
        return None
    try:
        record = records.read_json(Path(hydra_cfg.sweep.dir) / SEARCH_RECORD)
    except (OSError, records.RecordError):
        return None
    if not isinstance(record, dict) or record.get("trials_named") != NAMED_BY_WHAT_VARIES or not isinstance(record.get("shared"), dict):
        return None
    return record["shared"]


def _run_name(cfg: DictConfig) -> str:
    if _composing_defaults:
        # OmegaConf resolves an interpolation it merges into a typed node (a config setting hydra.sweep.subdir:
        # ${run.name}); inside the defaults' own composition that would compose them again, and again.
        return "composing"
    sized, choices, search = with_model_settings(cfg), group_choices(), search_reference()
    name = run_identity.run_name(sized, choices, defaults_identity, search)
    if len(name) <= run_identity.EARLIER_MAX_NAME:
        return name
    return _earlier_name(name, run_identity.run_name(sized, choices, defaults_identity, search, run_identity.EARLIER_MAX_NAME))


def _earlier_name(name: str, earlier: str) -> str:
    """A name between EARLIER_MAX_NAME and MAX_NAME long was a hash before 2026-12-06: where the folder the run would go
    in holds the run under its earlier name (and nothing under its name), the earlier name, so the run is found there.
    Only where the folder is hydra.sweep.dir/${run.name} or <dir>/${run.name}, as conf/config.yaml has them."""
    hydra_cfg = job_config()
    if hydra_cfg is None:
        return name
    if hydra_cfg.mode == RunMode.MULTIRUN:
        raw, parent = OmegaConf.to_container(hydra_cfg.sweep, resolve=False).get("subdir"), hydra_cfg.sweep.dir
    else:  # hydra.run.dir: outputs/${run.name} by default
        raw = OmegaConf.to_container(hydra_cfg.run, resolve=False).get("dir")
        parent = raw[: -len(RUN_NAME)] if isinstance(raw, str) and raw.endswith(RUN_NAME) else None
        raw = RUN_NAME if parent is not None and "${" not in parent else None
    if raw != RUN_NAME or parent is None:
        return name
    folder = Path(parent or ".")  # the earlier name ends in a hash of the whole identity: a folder of it is this run's
    return earlier if (folder / earlier).is_dir() and not (folder / name).exists() else name


RUN_NAME = "${run.name}"  # what hydra.run.dir and hydra.sweep.subdir end with in conf/config.yaml


def sweep_group() -> str | None:
    """`${uvb_sweep_group:}`: in a job of a `-m` sweep, the sweep folder's name (multirun/table2_mnist: table2_mnist);
    None for a single run. The W&B group of conf/logger/wandb.yaml: a sweep's runs, relaunched too, share one.
    """
    hydra_cfg = job_config()
    if hydra_cfg is None or hydra_cfg.mode != RunMode.MULTIRUN:
        return None
    sweep_dir = Path(hydra_cfg.sweep.dir)
    return sweep_dir.name or sweep_dir.resolve().name or None


ConfigStore.instance().store(name=SCHEMA, node=Schema)  # conf/config.yaml's first default
if not OmegaConf.has_resolver("uvb_run_name"):
    OmegaConf.register_new_resolver("uvb_run_name", lambda *, _root_: _run_name(_root_))  # conf/config.yaml's run.name
if not OmegaConf.has_resolver("uvb_sweep_group"):
    OmegaConf.register_new_resolver("uvb_sweep_group", sweep_group)  # conf/logger/wandb.yaml's group
