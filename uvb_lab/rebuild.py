"""A trained run's model and data, rebuilt from its saved config through an allow-list: what uvb-figures and
`uvb_lab.load_run(..., model=True)` build from a run folder, and the model and loss whose FLOP the scripts count from
a sweep's record (scripts/compute_matched.py, through uvb_lab/bench's step_flops).

A run folder is data, possibly someone else's. Its config.yaml (read by uvb_lab/run/saved_config.py, resolvers
off) may name anything as a `_target_`; Hydra's instantiate() would import and call it, and a target inside
uvb_lab is no safer (`uvb_lab.run.checkpoint.prune` deletes checkpoints). So nothing here calls instantiate():

- the model, its decoder likelihood, the data and the loss are each built from a constructor that uvb-lab's own
  config groups name (conf/model/, conf/model/likelihood/, conf/data/, conf/loss/): the allow-list, read from those
  files, so a new model or dataset is allowed by its YAML file alone;
- a `_target_` anywhere else, a Hydra key other than the likelihood's `_partial_`, or a key that is not an
  argument of the constructor is refused before anything is built;
- a saved `data.download: true` is not followed: fetching files is this machine's owner's decision.

`--trust-target PREFIX` of uvb-figures adds the user's own classes, by their own explicit choice.
"""

import functools
import inspect
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import yaml
from hydra.utils import get_method

from uvb_lab.paths import CONFIG_DIR

# Where a `_target_` may stand in a saved config, and the config group whose files name the allowed ones.
GROUPS = {"model": "model", "model.likelihood": "model/likelihood", "data": "data", "loss": "loss"}
HYDRA_KEYS = {"model.likelihood": {"_target_", "_partial_"}}  # the likelihood is built for the model's sigma


class RebuildError(ValueError):
    """A saved config that cannot be rebuilt through the allow-list; nothing was built."""


@functools.cache
def allowed_targets(group: str) -> frozenset[str]:
    """The `_target_`s that the YAML files of one of uvb-lab's config groups name."""
    targets = set()
    for path in sorted((Path(CONFIG_DIR) / group).glob("*.yaml")):
        node = yaml.safe_load(path.read_text()) or {}
        if isinstance(node.get("_target_"), str):
            targets.add(node["_target_"])
    return frozenset(targets)


def _constructor(where: str, target: Any, trusted: tuple[str, ...]) -> Callable[..., Any]:
    if not isinstance(target, str):
        raise RebuildError(f"{where}._target_ is {target!r}, not the name of a constructor")
    if target not in allowed_targets(GROUPS[where]) and not (trusted and target.startswith(trusted)):
        allowed = ", ".join(sorted(allowed_targets(GROUPS[where])))
        raise RebuildError(
            f"{where}._target_={target} is not one of uvb-lab's {GROUPS[where]} constructors ({allowed}); nothing was built. "
            "If it is your own class, pass --trust-target PREFIX"
        )
    return get_method(target)


def _arguments(where: str, node: Mapping[str, Any], built: Callable[..., Any], trusted: tuple[str, ...]) -> dict[str, Any]:
    """node's settings as keyword arguments of built, every key checked; nested nodes only where allowed."""
    parameters = inspect.signature(built).parameters
    takes_any = any(p.kind is inspect.Parameter.VAR_KEYWORD for p in parameters.values())
    arguments = {}
    for key, value in node.items():
        path = f"{where}.{key}"
        if key.startswith("_") and key.endswith("_"):
            if key not in HYDRA_KEYS.get(where, {"_target_"}):
                raise RebuildError(f"{path} is not allowed in a saved config; nothing was built")
            continue
        if key not in parameters and not takes_any:
            raise RebuildError(f"{path} is not a setting of {node['_target_']}; nothing was built")
        if path in GROUPS:
            arguments[key] = build(path, value, trusted)
        elif _holds_node(value):
            raise RebuildError(f"{path} holds a node to build; only {', '.join(GROUPS)} may; nothing was built")
        else:
            arguments[key] = value
    return arguments


def _holds_node(value: Any) -> bool:
    if isinstance(value, Mapping):
        return True
    return isinstance(value, list) and any(_holds_node(inner) for inner in value)


def build(where: str, node: Any, trusted: tuple[str, ...] = ()) -> Any:
    """The object at `where` (model, model.likelihood, data or loss) of a saved config, built through the allow-list."""
    if not isinstance(node, Mapping) or "_target_" not in node:
        raise RebuildError(f"the saved config has no {where} to build (a mapping with a _target_)")
    built = _constructor(where, node["_target_"], trusted)
    arguments = _arguments(where, node, built, trusted)
    if node.get("_partial_") is True:
        return functools.partial(built, **arguments)
    if where == "data" and arguments.get("download"):
        arguments["download"] = False  # fetching files is for this machine's owner to ask, not a saved config
    return built(**arguments)
