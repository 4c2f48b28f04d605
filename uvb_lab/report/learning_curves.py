"""Test loss vs optimizer step of every run read: a panel per dataset and sigma, a colour per model, one line per run.

Runs of one model whose settings differ (beyond sigma and seed) get a line style each, named in the legend by
the keys that differ; seeds of one setting share colour and style. The paper's end-of-training test loss is a
dotted line in the model's colour. Curves are the evaluation rows of metrics.jsonl (uvb_lab/run/files.py),
less those made only because a run was stopped, so a preempted run draws the curve an uninterrupted one would.
"""

import math
import textwrap
from collections import defaultdict
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from matplotlib.figure import Figure  # no pyplot: no global figure state, no display needed
from matplotlib.lines import Line2D
from matplotlib.ticker import FuncFormatter, MaxNLocator

from uvb_lab import paper
from uvb_lab.models.names import display_name, model_color
from uvb_lab.report.figure import log_scale
from uvb_lab.report.runs import Run, RunIndex
from uvb_lab.report.settings import without_seed
from uvb_lab.report.tables import DATASET_NAMES
from uvb_lab.run import files as run_files
from uvb_lab.run import identity as run_identity
from uvb_lab.run import summary as run_summary

STYLES = ("-", "--", ":", "-.")
PANEL_AXIS = ("sigma", "model.sigma")  # what the panels already separate: not a difference of settings
COLUMNS = 4


def thousands(step: float, _position: int) -> str:
    """Step ticks as 500, 5k, 100k (the paper's 400 MNIST epochs are 187,600 steps)."""
    return f"{step / 1000:g}k" if abs(step) >= 1000 else f"{step:g}"


def evaluation_curve(run: Run) -> tuple[list[int], list[float]]:
    """(steps, test losses) of a run's evaluations; old folders' per-epoch rows hold both too."""
    rows = run_files.evaluations(run_files.without_stops(run_files.read_metrics(run.folder)))
    points = sorted((row["step"], row[run_summary.TEST_LOSS]) for row in rows if row.get("step") is not None and row.get(run_summary.TEST_LOSS) is not None)
    return [p[0] for p in points], [p[1] for p in points]


def settings_key(run: Run) -> str:
    """What a run's line style stands for: its identity less seed and sigma; a folder of its own where none is recorded."""
    if run.identity is None:
        return f"folder:{run.folder}"
    return run_identity.digest({k: v for k, v in without_seed(run.identity).items() if k not in PANEL_AXIS})


def settings_labels(runs: Sequence[Run]) -> dict[str, str]:
    """A legend label per settings_key of one model's runs: the model, then the keys that tell its settings apart."""
    by_key: dict[str, Run] = {}
    for run in runs:
        by_key.setdefault(settings_key(run), run)
    name = display_name(runs[0].summary[run_summary.MODEL])
    if len(by_key) == 1:
        return {key: name for key in by_key}
    identities = [run.identity for run in by_key.values() if run.identity is not None]
    keys = sorted({k for identity in identities for k in identity if k not in PANEL_AXIS and k != "trainer.seed"})
    differ = [k for k in keys if len({repr(identity.get(k)) for identity in identities}) > 1]
    labels = {}
    for key, run in by_key.items():
        if run.identity is None:
            labels[key] = f"{name}, {run.folder.name} (settings not recorded)"
        else:
            labels[key] = f"{name}, " + ", ".join(f"{k.rsplit('.', 1)[-1]}={run.identity.get(k)}" for k in differ)
    return labels


def learning_curves(index: RunIndex, path: Path, log_y: bool = False) -> Path | None:
    """Writes the figure to path (PNG); None, and no file, where no run has an evaluation yet."""
    curves = [(run, *evaluation_curve(run)) for run in index.runs]
    curves = [(run, steps, losses) for run, steps, losses in curves if steps]
    if not curves:
        return None
    panels: dict[tuple[str, float], list[Any]] = defaultdict(list)
    for curve in curves:
        panels[(curve[0].summary[run_summary.DATASET], curve[0].key[2])].append(curve)
    by_model: dict[str, list[Run]] = defaultdict(list)
    for run, _, _ in curves:
        by_model[run.summary[run_summary.MODEL]].append(run)
    labels = {model: settings_labels(runs) for model, runs in by_model.items()}
    styles = {model: {key: STYLES[i % len(STYLES)] for i, key in enumerate(sorted(set(model_labels), key=model_labels.get))}
              for model, model_labels in labels.items()}

    columns = min(COLUMNS, len(panels))
    rows = math.ceil(len(panels) / columns)
    figure = Figure(figsize=(2.0 + 3.6 * columns, 0.6 + 3.0 * rows), layout="constrained")
    grid = figure.subplots(rows, columns, squeeze=False)
    legend: dict[str, Line2D] = {}
    for axes, ((dataset, sigma), panel) in zip(grid.flat, sorted(panels.items())):
        for run, steps, losses in sorted(panel, key=lambda c: (c[0].summary[run_summary.MODEL], str(c[0].folder))):
            model = run.summary[run_summary.MODEL]
            key = settings_key(run)
            style, label = styles[model][key], labels[model][key]
            marker = "o" if len(steps) <= 12 else None  # a run with few evaluations still shows its points
            axes.plot(steps, losses, linestyle=style, marker=marker, markersize=3, color=model_color(model), linewidth=1.3, alpha=0.85)
            legend.setdefault(label, Line2D([], [], color=model_color(model), linestyle=style, marker=marker, markersize=3, label=label))
        for model in sorted({c[0].summary[run_summary.MODEL] for c in panel}):
            final = paper.sigma_table_value(dataset, model, "test", sigma)
            if final is not None:
                axes.axhline(final, color=model_color(model), linestyle=(0, (1, 2)), linewidth=1.2)
                label = f"{display_name(model)}, the paper's final test loss ({paper.EPOCHS} epochs)"
                legend.setdefault(label, Line2D([], [], color=model_color(model), linestyle=(0, (1, 2)), label=label))
        axes.set_title(f"{DATASET_NAMES.get(dataset, dataset)}, σ = {sigma:g}", fontsize="medium")
        axes.set_xlabel("optimizer step")
        axes.set_ylabel("test loss")
        axes.xaxis.set_major_locator(MaxNLocator(nbins=5, integer=True))  # steps are whole numbers
        axes.xaxis.set_major_formatter(FuncFormatter(thousands))
        if log_y:
            log_scale(axes)
        axes.grid(True, alpha=0.3)
    for axes in list(grid.flat)[len(panels):]:
        axes.set_visible(False)
    handles = [legend[label] for label in sorted(legend, key=lambda text: ("paper" in text, text))]
    for handle in handles:
        handle.set_label(textwrap.fill(handle.get_label(), 38))
    figure.legend(handles=handles, loc="outside right center", fontsize="small", frameon=False)
    figure.suptitle("Test loss during training, one line per run", fontsize="medium")
    path.parent.mkdir(parents=True, exist_ok=True)
    figure.savefig(path, dpi=150)
    return path
