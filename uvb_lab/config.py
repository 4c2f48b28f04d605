"""The config's types and ranges (conf/ is composed by uvb_lab/compose.py, which stores the schema with Hydra).

conf/config.yaml extends the schema below (its first default), so Hydra checks every value's type while
composing: `trainer.batch_size=2.5` or `sigma=abc` fail there, an unknown key too. The schema holds types
only; every value and its meaning lives in the YAML files. What a type cannot say (sigma > 0, a known
precision) is `check_values`; the keys of the groups built by `_target_` (model, data, loss, logger) are
checked against the signature of what they build (`check_arguments`), nested `_target_` nodes too
(logger=default's logger.wandb and logger.tensorboard). A key added with `+` (`+trainer.lrr=1e-3`) that no
schema group or constructor has is refused the same way (`unknown_keys`), naming the closest known keys.

The one open group is `sizes` (OPEN): per-model settings, `++sizes.<model>.<key>=value`, whose keys are each
model's own (checked against its settings by uvb_lab/compose.py); no constructor takes keys beyond its signature.

Importing this module loads no torch: `uvb-train --help` and TAB completion stay fast.
"""

import difflib
import inspect
import typing
from dataclasses import dataclass, field, fields
from typing import Any, Optional

from hydra.utils import get_method
from omegaconf import MISSING, DictConfig, OmegaConf

from uvb_lab import ranges  # the ranges a type cannot express, in a module the samplers import without Hydra

SCHEMA = "uvb_lab_schema"


class ConfigError(ValueError):
    """A config value that cannot work, found before anything is built or written."""


@dataclass
class RunSchema:
    model: str = MISSING  # the chosen model/ and data/ options, as Hydra records them
    data: str = MISSING
    name: str = MISSING  # the run folder's name, derived from the run's identity (uvb_lab/run/identity.py)


@dataclass
class TrainerSchema:
    epochs: int = MISSING
    max_steps: Optional[int] = MISSING
    batch_size: int = MISSING
    lr: float = MISSING
    lr_half_life_epochs: Optional[float] = MISSING
    warmup_steps: int = MISSING
    grad_clip: Optional[float] = MISSING
    seed: int = MISSING
    evaluate_test: bool = MISSING
    eval_seed: int = MISSING
    eval_batch_size: int = MISSING
    device: str = MISSING
    progress: bool = MISSING
    log_every_steps: Optional[int] = MISSING
    eval_every_steps: Optional[int] = MISSING
    resume: Optional[str] = MISSING
    checkpoint_every_steps: Optional[int] = MISSING
    keep_checkpoints: str = MISSING
    skip_nonfinite: bool = MISSING
    preemption_signals: list[str] = MISSING
    precision: str = MISSING
    compile: bool = MISSING


@dataclass
class FiguresSchema:
    after_training: bool = MISSING
    images: int = MISSING
    prior_samples: int = MISSING
    nebula_steps: int = MISSING
    z_samples: int = MISSING
    delta: float = MISSING
    sampler: str = MISSING
    friction: float = MISSING
    steps_per_jump: int = MISSING
    jumps: int = MISSING
    chains: int = MISSING
    seed: int = MISSING
    mixing: bool = MISSING
    classifier_epochs: int = MISSING
    cache_dir: str = MISSING


@dataclass
class Schema:
    model: Any = MISSING  # built by _target_: checked against the constructor's signature
    data: Any = MISSING
    loss: Any = MISSING
    logger: Any = MISSING
    sigma: float = MISSING
    run: RunSchema = field(default_factory=RunSchema)
    trainer: TrainerSchema = field(default_factory=TrainerSchema)
    figures: FiguresSchema = field(default_factory=FiguresSchema)
    # Per-model values of an experiment that sweeps models of different widths, read by the model's keys through
    # Per-model settings of a sweep of several models: sizes.<model>.<key> is model.<key> for that model's runs only
    # (uvb_lab/compose.py, apply_model_settings); `++sizes.deen.hidden=64` on the command line.
    sizes: Optional[Any] = None


BUILT_GROUPS = ("model", "data", "loss", "logger")
# The groups whose keys the schema lists ("" is the top level); the built groups' keys are their constructors'.
SCHEMA_GROUPS = {"": Schema, "run": RunSchema, "trainer": TrainerSchema, "figures": FiguresSchema}
OPEN = "sizes"  # per-model settings: any key of the model it names (uvb_lab/compose.py, apply_model_settings)
GIVEN_BY_THE_RUN = ("self", "run_dir", "name", "config", "run_id", "copies")  # a constructor's arguments that are no settings


def unknown_setting(key: str, known: list[str], target: str | None = None) -> str:
    """`trainer.lrr is not a setting: did you mean trainer.lr?`: a key nothing reads, with the known keys closest to it
    (compared by their last part, so the shared `trainer.` makes nothing close), or, for a constructor, all it takes."""
    parent = key.rsplit(".", 1)[0] + "." if "." in key else ""
    names = [k.rsplit(".", 1)[-1] for k in known]
    close = [parent + name for name in difflib.get_close_matches(key.rsplit(".", 1)[-1], names, n=3, cutoff=0.6)]
    owner = f" of {target}" if target else ""
    if close:
        return f"{key} is not a setting{owner}: did you mean {' or '.join(close)}?"
    if target:
        takes = f"it takes: {', '.join(names)}" if names else "it takes none"
        return f"{key} is not a setting{owner} ({takes})"
    return f"{key} is not a setting (`uvb-train --cfg job` lists them all)"


def settings_of(cfg: DictConfig, path: str) -> tuple[list[str], str | None]:
    """The keys the node at path may hold (full dotted keys), and the constructor it builds (None for a schema group):
    a schema group's fields, a `_target_` node's arguments, else the keys it has."""
    prefix = f"{path}." if path else ""
    if path in SCHEMA_GROUPS:
        return [prefix + f.name for f in fields(SCHEMA_GROUPS[path])], None
    node = OmegaConf.select(cfg, path) if path else cfg
    target = node.get("_target_") if isinstance(node, DictConfig) else None
    if target:
        try:
            parameters = inspect.signature(get_method(target)).parameters
        except Exception:  # noqa: BLE001 - check_arguments names a target that cannot be imported
            parameters = {}
        return [prefix + p for p in parameters if p not in GIVEN_BY_THE_RUN], target
    return [prefix + str(key) for key in node.keys() if not str(key).startswith("_")] if isinstance(node, DictConfig) else [], None


def unknown_key(cfg: DictConfig, key: str) -> str:
    """Why key (`trainer.lrr`, `model.hiden`, `logger.wandb.mod`) cannot be set in cfg, a config without it: its first
    part that no node has, with the closest known keys."""
    parts = key.split(".")
    depth = 0
    while depth < len(parts) - 1 and isinstance(OmegaConf.select(cfg, ".".join(parts[: depth + 1])), DictConfig):
        depth += 1
    parent, missing = ".".join(parts[:depth]), ".".join(parts[: depth + 1])
    if parts[0] == OPEN:
        return (f"{key}: sizes holds per-model settings, added with ++ (++sizes.<model>.<key>=VALUE, e.g. "
                f"++sizes.deen.hidden=64), each a key of that model")
    known, target = settings_of(cfg, parent)
    return unknown_setting(missing, known, target)


def unknown_keys(cfg: DictConfig) -> list[str]:
    """The keys that nothing reads: added with `+` (`+trainer.lrr=1e-3`, `+sigmaa=1`, `+model.hiden=64`), in a schema
    group without them or a built group whose constructor does not take them."""
    problems = [problem for group in BUILT_GROUPS if isinstance(cfg.get(group), DictConfig)
                for problem in check_arguments(group, cfg[group], keys_only=True)]
    for path, schema in SCHEMA_GROUPS.items():
        node = OmegaConf.select(cfg, path) if path else cfg
        if not isinstance(node, DictConfig):
            continue
        known = {f.name for f in fields(schema)}
        for key in node.keys():
            if key not in known and not (path == "" and key == "hydra"):
                problems.append(unknown_setting(f"{path}.{key}" if path else str(key), settings_of(cfg, path)[0]))
    return problems


def check_values(cfg: DictConfig) -> None:
    """Every range of uvb_lab/ranges.py, and every built group's keys against its target; ConfigError naming each problem."""
    found = unknown_keys(cfg)
    if found:  # the ranges below may read a key that is missing where another was misspelt
        raise ConfigError("; ".join(found))
    found = ranges.problems({key: OmegaConf.select(cfg, key) for key, _, _ in ranges.RANGES})
    for group in BUILT_GROUPS:
        found += check_arguments(group, cfg[group])
    # One noise level: training draws y at `sigma`, while x_hat (Eq. 3) and the evaluation use the model's own
    # sigma. conf/model/*.yaml ties them (sigma: ${sigma}); an override that unties them would train at one sigma
    # and score at another.
    if not cfg.trainer.evaluate_test and not OmegaConf.select(cfg, "data.val_fraction", default=0):
        found.append("trainer.evaluate_test=false scores nothing: set data.val_fraction to hold out a validation split")
    model_sigma = OmegaConf.select(cfg, "model.sigma", default=None)
    if model_sigma is not None and model_sigma != cfg.sigma:
        found.append(f"model.sigma={model_sigma} differs from sigma={cfg.sigma}: set sigma alone (the model's follows it)")
    if found:
        raise ConfigError("; ".join(found))


def check_arguments(group: str, node: DictConfig, keys_only: bool = False) -> list[str]:
    """The problems of a `_target_` node: a target that does not exist, unknown keys, values outside a Literal
    (keys_only: the unknown keys alone).

    The constructor's own checks (sizes > 0, ...) run when the run builds it; these need nothing built.
    """
    target = node.get("_target_")
    try:
        built = get_method(target) if target else None
    except Exception as error:  # noqa: BLE001 - Hydra wraps import errors in several types
        return [] if keys_only else [f"{group}._target_={target} cannot be imported ({error})"]
    if built is None:
        return [] if keys_only else [f"{group} has no _target_"]
    parameters = inspect.signature(built).parameters
    takes_any = any(p.kind is inspect.Parameter.VAR_KEYWORD for p in parameters.values())
    hints = typing.get_type_hints(built.__init__ if inspect.isclass(built) else built)
    problems = []
    for key, value in node.items():
        if key.startswith("_") and key.endswith("_"):
            continue
        if key not in parameters and not takes_any:
            problems.append(unknown_setting(f"{group}.{key}", [f"{group}.{p}" for p in parameters if p not in GIVEN_BY_THE_RUN], target))
            continue
        allowed = typing.get_args(hints[key]) if typing.get_origin(hints.get(key)) is typing.Literal else None
        if allowed and value not in allowed and not keys_only:
            problems.append(f"{group}.{key} must be one of {', '.join(map(str, allowed))}, got {value}")
        if isinstance(value, DictConfig) and "_target_" in value:  # a node built inside this one (logger=default's trackers)
            problems += check_arguments(f"{group}.{key}", value, keys_only)
    return problems

