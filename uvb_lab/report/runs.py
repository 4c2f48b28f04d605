"""The runs a report reads: every summary.json under the given folders, and the runs that fill a table's cell.

A cell is (model, dataset, sigma) of one table. A paper table's cell takes the finished runs whose identity,
trainer.seed aside, is the table's settings (uvb_lab/report/settings.py) and that were asked for the table's
epochs; runs that differ only by their seed are aggregated (uvb_lab/report/stats.py). Everything else is
footnoted and never mixed into the number: runs with other settings (runs.csv lists them), runs that failed,
are still running, were preempted or stopped early, runs left unscored (a loss that is not finite), tuning runs (those
that scored the validation split alone, trainer.evaluate_test=false: a protocol's trials are never among its seeds), and
one run found in several folders (counted once). A cell of an ad-hoc search's trials (successive halving, Optuna) says
so: their test numbers are those of tuning runs, whose setting was chosen on validation, not of fresh seeds.
"""

import warnings
import zlib
from collections import defaultdict
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from uvb_lab.compose import SEARCH_RECORD
from uvb_lab.launch.sweep_files import HALVING_TABLE, PROTOCOL_RECORD
from uvb_lab.report.settings import table_settings, without_seed
from uvb_lab.report.stats import Stat
from uvb_lab.run import identity as run_identity
from uvb_lab.run import records
from uvb_lab.run import summary as run_summary
from uvb_lab.run.files import SUMMARY, RunStatus, read_metrics
from uvb_lab.run.folder import RunRefused, recorded_identity
from uvb_lab.run.summary import DATASET, EPOCHS, EPOCHS_DONE, MODEL, SIGMA, STATUS, TEST_LOSS, VAL_LOSS


@dataclass(frozen=True, eq=False)
class Run:
    folder: Path
    summary: dict[str, Any]
    written: float  # summary.json's modification time (s since the epoch): "newest" means largest
    identity: dict[str, Any] | None = None  # identity.json (or config.yaml) of the folder; None: not recorded
    search: Path | None = None  # the ad-hoc search (successive halving, Optuna) whose trial this run is; None: no search's

    @property
    def key(self) -> tuple[str, str, float]:
        return self.summary[MODEL], self.summary[DATASET], round(float(self.summary[SIGMA]), 6)

    def note(self) -> str | None:
        """Why this run's numbers are not final ones, or None for a finished run that did all its epochs."""
        s = self.summary
        done = f"{s.get(EPOCHS_DONE, 0)} of {s.get(EPOCHS)} epochs done"
        if s.get(STATUS) == RunStatus.FAILED:
            return f"failed ({done}): {self.folder}"
        if s.get(STATUS) == RunStatus.RUNNING:
            return f"still running or killed ({done}): {self.folder}"
        if s.get(STATUS) == RunStatus.PREEMPTED:
            return f"preempted ({done}); the same command continues it: {self.folder}"
        if s.get(STATUS) == RunStatus.UNSCORED:
            return f"not scored: its last loss is not finite ({done}, trainer.skip_nonfinite=true): {self.folder}"
        if (s.get(EPOCHS_DONE) or 0) < (s.get(EPOCHS) or 0):
            return f"stopped early ({done}, trainer.max_steps): {self.folder}"
        if s.get(TEST_LOSS) is None and s.get(VAL_LOSS) is not None:
            return f"a tuning run (trainer.evaluate_test=false: it scored the validation split alone), not one of the seeds: {self.folder}"
        return None

    @property
    def seed(self) -> int | None:
        seed = (self.identity or {}).get("trainer.seed")
        return seed if isinstance(seed, int) else None

    def differs_from(self, settings: Mapping[str, Any] | None, epochs: int | None) -> str | None:
        """How this run's settings (seed aside) differ from a cell's, in words; None where they are the cell's."""
        if self.identity is None:
            return "its settings are not recorded: no identity.json or config.yaml"
        if settings is None:
            return None
        ours, theirs = without_seed(self.identity), without_seed(settings)
        # A key the run does not record was added to uvb-lab later, with the default that keeps the old behaviour.
        differ = [f"{key}={value}, the cell's {wanted}" for key, value, wanted in run_identity.differences(ours, theirs, theirs)]
        if epochs is not None and self.summary.get(EPOCHS) != epochs:
            differ.append(f"{self.summary.get(EPOCHS)} epochs, the cell's {epochs}")
        return "; ".join(differ) or None


class ReportError(ValueError):
    """Nothing to report on: a path that does not exist, or no runs under it."""


def read_run(file: Path) -> Run:
    """The run whose summary.json this is, its records checked before a report uses any of them: summary.json,
    identity.json (or a first-format folder's config.yaml) and metrics.jsonl; records.RecordError naming the file
    and field where one is not as uvb-train writes it."""
    summary = run_summary.checked(records.read_json(file), file)
    try:
        identity = recorded_identity(file.parent)
    except RunRefused as error:  # made by a newer uvb-lab: listed, as a run whose settings cannot be compared
        warnings.warn(f"{file.parent}: cannot read its identity ({error}); it fills no table cell", stacklevel=3)
        identity = None
    read_metrics(file.parent)  # the curves and runs.csv read it later, after the report's first file is written
    return Run(file.parent, summary, file.stat().st_mtime, identity, search_of(file.parent))


def search_of(run_dir: Path) -> Path | None:
    """The ad-hoc search folder (successive halving's table, or an Optuna search's record) holding this run; a protocol's
    folder (protocol.json) is none: its seeds are fresh, its trials tuning runs (Run.note)."""
    folder = run_dir.parent
    searched = (folder / HALVING_TABLE).is_file() or (folder / SEARCH_RECORD).is_file()
    return folder if searched and not (folder / PROTOCOL_RECORD).is_file() else None


def find_runs(paths: Iterable[Path]) -> list[Run]:
    """Every run folder (one holding summary.json) under the paths, at any depth; records.RecordError where a
    record of one is damaged or not a run's (a report of the others would silently lack it)."""
    runs = []
    for path in paths:
        path = Path(path)
        if not path.exists():
            raise ReportError(f"{path} does not exist")
        files = [path] if path.name == SUMMARY else sorted(path.rglob(SUMMARY))
        runs += [read_run(file) for file in files]
    return runs


@dataclass(frozen=True)
class Cell:
    """The runs one table cell is computed from, and the notes the table prints as its footnotes."""

    runs: tuple[Run, ...] = ()  # finished runs of the cell's settings and epochs, one per seed
    notes: tuple[str, ...] = field(default=())

    def values(self, metric: Callable[[dict[str, Any]], float | None]) -> list[float]:
        """The metric of each of the cell's runs that has a value."""
        return [value for run in self.runs if (value := metric(run.summary)) is not None]

    def stat(self, metric: Callable[[dict[str, Any]], float | None]) -> Stat | None:
        """The metric over the cell's runs (mean, sample std, n); None where no run has a value."""
        values = self.values(metric)
        return Stat.of(values) if values else None

    def by_seed(self) -> dict[int, dict[str, Any]]:
        """The summaries of the cell's runs by trainer.seed; a run that records none stands apart, at a negative key of
        its folder's own (no other cell's run has it: it pairs with nothing)."""
        return {run.seed if run.seed is not None else -1 - zlib.crc32(str(run.folder).encode()): run.summary for run in self.runs}


def select(candidates: Sequence[Run], settings: Mapping[str, Any] | None, epochs: int | None) -> Cell:
    """The cell of these candidates (one model, dataset and sigma, newest first) for the given settings.

    settings None (no paper table to compare with): the settings and epochs of the newest finished run, else
    of the newest run. Runs with the same identity and seed in several folders are one run, counted once.
    """
    if settings is None:
        known = [run for run in candidates if run.identity is not None]
        reference = next((run for run in known if run.note() is None), known[0] if known else None)
        if reference is not None:
            settings, epochs = reference.identity, reference.summary.get(EPOCHS)
    same_run: dict[str, list[Run]] = defaultdict(list)  # identity with the seed -> its folders
    others: list[tuple[Run, str]] = []
    for run in candidates:
        if (why := run.differs_from(settings, epochs)) is not None:
            others.append((run, why))
        else:
            same_run[run_identity.digest(run.identity)].append(run)
    counted, notes = [], []
    for folders in same_run.values():
        # One run trained in two folders (table2's sigma = 1 UVB is table45's UVB): the finished, newest copy counts.
        shown, *rest = sorted(folders, key=lambda run: (run.note() is None, run.written), reverse=True)
        if rest:
            also = ", ".join(str(run.folder) for run in rest)
            notes.append(f"one run (same settings and seed) in {len(folders)} folders, counted once: {shown.folder} (shown); also {also}")
        if shown.note() is None:
            counted.append(shown)
        else:
            notes.append(f"not counted: {shown.note()}")
    searches = sorted({str(run.search) for run in counted if run.search is not None})
    if searches:
        notes.append(f"trials of the search in {', '.join(searches)}, not fresh seeds: the search chose on the validation split, "
                     "so their test numbers are those of tuning runs (a test number of the chosen setting comes from fresh seeds: "
                     "hydra/sweeper=tune_then_test, docs/protocol.md)")
    if others:
        listing = "; ".join(f"{run.folder} ({why})" for run, why in others)
        are = "1 run with other settings is" if len(others) == 1 else f"{len(others)} runs with other settings are"
        notes.append(f"{are} in runs.csv, not in this cell: {listing}")
    return Cell(tuple(counted), tuple(notes))


class RunIndex:
    """Runs by (model, dataset, sigma), and each table's cells."""

    def __init__(self, runs: Iterable[Run]):
        self.runs = list(runs)
        self.by_key: dict[tuple[str, str, float], list[Run]] = defaultdict(list)
        for run in sorted(self.runs, key=lambda r: r.written, reverse=True):
            self.by_key[run.key].append(run)
        self._cells: dict[tuple[str, str, float, str | None], Cell] = {}

    def candidates(self, model: str, dataset: str, sigma: float) -> list[Run]:
        """Every run of this model, dataset and sigma, newest first, whatever its settings and state."""
        return self.by_key.get((model, dataset, round(float(sigma), 6)), [])

    def cell(self, model: str, dataset: str, sigma: float, experiment: str | None) -> Cell:
        """The cell of `+experiment=E` (its settings and epochs); experiment None: a table not in the paper."""
        key = (model, dataset, round(float(sigma), 6), experiment)
        if key not in self._cells:
            candidates = self.candidates(model, dataset, sigma)
            settings, epochs = table_settings(experiment, model, sigma) if experiment and candidates else (None, None)
            self._cells[key] = select(candidates, settings, epochs)
        return self._cells[key]

    def datasets(self, models: Iterable[str]) -> list[str]:
        models = set(models)
        return sorted({dataset for model, dataset, _ in self.by_key if model in models})

    def sigmas(self, dataset: str, models: Iterable[str]) -> list[float]:
        models = set(models)
        return sorted({sigma for model, d, sigma in self.by_key if d == dataset and model in models})
