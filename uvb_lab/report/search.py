"""A search folder read as a search (a sweeper such as Optuna's, conf/hparams_search/): every trial's setting beside
its validation loss, best first, and the best trial named; the table cells of the paper show runs, not trials."""

import math
import warnings
from pathlib import Path

from uvb_lab.compose import SEARCH_RECORD  # noqa: F401 - written by uvb-train before a search starts (launch/plan.py)
from uvb_lab.report.stats import number
from uvb_lab.run import summary as run_summary
from uvb_lab.run.files import SUMMARY, RunStatus
from uvb_lab.run.folder import IDENTITY, RunRefused, recorded_identity


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


def search_table(folder: Path) -> str | None:
    """The trials of the search in folder as Markdown, best validation loss first; None for a folder without trials."""
    runs = trials(folder)
    if not runs:
        return None
    searched = sorted({key for identity, _, _ in runs for key in identity if len({str(i.get(key)) for i, _, _ in runs}) > 1})
    metric = "val_loss" if any(summary.get("val_loss") is not None for _, summary, _ in runs) else "test_loss"

    def score(summary: dict) -> float:
        value = summary.get(metric)
        return value if isinstance(value, int | float) and math.isfinite(value) else math.inf

    runs.sort(key=lambda run: score(run[1]))
    best = runs[0]
    lines = [
        f"## The search in {folder}",
        "",
        f"{len(runs)} trials, best {metric} first. The best: {best[2]} "
        f"({', '.join(f'{k}={best[0].get(k)}' for k in searched) or 'the only setting'}), {metric} {number(score(best[1]))}.",
        "",
        "| " + " | ".join([*searched, metric, "epochs", "status", "folder"]) + " |",
        "|" + "---|" * (len(searched) + 4),
    ]
    for identity, summary, name in runs:
        value = score(summary)
        cells = [str(identity.get(key)) for key in searched]
        unscored = "not scored" if summary.get("status") == RunStatus.UNSCORED else "failed"  # trained, but its loss is not finite
        cells += [number(value) if math.isfinite(value) else unscored, str(summary.get("epochs_done")), str(summary.get("status")), name]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"
