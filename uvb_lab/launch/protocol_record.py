"""protocol.json: the record of a tune-then-test comparison (uvb_lab/launch/tune_then_test.py), its layout written
once here, and the one reader that checks it before anything uses it (the sweeper's relaunch, its --dry-run preview,
uvb-report). A record that breaks the layout is refused with one line naming the file and the field.

Format 2 (this uvb-lab writes it). One JSON object; budgets and seeds are JSON keys, so strings of integers:

    format         2
    budget_key     trainer.epochs | trainer.max_steps
    full_budget    the last rung's budget, every test seed's
    eta, rungs     halving's eta; its rungs as [settings kept, budget] pairs
    grid           the settings' names, in the grid's order
    tuning_seeds   the seeds every setting is tuned on (hydra.sweeper.tuning_seeds of them)
    aggregate      mean | worst: how a setting's validation losses over its tuning seeds make its score
    seeds          the test seeds
    exhaustive     bool; choose_by: halving | exhaustive
    cells          cell name -> {
      cell               the overrides that make the cell
      trials             setting -> tuning seed -> {"run": its folder's name, "at": {budget: validation loss, or the
                         word for why it has none: diverged | failed | no validation loss | refused}}
      val_loss           setting -> budget -> the aggregate over the tuning seeds, once each has a result there
                         (null: a seed had no finite loss, so the setting scores worst)
      halving_choice     halving's choice (null until made, or where no setting was left)
      exhaustive_choice  with exhaustive: true, the best at the full budget
      chosen             the setting the test seeds train (null until there is one)
      no_choice          present where the cell chose nothing: "every setting failed"
      chosen_overrides   the chosen setting's overrides
      test_runs          test seed -> run folder, of the chosen setting
      test_runs_of       setting -> test seed -> run folder, every setting ever tested
      test_outcomes_of   setting -> test seed -> finished | diverged | failed | no test loss | refused
    }

A trial or seed absent from the record was never run; one present with a word ran and came to that (a result,
not retried unless hydra.sweeper.retry_failed=true). Every run named is a folder inside the sweep folder.

Format 1 (uvb-lab before several tuning seeds) had no tuning_seeds, aggregate, trials, test_outcomes_of or no_choice;
its val_loss was the one tuning seed's loss (null: failed). uvb-report reads it as one tuning seed; a relaunch over
it is refused (tune_then_test.py says why).
"""

import json
import math
import re
from pathlib import Path
from typing import Any

from uvb_lab.launch.sweep_files import PROTOCOL_RECORD
from uvb_lab.launch.trials import SEED_OUTCOMES, TRIAL_RESULTS, RecordError, Trial, valid_run_name
from uvb_lab.run import records
from uvb_lab.run.files import write_atomic

RECORD = PROTOCOL_RECORD
FORMAT = 2
FORMATS = (1, FORMAT)  # the formats read
HALVING, EXHAUSTIVE = "halving", "exhaustive"  # hydra.sweeper.choose_by: whose choice the test seeds train
MEAN, WORST = "mean", "worst"  # hydra.sweeper.aggregate
EVERY_SETTING_FAILED = "every setting failed"
INTEGER = re.compile(r"-?[0-9]+")


def empty() -> dict[str, Any]:
    return {"format": FORMAT, "cells": {}}


class _Checker:
    """Walks a record, naming the field where it breaks the layout."""

    def __init__(self, path: Path):
        self.path = path

    def fail(self, field: str, value: Any, expected: str) -> None:
        shown = repr(value)
        raise RecordError(f"{self.path}: {field} is {shown[:60] + '...' if len(shown) > 60 else shown}, not {expected}")

    def of(self, value: Any, field: str, types: tuple[type, ...], expected: str) -> Any:
        if not isinstance(value, types) or isinstance(value, bool) and bool not in types:
            self.fail(field, value, expected)
        return value

    def text(self, value: Any, field: str, optional: bool = False) -> str | None:
        return None if optional and value is None else self.of(value, field, (str,), "a string")

    def integer(self, value: Any, field: str, least: int | None = None) -> int:
        self.of(value, field, (int,), "an integer")
        if least is not None and value < least:
            self.fail(field, value, f"an integer >= {least}")
        return value

    def texts(self, value: Any, field: str) -> list[str]:
        for i, item in enumerate(self.of(value, field, (list,), "a list")):
            self.text(item, f"{field}[{i}]")
        return value

    def mapping(self, value: Any, field: str, keys: str = "text") -> dict:
        self.of(value, field, (dict,), "an object")
        for key in value:
            if keys == "integer" and not INTEGER.fullmatch(key):
                self.fail(f"{field} key", key, "an integer (a seed or a budget)")
        return value

    def loss(self, value: Any, field: str, words: tuple[str, ...] = ()) -> None:
        if isinstance(value, str) and value in words:
            return
        if not (isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)):
            self.fail(field, value, "a finite loss" + (f" or one of: {', '.join(words)}" if words else ""))

    def run(self, value: Any, field: str) -> None:
        if value is not None and not valid_run_name(value):
            self.fail(field, value, "the name of a folder inside the sweep folder")

    def choice(self, value: Any, field: str, allowed: tuple[str, ...]) -> None:
        if value not in allowed:
            self.fail(field, value, " or ".join(allowed))


def check(record: Any, path: Path) -> dict[str, Any]:
    """The record, if it keeps the layout of its format; RecordError naming the file and the first field that does not."""
    c = _Checker(path)
    c.of(record, "the file", (dict,), "a JSON object")
    c.choice(record.get("format"), "format", FORMATS)
    version = record["format"]
    for key, least in (("full_budget", 1), ("eta", 2)):
        if key in record:
            c.integer(record[key], key, least)
    if "budget_key" in record:
        c.text(record["budget_key"], "budget_key")
    for i, rung in enumerate(c.of(record.get("rungs", []), "rungs", (list,), "a list")):
        if not (isinstance(rung, list) and len(rung) == 2):
            c.fail(f"rungs[{i}]", rung, "a pair [settings, budget]")
        for j, number in enumerate(rung):
            c.integer(number, f"rungs[{i}][{j}]", 1)
    c.texts(record.get("grid", []), "grid")
    for key in ("seeds", "tuning_seeds"):
        for i, seed in enumerate(c.of(record.get(key, []), key, (list,), "a list")):
            c.integer(seed, f"{key}[{i}]")
    if version == FORMAT:
        if not record.get("tuning_seeds"):
            c.fail("tuning_seeds", record.get("tuning_seeds"), "a list of one seed or more")
        c.choice(record.get("aggregate"), "aggregate", (MEAN, WORST))
    if "exhaustive" in record:
        c.of(record["exhaustive"], "exhaustive", (bool,), "true or false")
    if "choose_by" in record:
        c.choice(record["choose_by"], "choose_by", (HALVING, EXHAUSTIVE))
    for name, entry in c.mapping(record.get("cells"), "cells").items():
        _check_cell(c, entry, f"cells[{name!r}]", version)
    return record


def _check_cell(c: _Checker, entry: Any, where: str, version: int) -> None:
    c.mapping(entry, where)
    c.texts(entry.get("cell", []), f"{where}.cell")
    for setting, by_budget in c.mapping(entry.get("val_loss", {}), f"{where}.val_loss").items():
        for budget, value in c.mapping(by_budget, f"{where}.val_loss[{setting!r}]", "integer").items():
            if value is not None:
                c.loss(value, f"{where}.val_loss[{setting!r}][{budget!r}]")
    for setting, by_seed in c.mapping(entry.get("trials", {}), f"{where}.trials").items():
        for seed, trial in c.mapping(by_seed, f"{where}.trials[{setting!r}]", "integer").items():
            field = f"{where}.trials[{setting!r}][{seed!r}]"
            c.mapping(trial, field)
            c.run(trial.get("run"), f"{field}.run")
            for budget, value in c.mapping(trial.get("at", {}), f"{field}.at", "integer").items():
                c.loss(value, f"{field}.at[{budget!r}]", TRIAL_RESULTS)
    for key in ("halving_choice", "exhaustive_choice", "chosen", "no_choice"):
        c.text(entry.get(key), f"{where}.{key}", optional=True)
    if "chosen_overrides" in entry:
        c.texts(entry["chosen_overrides"], f"{where}.chosen_overrides")
    for seed, run in c.mapping(entry.get("test_runs", {}), f"{where}.test_runs", "integer").items():
        c.run(run, f"{where}.test_runs[{seed!r}]")
    for setting, by_seed in c.mapping(entry.get("test_runs_of", {}), f"{where}.test_runs_of").items():
        for seed, run in c.mapping(by_seed, f"{where}.test_runs_of[{setting!r}]", "integer").items():
            c.run(run, f"{where}.test_runs_of[{setting!r}][{seed!r}]")
    for setting, by_seed in c.mapping(entry.get("test_outcomes_of", {}), f"{where}.test_outcomes_of").items():
        for seed, word in c.mapping(by_seed, f"{where}.test_outcomes_of[{setting!r}]", "integer").items():
            c.choice(word, f"{where}.test_outcomes_of[{setting!r}][{seed!r}]", SEED_OUTCOMES)


def _no_constants(token: str) -> float:
    raise ValueError(f"{token} is not JSON")  # Python's json reads NaN and Infinity, which JSON has not


def read_record(path: Path) -> dict[str, Any]:
    """The checked record in path (format 1 or 2), or an empty one where there is none; RecordError, one line, else."""
    if not path.is_file():
        return empty()
    try:
        if path.stat().st_size > records.MAX_BYTES:
            raise ValueError(f"larger than {records.MAX_BYTES} bytes")
        record = json.loads(path.read_text(), parse_constant=_no_constants)
    except (OSError, UnicodeDecodeError, ValueError, RecursionError) as error:
        raise RecordError(f"{path}: not a readable protocol record ({str(error).splitlines()[0] if str(error) else error})") from error
    return check(record, path)


def read(folder: Path) -> dict[str, Any]:
    """The checked protocol record of the sweep in folder, for uvb-report and the scripts; FileNotFoundError where the
    folder has none (a relaunch's memory, read_record, starts empty instead)."""
    path = Path(folder) / RECORD
    if not path.is_file():
        raise FileNotFoundError(f"{path}: no protocol record here (a tune-then-test sweep folder has one)")
    return read_record(path)


def write_record(path: Path, record: dict[str, Any]) -> None:
    """protocol.json, atomically; untouched where nothing changed (a relaunch that ran nothing)."""
    text = json.dumps(record, indent=2, sort_keys=False, allow_nan=False) + "\n"
    if not path.is_file() or path.read_text() != text:
        write_atomic(path, lambda tmp: tmp.write_text(text))


def load_trials(entry: dict[str, Any]) -> dict[str, dict[int, Trial]]:
    """A checked cell's trials: setting -> tuning seed -> Trial (budgets and seeds as integers)."""
    return {
        setting: {int(seed): Trial(trial.get("run"), {int(b): v for b, v in trial.get("at", {}).items()}) for seed, trial in by_seed.items()}
        for setting, by_seed in entry.get("trials", {}).items()
    }


def dump_trials(trials: dict[str, dict[int, Trial]]) -> dict[str, Any]:
    return {
        setting: {str(seed): {"run": trial.run, "at": {str(b): trial.at[b] for b in sorted(trial.at)}} for seed, trial in sorted(by_seed.items())}
        for setting, by_seed in trials.items()
    }
