"""Where an ad-hoc `uvb-train -m` sweep lands: its folder, and so its W&B group, named by what it sweeps.

An experiment has its own folder (multirun/<experiment>, conf/sweep/experiment.yaml) and `hydra.sweep.dir=DIR` any
other; an ad-hoc sweep's is named by the model and data it trains (unless it sweeps them) and the keys it sweeps, with
their values for a search, whose folder holds one study of one grid. A name is readable up to the file system's limit
on one name; past it, or with characters unsafe in a path, it ends in a short hash of the sweep.

A sweep of other keys is another folder (`model=deen sigma=0.3,1.0` is not `sigma=0.3` alone): a new folder whose runs
are in a folder beside it says so under the plan, with the way to continue them there. Before 2026-12-06 every plain
ad-hoc sweep shared multirun/sweeps, and a search's folder was named by its grid alone (`multirun/lr0.001+0.003`).
"""

import re
from typing import Any

from uvb_lab.compose import SEARCH_RECORD
from uvb_lab.run import identity as run_identity

UNSAFE = re.compile(r"[^A-Za-z0-9._+-]")  # a character a folder name of ours does not hold
MAX_FOLDER_NAME = 255  # bytes in one name of a path, the limit of the usual file systems (ext4, xfs, btrfs, tmpfs)


def _short_keys(keys: list[str]) -> list[str]:
    """Swept keys as a folder name shows them: the last part (`sigma`, `lr`), the whole key where two end alike, and a
    per-model size by its model (`deen.hidden`)."""
    last = [key.rsplit(".", 1)[-1] for key in keys]
    return [key.removeprefix("sizes.") if key.startswith("sizes.") else end if last.count(end) == 1 else key
            for key, end in zip(keys, last)]


def _values(override: Any) -> str:
    if override.is_interval_sweep():
        return f"{override.value().start:g}..{override.value().end:g}"
    return "+".join(str(v) for v in override.sweep_string_iterator())


def folder_name(name: str, sweeps: list[Any]) -> str:
    """name as one folder name: characters unsafe in a path become `_` and a name past MAX_FOLDER_NAME bytes is cut,
    each then followed by a short hash of the sweep, so that two sweeps never share a name by it."""
    safe = UNSAFE.sub("_", name)
    if safe == name and len(safe.encode()) <= MAX_FOLDER_NAME:
        return name
    tag = "-" + run_identity.digest({"sweep": [str(o.input_line) for o in sweeps]})[: run_identity.HASH_CHARS]
    return safe.encode()[: MAX_FOLDER_NAME - len(tag)].decode(errors="ignore") + tag


def adhoc_sweep_name(sweeps: list[Any], choices: dict[str, str | None], searching: bool) -> str:
    """An ad-hoc sweep's folder (and W&B group), named by what it sweeps: the model and data, unless swept, then the
    swept keys. A plain sweep's by the keys alone (`uvb-gmm-by-sigma`, `gmm-by-model-sigma`), so that adding values
    or splitting the sweep in two finds the runs there; a search's (its folder holds one study, of one grid) by their
    values too (`uvb-gmm-lr0.001+0.003`, an interval `uvb-gmm-lr0.0001..0.03`), so the same grid on other data is
    another study."""
    keys = [o.get_key_element().lstrip("+~") for o in sweeps]
    head = [choices[group] for group in run_identity.NAMED_GROUPS if group not in keys and choices.get(group)]
    if searching:
        parts = [f"{key}_{_values(o)}" if key in run_identity.NAMED_GROUPS + run_identity.CHOSEN_GROUPS else f"{short}{_values(o)}"
                 for o, key, short in zip(sweeps, keys, _short_keys(keys))]
    else:
        parts = ["by", *_short_keys(keys)] if keys else []
    return folder_name("-".join([*head, *parts]) or "sweep", sweeps)


def _earlier_search_name(sweeps: list[Any]) -> str:
    """An ad-hoc search's folder as uvb-lab named it before its model and data were part of the name."""
    keys = [o.get_key_element().lstrip("+~") for o in sweeps]
    name = "-".join(f"{key}_{_values(o)}" if key in run_identity.NAMED_GROUPS + run_identity.CHOSEN_GROUPS
                    else f"{key.rsplit('.', 1)[-1]}{_values(o)}" for o, key in zip(sweeps, keys)) or "sweep"
    if len(name) > 100 or UNSAFE.search(name):
        name = "sweep-" + run_identity.digest({"sweep": [str(o.input_line) for o in sweeps]})[: run_identity.HASH_CHARS]
    return name


def earlier_folder(launch: Any, sweeps: list[Any]) -> str | None:
    """For an ad-hoc sweep whose folder does not exist yet: the folder beside it that holds most of its runs (another
    ad-hoc sweep of other keys, multirun/sweeps of before), or its study under the search's earlier name, as a line
    saying how to continue them there; None where there is none."""
    if launch.sweep_dir is None or launch.sweep_dir.exists() or not launch.sweep_dir.parent.is_dir():
        return None
    if launch.searched_by:
        earlier = launch.sweep_dir.parent / _earlier_search_name(sweeps)
        if not (earlier / SEARCH_RECORD).is_file():
            return None
        where, what = earlier, "this search's study, from before ad-hoc searches were named by their model and data"
    else:
        names = {job.folder.name for job in launch.jobs if job.folder is not None}
        found = {folder: sum((folder / name).is_dir() for name in names)
                 for folder in sorted(launch.sweep_dir.parent.iterdir()) if folder.is_dir()}
        where = max(found, key=found.get, default=None)
        if where is None or not found[where]:
            return None
        what = f"{found[where]} of these runs"
    return f"note: {where} holds {what}; to continue there instead, add hydra.sweep.dir={where}"
