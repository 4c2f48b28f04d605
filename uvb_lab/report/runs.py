"""The runs a report reads: every summary.json under the given folders, one chosen run per table cell.

A cell is (model, dataset, sigma). Where several runs fill one cell the newest summary.json wins and the
report says so; runs that failed, are still running or stopped before their last epoch keep a note that
the tables print as a footnote, so they are never mistaken for finished ones.
"""

import json
import warnings
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from uvb_lab import paper
from uvb_lab.run_files import SUMMARY


# The summary.json fields a report reads, and the JSON types each may have (None: not measured).
NUMBER = (int, float)
FIELDS: dict[str, tuple[type, ...]] = {
    "model": (str,),
    "dataset": (str,),
    "sigma": NUMBER,
    "status": (str,),
    "epochs": (int, type(None)),
    "epochs_done": (int, type(None)),
    "steps_done": (int, type(None)),
    "num_params": (int, type(None)),
    "train_loss": (*NUMBER, type(None)),
    "test_loss": (*NUMBER, type(None)),
    "test_kl_on_y": (*NUMBER, type(None)),
    "test_kl_on_x": (*NUMBER, type(None)),
    "test_recon_on_y": (*NUMBER, type(None)),
    "test_recon_on_x": (*NUMBER, type(None)),
}
REQUIRED = ("model", "dataset", "sigma")


def check_summary(summary: Any) -> None:
    """TypeError naming the first field of a summary.json that a report cannot read."""
    if not isinstance(summary, dict):
        raise TypeError("not a JSON object")
    for key in REQUIRED:
        if key not in summary:
            raise TypeError(f"no {key!r}")
    for key, types in FIELDS.items():
        value = summary.get(key)
        if key in summary and (not isinstance(value, types) or isinstance(value, bool)):
            raise TypeError(f"{key!r} is {value!r}, not a {' or '.join(t.__name__ for t in types)}")


@dataclass(frozen=True)
class Run:
    folder: Path
    summary: dict[str, Any]
    written: float  # summary.json's modification time (s since the epoch): "newest" means largest

    @property
    def key(self) -> tuple[str, str, float]:
        return self.summary["model"], self.summary["dataset"], round(float(self.summary["sigma"]), 6)

    def note(self) -> str | None:
        """Why this run's numbers are not final ones, or None for a finished run that did all its epochs."""
        s = self.summary
        done = f"{s.get('epochs_done', 0)} of {s.get('epochs')} epochs done"
        if s.get("status") == "failed":
            return f"failed ({done}): {self.folder}"
        if s.get("status") == "running":
            return f"still running or killed ({done}): {self.folder}"
        if s.get("status") == "preempted":
            return f"preempted ({done}); the same command continues it: {self.folder}"
        if s.get("epochs_done", 0) < s.get("epochs", 0):
            return f"stopped early ({done}, trainer.max_steps): {self.folder}"
        return None

    def setting_note(self) -> str | None:
        """How this run's settings differ from the paper's (Sec. 3.1: 400 epochs, Table 1's sizes), else None.

        A short or small run is a fine experiment, but its number is not a reproduction of the paper's cell.
        """
        s = self.summary
        if s["dataset"] not in paper.SIGMA_TABLES:  # no paper number to be compared with
            return None
        differences = []
        if s.get("epochs") != paper.EPOCHS:
            differences.append(f"{s.get('epochs')} epochs (the paper: {paper.EPOCHS})")
        # vae and uvb_laplace are UVB's network with another loss or decoder: the same Table 1 count.
        architecture = "deen" if s["model"] == "deen" else "uvb"
        paper_size = paper.TABLE1_EXACT.get((architecture, s["dataset"]))
        if paper_size is not None and s.get("num_params") not in (None, paper_size):
            differences.append(f"{s['num_params']:,} parameters (the paper's size: {paper_size:,})")
        return f"not the paper's settings: {', '.join(differences)}" if differences else None


class ReportError(ValueError):
    """Nothing to report on: a path that does not exist, or no runs under it."""


def find_runs(paths: Iterable[Path]) -> list[Run]:
    """Every run folder (one holding summary.json) under the paths, at any depth."""
    runs = []
    for path in paths:
        path = Path(path)
        if not path.exists():
            raise ReportError(f"{path} does not exist")
        files = [path] if path.name == SUMMARY else sorted(path.rglob(SUMMARY))
        for file in files:
            try:
                summary = json.loads(file.read_text())
                check_summary(summary)
                run = Run(file.parent, summary, file.stat().st_mtime)
            except (OSError, ValueError, KeyError, TypeError) as error:
                warnings.warn(f"skipping {file}: not a readable run summary ({error!r})", stacklevel=2)
                continue
            runs.append(run)
    return runs


@dataclass(frozen=True)
class Cell:
    """The runs for one (model, dataset, sigma), newest first; `run` is the one shown."""

    runs: tuple[Run, ...]

    @property
    def run(self) -> Run | None:
        return self.runs[0] if self.runs else None

    def notes(self) -> list[str]:
        notes = []
        if len(self.runs) > 1:
            older = ", ".join(str(r.folder) for r in self.runs[1:])
            notes.append(f"{len(self.runs)} runs for this cell; the newest is shown ({self.runs[0].folder}); older: {older}")
        if self.run:
            notes += [note for note in (self.run.note(), self.run.setting_note()) if note]
        return notes


class RunIndex:
    """Runs by cell."""

    def __init__(self, runs: Iterable[Run]):
        by_key: dict[tuple[str, str, float], list[Run]] = defaultdict(list)
        for run in runs:
            by_key[run.key].append(run)
        self.cells = {key: Cell(tuple(sorted(rs, key=lambda r: r.written, reverse=True))) for key, rs in by_key.items()}

    def cell(self, model: str, dataset: str, sigma: float) -> Cell:
        return self.cells.get((model, dataset, round(float(sigma), 6)), Cell(()))

    def datasets(self, models: Iterable[str]) -> list[str]:
        models = set(models)
        return sorted({dataset for model, dataset, _ in self.cells if model in models})

    def sigmas(self, dataset: str, models: Iterable[str]) -> list[float]:
        models = set(models)
        return sorted({sigma for model, d, sigma in self.cells if d == dataset and model in models})
