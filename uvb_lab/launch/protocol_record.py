"""protocol.json read back as data: the one reader of a tune-then-test record for uvb-report and the scripts.

hydra/sweeper=tune_then_test writes the record (uvb_lab/launch/tune_then_test.py). Read back, it may come from a
shared sweep folder or from docs/results/, so `read` holds every field its readers take to its type before they take
it: the cells, each cell's overrides (`cell`), its choice (`chosen`, `chosen_overrides`) and its test runs
(`test_runs`: seed -> run folder, a plain name inside the sweep folder, never a path out of it), and the budget
(`budget_key`, `full_budget`). What the overrides name is built through uvb_lab/rebuild.py's allow-list alone
(scripts/compute_matched.py); nothing in the record is called. A record that breaks this is a records.RecordError
naming the file and the field.
"""

import re
from pathlib import Path
from typing import Any

from uvb_lab.launch.tune_then_test import RECORD
from uvb_lab.run import records

SEED = re.compile(r"[0-9]{1,18}")  # a trainer.seed, as a JSON object's key


def read(folder: Path) -> dict[str, Any]:
    """The protocol record of the sweep in folder, its fields checked; FileNotFoundError where it has none."""
    path = Path(folder) / RECORD
    record = records.read_json(path)

    def refuse(field: str, value: Any, expected: str) -> records.RecordError:
        return records.RecordError(f"{path}: {field} is {records.shown(value)}, not {expected}")

    if not isinstance(record, dict):
        raise records.RecordError(f"{path} is not a protocol record (a JSON object)")
    if not isinstance(record.get("cells"), dict):
        raise refuse("cells", record.get("cells"), "an object of cells")
    for name, entry in record["cells"].items():
        at = f"cells[{records.shown(name)}]"
        if not isinstance(entry, dict):
            raise refuse(at, entry, "an object")
        for key in ("cell", "chosen_overrides"):
            value = entry.get(key)
            if value is not None and not (isinstance(value, list) and all(isinstance(o, str) for o in value)):
                raise refuse(f"{at}.{key}", value, "a list of overrides (text)")
        if not isinstance(entry.get("chosen"), str | None):
            raise refuse(f"{at}.chosen", entry["chosen"], "a setting (text) or null")
        test_runs = entry.get("test_runs")
        if test_runs is None:
            continue
        if not isinstance(test_runs, dict):
            raise refuse(f"{at}.test_runs", test_runs, "an object of seed: run folder")
        for seed, run in test_runs.items():
            if not SEED.fullmatch(seed):
                raise records.RecordError(f"{path}: {at}.test_runs has a run of seed {seed[:20]!r}; a seed is an integer >= 0")
            records.folder_name(path.parent, run, f"{path}: {at}.test_runs[{seed!r}]")
    if not isinstance(record.get("budget_key"), str | None):
        raise refuse("budget_key", record["budget_key"], "a config key (text)")
    if record.get("full_budget") is not None and not records.is_count(record["full_budget"]):
        raise refuse("full_budget", record["full_budget"], "an integer >= 0")
    return record
