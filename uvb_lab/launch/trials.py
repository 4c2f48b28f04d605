"""A search's trial read from its own run folder: its validation loss at a budget, and how it ended.

A trial's loss at a rung is the `val_loss` of the evaluation row its metrics.jsonl holds at that rung's budget
(`trainer.epochs=3`: the row at the end of epoch 3; `trainer.max_steps=30`: the row at step 30), never the value its
job returns or its summary's last number. So a search's lost or partial record is rebuilt exactly from the folders,
and a trial that trained past a budget (asked for less by a later launch) is scored at that budget's row. A trial
whose folder has no row at a budget it trained past cannot be scored there: a refusal (RecordError), not a guess.

What a trial is at a budget, in a search's record: its validation loss there (a finite number), or the word for why
it has none. Each word is a result, scored worst (inf); a relaunch does not retry it unless told
(hydra.sweeper.retry_failed=true):

    diverged            the non-finite guard stopped it (FloatingPointError), or its validation loss is not finite
    failed              it crashed, or could not write
    no validation loss  it finished without a validation loss at the budget (no split held out, or it stopped short)
    refused             its job was refused (a bad value, a folder of another run); nothing was trained

A trial that was stopped (preempted, Ctrl-C) or whose folder another uvb-train held is no result: the same command
runs it again. A test seed's outcome is one of these too, with `finished` for one whose test loss is finite and `no
test loss` in place of `no validation loss`.
"""

import json
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from hydra.core.utils import JobReturn, JobStatus

from uvb_lab.launch import outcome as job_outcome
from uvb_lab.run import folder as run_folder
from uvb_lab.run import records
from uvb_lab.run import summary as run_summary
from uvb_lab.run.files import METRICS, STOP_EVALUATIONS, SUMMARY, RunStatus, evaluations
from uvb_lab.run.summary import STATUS, TEST_LOSS, VAL_LOSS

FINISHED, DIVERGED, FAILED, NO_VALIDATION, NO_TEST, REFUSED = (
    "finished", "diverged", "failed", "no validation loss", "no test loss", "refused"
)
TRIAL_RESULTS = (DIVERGED, FAILED, NO_VALIDATION, REFUSED)  # the words a record holds in place of a trial's loss
SEED_OUTCOMES = (FINISHED, DIVERGED, FAILED, NO_TEST, REFUSED)  # a test seed's

EPOCHS, STEPS = "trainer.epochs", "trainer.max_steps"  # the budget keys a trial's rows can be read at


# RecordError: a search's record, or a file of one of its runs, that cannot be relied on (one line naming the file
# and the field); one type with the run folder's own records (uvb_lab/run/records.py), so every CLI refuses them alike.
RecordError = records.RecordError


def _number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def evaluation_rows(run_dir: Path) -> list[dict[str, Any]]:
    """The evaluation rows of run_dir's metrics.jsonl, each checked (step an integer, epoch a number, the losses
    numbers or null); a half-written last line (a kill while writing) is left out. RecordError on anything else."""
    path = run_dir / METRICS
    try:
        lines = path.read_text().splitlines() if path.is_file() else []
    except (OSError, UnicodeDecodeError) as error:
        raise RecordError(f"{path}: cannot be read ({error})") from error
    rows = []
    for number, line in enumerate(lines, 1):
        try:
            row = json.loads(line)
        except ValueError as error:
            if number == len(lines):
                continue
            raise RecordError(f"{path}: line {number} is not JSON ({error})") from error
        if not isinstance(row, dict):
            raise RecordError(f"{path}: line {number} is not a JSON object")
        for key, ok in (("step", lambda v: isinstance(v, int) and not isinstance(v, bool) and v >= 0),
                        ("epoch", lambda v: _number(v) and math.isfinite(v) and v >= 0),
                        (VAL_LOSS, lambda v: v is None or _number(v)), (TEST_LOSS, lambda v: v is None or _number(v)),
                        ("eval", lambda v: isinstance(v, str))):
            if (key in row or key in ("step", "epoch")) and not ok(row.get(key)):
                raise RecordError(f"{path}: line {number}: {key!r} is {row.get(key)!r}")
        rows.append(row)
    return evaluations(rows)


def check_budget_key(budget_key: str) -> None:
    """ValueError unless a trial's rows can be read at budgets of this key."""
    if budget_key not in (EPOCHS, STEPS):
        raise ValueError(f"hydra.sweeper.budget_key={budget_key}: a budget is {EPOCHS} or {STEPS}, where each trial's rows are read")


def _at(row: dict[str, Any], budget_key: str) -> float:
    """Where an evaluation row stands in units of the budget: its epoch, or its step."""
    return row["step"] if budget_key == STEPS else row["epoch"]


def budget_row(rows: list[dict[str, Any]], budget_key: str, budget: int) -> dict[str, Any] | None:
    """The evaluation row at the budget: for epochs, the end of that epoch; for steps, the evaluation at that step
    (not one made only because the run was stopped there)."""
    if budget_key == EPOCHS:
        found = [row for row in rows if row.get("eval", "epoch_end") == "epoch_end" and row["epoch"] == budget]
    else:
        found = [row for row in rows if row.get("eval") not in STOP_EVALUATIONS and row["step"] == budget]
    return found[-1] if found else None


def loss_at(run_dir: Path, budget_key: str, budget: int) -> float | str:
    """The trial's validation loss at the budget, read from its own rows, or the word for why it has none there.
    RecordError where it trained past the budget without an evaluation there (its loss at the budget is unknown)."""
    rows = evaluation_rows(run_dir)
    row = budget_row(rows, budget_key, budget)
    if row is None:
        furthest = max((_at(r, budget_key) for r in rows), default=0)
        if furthest > budget:
            raise RecordError(
                f"{run_dir / METRICS}: the trial trained to {budget_key}={furthest:g} and has no evaluation at {budget}, so its "
                f"loss at that budget is unknown (a search of other rungs); give this search its own hydra.sweep.dir"
            )
        return NO_VALIDATION
    if VAL_LOSS not in row:
        return NO_VALIDATION
    value = row[VAL_LOSS]  # null: metrics.jsonl's word for a loss that was not finite
    return float(value) if value is not None and math.isfinite(value) else DIVERGED


def test_outcome(run_dir: Path) -> str:
    """A test seed that ran to its end: finished where its summary's test loss is finite (diverged where it is not:
    trainer.skip_nonfinite kept it going). RecordError on a summary.json a reader cannot rely on."""
    path = run_dir / SUMMARY
    try:
        summary = run_summary.read(run_dir)  # checked against its schema as it is read
    except FileNotFoundError:
        return FAILED
    except (OSError, ValueError, TypeError) as error:
        raise RecordError(f"{path}: {error}") from error
    if summary[STATUS] == RunStatus.UNSCORED:  # trainer.skip_nonfinite kept it going to a loss that is not finite
        return DIVERGED
    if summary[STATUS] != RunStatus.FINISHED:
        return FAILED
    if TEST_LOSS not in summary:
        return NO_TEST
    value = summary[TEST_LOSS]  # null: not finite
    return FINISHED if value is not None and math.isfinite(value) else DIVERGED


def folder_of(result: JobReturn) -> Path | None:
    """The run folder a job trained in (Hydra's output_dir for it)."""
    try:
        return Path(result.hydra_cfg.hydra.runtime.output_dir)
    except (AttributeError, TypeError):
        return None


def result_of(result: JobReturn, did: str | None, read) -> str | float | None:
    """What a launched trial or seed came to: read(folder) where its job ran to its end (trained, continued or found
    finished), else the word for how it ended; None where it is no result (stopped, or its folder was busy).

    did: what the job noted (uvb_lab/launch/outcome.py); None where it left no note (it crashed out of the job)."""
    folder = folder_of(result)
    if did in (job_outcome.STOPPED, job_outcome.BUSY):
        return None
    if did == job_outcome.DIVERGED:
        return DIVERGED
    if did == job_outcome.REFUSED:
        return REFUSED
    if did == job_outcome.FAILED or result.status != JobStatus.COMPLETED or folder is None:
        return FAILED
    if did is None:  # no note: what the folder says
        status = (run_folder.read_summary_or_checkpoint(folder) or {}).get(STATUS)
        if status in (RunStatus.PREEMPTED, RunStatus.INTERRUPTED):
            return None
        if status != RunStatus.FINISHED:
            return FAILED
    return read(folder)


def score(value: str | float | None) -> float:
    """A result as the number the search ranks: its loss, inf for every word (and for no result yet)."""
    return value if _number(value) and math.isfinite(value) else math.inf


def valid_run_name(name: Any) -> bool:
    """A recorded run is a folder inside the search's folder: one plain name, never a path (`../x`, `/tmp/x`)."""
    return (isinstance(name, str) and name not in ("", ".", "..") and "/" not in name and "\\" not in name
            and "\0" not in name and len(name) <= 255)


@dataclass
class Trial:
    """One trial in a search's record: where it ran and what it came to at each budget it was launched for."""

    run: str | None = None  # its folder, a name inside the search folder; None in a record that did not keep it
    at: dict[int, float | str] = field(default_factory=dict)  # budget -> validation loss, or the word for why none

    def wants(self, budget: int, retry_failed: bool) -> bool:
        """Whether a launch must run it at this budget: never launched there, or a failure to retry. A trial that failed
        at a smaller budget (diverged, or stopped) stays failed at a larger one: the exhaustive grid does not ask to
        continue it, unless failures are retried."""
        if not retry_failed and any(isinstance(result, str) for at, result in self.at.items() if at < budget):
            return False
        return budget not in self.at or (retry_failed and isinstance(self.at[budget], str))


def check_extends(trials: dict[str, Trial], budgets: list[int], budget_key: str, sweep_dir: Path, record: Path, what: str = "search") -> None:
    """RecordError where a trial trained past a budget of this schedule that it has no result for, and its folder has no
    evaluation there: its loss at that budget is unknown (a relaunch with another eta or min_budget, over runs trained
    without an evaluation there). A trial whose folder has the row is simply read there; a larger max_budget only adds
    rungs above the record's."""
    beyond = []
    for label, trial in trials.items():
        missing = [budget for budget in budgets if budget not in trial.at]
        if not missing or not trial.at and trial.run is None:
            continue
        if trial.run is None:  # a record that names no folder: how far it trained is what it recorded
            furthest = max(trial.at)
            unknown = [budget for budget in missing if budget < furthest]
        else:
            folder = sweep_dir / trial.run
            rows = evaluation_rows(folder) if folder.is_dir() else []
            furthest = max((_at(row, budget_key) for row in rows), default=0)
            unknown = [budget for budget in missing if budget < furthest and budget_row(rows, budget_key, budget) is None]
        if unknown:
            beyond.append(f"{label} (trained to {furthest:g}, no loss at {unknown[0]})")
    if beyond:
        raise RecordError(f"{record} is of a {what} with other rungs, {', '.join(beyond)}; give this one its own hydra.sweep.dir")


NOT_RUN = "not run"  # launched but no result (stopped, or its folder busy): the same command runs it again


def closing_line(head: str, results: list[tuple[str, str]], no_choice: list[str]) -> tuple[str, int]:
    """A search's closing line and exit code. results: (outcome word or NOT_RUN, the trial or seed it is) for
    everything not finished; no_choice: the cells (or the search) that chose nothing.

    1 if one failed or was not run, else 2 if one was refused or a choice was not made, else 0: a trial that diverged
    or had no validation loss is a result, scored worst."""
    counts = {word: sum(w == word for w, _ in results) for word in dict.fromkeys(w for w, _ in results)}
    line = head + "".join(f", {n} {word}" for word, n in counts.items())
    if no_choice:
        line += f"; no choice in {', '.join(no_choice)} (every setting failed)"
    details = [f"  {word}: {what}" for word in counts for w, what in results if w == word]
    code = 1 if counts.get(FAILED) or counts.get(NOT_RUN) else 2 if counts.get(REFUSED) or no_choice else 0
    return "\n".join([line, *details]), code
