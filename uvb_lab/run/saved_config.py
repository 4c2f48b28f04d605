"""A run folder's config.yaml, read back as data: plain values, no interpolation, no YAML tags, no code.

A run folder may come from someone else (a colleague's sweep, a downloaded result). Its config.yaml was written
by uvb-train with every interpolation resolved (uvb_lab/run/files.py), so a `${...}` in it can only have been
put there by hand, and OmegaConf would evaluate it on access: `${oc.create:{_target_: subprocess.call, ...}}`
turns a plain string into a node to build, and `${oc.env:...}` reads this machine's environment. Resolvers are
therefore off: a saved config holding one is refused whole, as is anything YAML's safe loader cannot read
(`!!python/...` tags, a truncated file). What the config names to build is checked separately, against the
allow-list of uvb_lab/rebuild.py.

Reading is bounded: the file's size, its depth (deep nesting would end in a RecursionError) and no YAML aliases: a few
hundred bytes of `&a [*b, *b, ...]` expand to billions of values ("billion laughs"), and uvb-train never writes one
(OmegaConf writes every value in full).
"""

from collections.abc import Mapping
from pathlib import Path
from typing import Any

import yaml
from omegaconf import DictConfig, OmegaConf
from omegaconf._utils import get_yaml_loader  # the loader of OmegaConf.load, which uvb-train's files were read by

from uvb_lab.run import legacy
from uvb_lab.run.files import CONFIG
from uvb_lab.run.records import RecordError

# A resolved config is a few kB, some 5 levels deep; a larger or deeper file is not one uvb-train wrote.
MAX_BYTES = 1 << 20
MAX_VALUES = 100_000
MAX_DEPTH = 32
INTERPOLATION = "${"


class SavedConfigError(RecordError):
    """config.yaml of a run folder that is not a plain resolved config; nothing was built or written."""


class _BoundedLoader(get_yaml_loader()):
    """OmegaConf's YAML loader (YAML's safe one, a tag such as !!python/object is an error, never a call; 1e-4 read as
    a number, as uvb-train wrote it) that refuses aliases and nodes deeper than MAX_DEPTH as it composes them."""

    depth = 0

    def compose_node(self, parent, index):
        if self.check_event(yaml.AliasEvent):
            anchor = self.peek_event().anchor
            raise SavedConfigError(f"holds a YAML alias (*{anchor}), which uvb-train never writes and which can expand a small file without bound")
        self.depth += 1
        try:
            if self.depth > MAX_DEPTH:
                raise SavedConfigError(f"nests values more than {MAX_DEPTH} levels deep; not a config written by uvb-train")
            return super().compose_node(parent, index)
        finally:
            self.depth -= 1


def _check_plain(value: Any, where: str, budget: list[int], interpolations: bool = False) -> None:
    budget[0] -= 1
    if budget[0] < 0:
        raise SavedConfigError(f"holds more than {MAX_VALUES} values; not a config written by uvb-train")
    if isinstance(value, Mapping):
        for key, inner in value.items():
            if not isinstance(key, str):
                raise SavedConfigError(f"has a key {key!r} that is not text at {where or 'the top level'}")
            _check_plain(inner, f"{where}.{key}" if where else key, budget, interpolations)
    elif isinstance(value, list):
        for index, inner in enumerate(value):
            _check_plain(inner, f"{where}[{index}]", budget, interpolations)
    elif isinstance(value, str):
        if INTERPOLATION in value and not interpolations:
            raise SavedConfigError(
                f"holds an interpolation at {where} ({value[:60]!r}); uvb-train saves configs resolved, so this was "
                "added by hand, and interpolations are never evaluated from a run folder"
            )
    elif value is not None and not isinstance(value, bool | int | float):
        raise SavedConfigError(f"holds a {type(value).__name__} at {where}; a saved config holds only plain values")


def read_plain(path: Path, upgrade: bool = True, interpolations: bool = False) -> dict[str, Any]:
    """The YAML file at path as plain containers, with upgrade in today's terms (uvb_lab/run/legacy.py); SavedConfigError else.

    interpolations=True reads a file Hydra writes unresolved (a sweep folder's multirun.yaml): its `${...}` stay
    text, never evaluated, as every string read here does."""
    try:
        if path.stat().st_size > MAX_BYTES:
            raise SavedConfigError(f"{path} is larger than {MAX_BYTES} bytes; not a config written by uvb-train")
    except OSError as error:
        raise SavedConfigError(f"cannot read {path} ({error})") from error
    try:
        with open(path, "rb") as f:
            loaded = yaml.load(f, Loader=_BoundedLoader)  # plain containers: every string stays the text it is
    except SavedConfigError as error:
        raise SavedConfigError(f"{path} {error}; nothing was built") from None
    except RecursionError:
        raise SavedConfigError(f"{path} nests values deeper than Python can read; not a config written by uvb-train") from None
    except (yaml.YAMLError, ValueError, OSError) as error:  # ValueError: also an integer of thousands of digits
        first = str(error).splitlines()[0] if str(error) else type(error).__name__
        raise SavedConfigError(f"{path} is not valid YAML of plain values ({first}); nothing was built") from error
    loaded = {} if loaded is None else loaded  # an empty file: a config of no settings, refused for what it lacks
    if not isinstance(loaded, dict):
        raise SavedConfigError(f"{path} is not a config (a mapping of settings); it may be truncated or damaged")
    try:
        _check_plain(loaded, "", [MAX_VALUES], interpolations)
    except SavedConfigError as error:
        raise SavedConfigError(f"{path} {error}") from None
    return legacy.upgrade_config(loaded) if upgrade else loaded


def read(run_dir: Path, upgrade: bool = True) -> DictConfig:
    """config.yaml of run_dir as a DictConfig of plain values (no interpolation can be in it); upgrade=False: as written."""
    path = Path(run_dir) / CONFIG
    if not path.is_file():
        raise SavedConfigError(f"{run_dir} is not a uvb-train run folder: {path} is missing")
    return OmegaConf.create(read_plain(path, upgrade))
