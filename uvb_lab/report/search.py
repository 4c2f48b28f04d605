"""A search folder read as a search: successive halving's table, or a sweeper such as Optuna's (conf/hparams_search/), every
trial's setting beside its validation loss, best first, the best trial named; the table cells of the paper show runs,
not trials.

A search scores the validation split alone, so its report leads with validation numbers. A test number a trial
scored is that of a tuning run, whose setting was chosen on validation, not of a fresh seed: it is labelled so. A
winner at the smallest or largest value a numeric key was tried at may lie beyond the grid: it is flagged (`edges`),
here and in the tune-then-test table (uvb_lab/report/protocol.py).
"""

import csv
import io
import math
import warnings
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

from uvb_lab.compose import SEARCH_RECORD  # noqa: F401 - written by uvb-train before a search starts (launch/plan.py)
from uvb_lab.launch import successive_halving
from uvb_lab.report.stats import number
from uvb_lab.run import summary as run_summary
from uvb_lab.run.files import SUMMARY, RunStatus
from uvb_lab.run.folder import IDENTITY, RunRefused, recorded_identity

TUNING_TEST = ("that of a tuning run (the search chose its setting on the validation split), not of a fresh seed: for a test "
               "number, train fresh seeds of the chosen setting (hydra/sweeper=tune_then_test, docs/protocol.md)")


def setting_values(name: str) -> dict[str, str]:
    """The key=value overrides of a configuration's name ('trainer.lr=0.01 model.hidden=32'), by key."""
    return dict(part.split("=", 1) for part in name.split() if "=" in part)


def _numeric(value: Any) -> float | None:
    if isinstance(value, bool):
        return None
    try:
        number_ = float(str(value))
    except ValueError:
        return None
    return number_ if math.isfinite(number_) else None


def edges(chosen: Mapping[str, Any], tried: Iterable[Mapping[str, Any]]) -> list[str]:
    """Where the chosen setting sits at the smallest or largest value a numeric key was tried at (a key tried at two
    values or more): ['trainer.lr=0.03 is the largest value tried']; empty where it sits inside the grid."""
    tried = list(tried)
    found = []
    for key, value in chosen.items():
        values = {v for setting in tried if key in setting and (v := _numeric(setting[key])) is not None}
        mine = _numeric(value)
        if mine is None or len(values) < 2:
            continue
        if mine in (min(values), max(values)):
            found.append(f"{key}={value} is the {'smallest' if mine == min(values) else 'largest'} value tried")
    return found


def edge_warning(found: list[str]) -> str:
    """'⚠ at the grid's edge (trainer.lr=0.03 is the largest value tried): widen the grid'; empty for no edge."""
    return f"⚠ at the grid's edge ({'; '.join(found)}): widen the grid" if found else ""


def halving_section(folder: Path) -> str:
    """Successive halving's table in folder as Markdown (read through its checks: RecordError if malformed): each
    configuration's validation loss at each rung's budget, the chosen one named with its validation loss, flagged where
    it sits at the grid's edge, and its run's test loss, where it scored one, labelled as a tuning run's."""
    path = folder / successive_halving.TABLE
    table = successive_halving.table_markdown(path)  # checks the table first
    rows = list(csv.DictReader(io.StringIO(path.read_text())))
    budgets = [column for column in (rows[0] if rows else {}) if "=" in column]
    lines = [f"## Successive halving in {folder}",
             "Each configuration's validation loss at each rung's budget: the search scored the validation split alone, and "
             "kept the best 1/eta of each rung for the next."]
    chosen = next((row for row in rows if row[successive_halving.CHOSEN] == "yes"), None)
    if chosen is None:
        lines.append("No configuration chosen yet.")
    else:
        name = chosen[successive_halving.CONFIG]
        score = next((f", validation loss {number(float(chosen[b]))} at {b}" for b in reversed(budgets) if _numeric(chosen[b]) is not None), "")
        lines.append(f"Chosen: {name}{score}.")
        if warning := edge_warning(edges(setting_values(name), [setting_values(row[successive_halving.CONFIG]) for row in rows])):
            lines.append(f"{warning}.")
        run = chosen.get(successive_halving.RUN)
        if run and (folder / run / SUMMARY).is_file():
            test_loss = run_summary.read(folder / run).get(run_summary.TEST_LOSS)
            if test_loss is not None:
                lines.append(f"Its run's test loss, {number(test_loss)}, is {TUNING_TEST}.")
    return "\n\n".join([*lines, table]) + "\n"


def trials(folder: Path) -> list[tuple[dict, dict, str]]:
    """(identity, summary, folder name) of every run in a search folder that has written its summary; records.RecordError
    where a record of one is damaged."""
    found = []
    for run_dir in sorted(p for p in folder.iterdir() if (p / IDENTITY).is_file() and (p / SUMMARY).is_file()):
        try:
            identity = recorded_identity(run_dir)
        except RunRefused as error:  # made by a newer uvb-lab
            warnings.warn(f"{run_dir}: cannot read its identity ({error}); not a trial of this table", stacklevel=2)
            continue
        found.append((identity, run_summary.read(run_dir), run_dir.name))
    return found


def _finite(value: Any) -> float:
    return value if isinstance(value, int | float) and math.isfinite(value) else math.inf


def search_table(folder: Path) -> str | None:
    """The trials of the search in folder as Markdown, best validation loss first; None for a folder without trials."""
    runs = trials(folder)
    if not runs:
        return None
    searched = sorted({key for identity, _, _ in runs for key in identity if len({str(i.get(key)) for i, _, _ in runs}) > 1})
    runs.sort(key=lambda run: _finite(run[1].get(run_summary.VAL_LOSS)))
    tested = any(summary.get(run_summary.TEST_LOSS) is not None for _, summary, _ in runs)
    best = runs[0]
    lines = [f"## The search in {folder}", ""]
    if math.isfinite(_finite(best[1].get(run_summary.VAL_LOSS))):
        chosen = {key: best[0].get(key) for key in searched}
        warning = edge_warning(edges(chosen, [{key: identity.get(key) for key in searched} for identity, _, _ in runs]))
        lines.append(f"{len(runs)} trials, best val_loss first. The best: {best[2]} "
                     f"({', '.join(f'{k}={v}' for k, v in chosen.items()) or 'the only setting'}), "
                     f"val_loss {number(best[1][run_summary.VAL_LOSS])}.{f' {warning}.' if warning else ''}")
    else:
        lines.append(f"{len(runs)} trials, none with a validation loss (made before uvb-lab's searches scored the validation "
                     "split alone, or none finished): no best is named.")
    if tested:
        lines.append(f"A trial's test loss is {TUNING_TEST}.")
    test_header = ["test loss (a tuning run's)"] if tested else []
    lines += ["", "| " + " | ".join([*searched, "val_loss", *test_header, "epochs", "status", "folder"]) + " |",
              "|" + "---|" * (len(searched) + 4 + len(test_header))]
    for identity, summary, name in runs:
        value = _finite(summary.get(run_summary.VAL_LOSS))
        cells = [str(identity.get(key)) for key in searched]
        status = summary.get(run_summary.STATUS)
        # trained, but its loss is not finite; finished without a validation split; stopped
        unscored = "not scored" if status == RunStatus.UNSCORED else "—" if status == RunStatus.FINISHED else "failed"
        cells.append(number(value) if math.isfinite(value) else unscored)
        if tested:
            test_loss = summary.get(run_summary.TEST_LOSS)
            cells.append("—" if test_loss is None else number(test_loss))
        cells += [str(summary.get(run_summary.EPOCHS_DONE)), str(status), name]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"
