"""Loss vs sigma for UVB and DEEN, a panel per dataset: a colour per model, a line style per split (train solid,
test dashed), error bars from seeds (sample std), the paper's values as hollow markers, the legend outside.

Points are the tables' cells: finished runs of the table's settings, seeds aggregated; nothing else is drawn. Where
no run has the paper's settings, a reduced experiment's cells (conf/experiment/table2_mnist_cpu.yaml) are drawn.
"""

from pathlib import Path

from matplotlib.axes import Axes
from matplotlib.figure import Figure  # no pyplot: no global figure state, no display needed
from matplotlib.lines import Line2D
from matplotlib.ticker import LogFormatter

from uvb_lab import paper
from uvb_lab.models.names import SIGMA_TABLE_PAIR, display_name, model_color
from uvb_lab.report.runs import RunIndex
from uvb_lab.report.settings import SIGMA_TABLE_EXPERIMENTS
from uvb_lab.report.tables import DATASET_NAMES, TEST_LOSS, TRAIN_LOSS, plotted_experiment

SPLITS = (("train", TRAIN_LOSS, "-", "s"), ("test", TEST_LOSS, "--", "^"))  # split, metric, our line, the paper's marker


def log_scale(axes: Axes) -> None:
    """A log loss axis with plain labels (20, 30, not 2 x 10^1); within a decade the 2, 3, 5 between are labelled too."""
    axes.set_yscale("log")
    axes.yaxis.set_major_formatter(LogFormatter())
    axes.yaxis.set_minor_formatter(LogFormatter(labelOnlyBase=False, minor_thresholds=(2, 0.5)))


def loss_vs_sigma(index: RunIndex, path: Path, log_y: bool = False) -> Path | None:
    """Writes the figure to path (PNG); None, and no file, where no UVB or DEEN run exists."""
    datasets = index.datasets(SIGMA_TABLE_PAIR)
    if not datasets:
        return None
    figure = Figure(figsize=(1.5 + 4.5 * len(datasets), 4.2), layout="constrained")
    for axes, dataset in zip(figure.subplots(1, len(datasets), squeeze=False)[0], datasets):
        reference = paper.SIGMA_TABLES.get(dataset, {})
        experiment = plotted_experiment(index, dataset)
        for model in SIGMA_TABLE_PAIR:
            color = model_color(model)
            for split, metric, style, paper_marker in SPLITS:
                points = [(sigma, stat) for sigma in index.sigmas(dataset, (model,))
                          if (stat := index.cell(model, dataset, sigma, experiment).stat(metric.of)) is not None]
                if points:
                    x, y = [p[0] for p in points], [p[1].mean for p in points]
                    axes.plot(x, y, style, marker="o", markersize=4, color=color, linewidth=1.6)
                    spread = [(sigma, stat) for sigma, stat in points if stat.std is not None]
                    if spread:
                        axes.errorbar([p[0] for p in spread], [p[1].mean for p in spread], yerr=[p[1].std for p in spread],
                                      fmt="none", ecolor=color, elinewidth=1.2, capsize=3)
                if (model, split) in reference:
                    axes.plot(paper.SIGMAS, reference[(model, split)], linestyle="none", marker=paper_marker, markersize=7,
                              markerfacecolor="none", markeredgecolor=color, markeredgewidth=1.3)
        reduced = experiment != SIGMA_TABLE_EXPERIMENTS.get(dataset)  # the paper's markers are then for scale only
        axes.set_title(DATASET_NAMES.get(dataset, dataset) + (f"\n+experiment={experiment} (other settings)" if reduced else ""))
        axes.set_xlabel("σ (pixel units)")
        axes.set_ylabel("denoising loss, E ||x - x̂(y)||²")
        if log_y:
            log_scale(axes)
        axes.grid(True, which="major", alpha=0.3)
    with_paper = any(dataset in paper.SIGMA_TABLES for dataset in datasets)
    figure.legend(handles=legend_handles(with_paper), loc="outside right center", fontsize="small", frameon=False,
                  title="error bars: sample std\nover seeds", title_fontsize="small")
    path.parent.mkdir(parents=True, exist_ok=True)
    figure.savefig(path, dpi=150)
    return path


def legend_handles(with_paper: bool) -> list[Line2D]:
    handles = []
    for model in SIGMA_TABLE_PAIR:
        color = model_color(model)
        for split, _, style, paper_marker in SPLITS:
            handles.append(Line2D([], [], color=color, linestyle=style, marker="o", markersize=4, label=f"{display_name(model)} {split} (ours)"))
            if with_paper:
                handles.append(Line2D([], [], color=color, linestyle="none", marker=paper_marker, markersize=7, markerfacecolor="none",
                                      markeredgewidth=1.3, label=f"{display_name(model)} {split} (paper)"))
    return handles
