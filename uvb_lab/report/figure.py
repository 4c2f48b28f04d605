"""Loss vs sigma for UVB and DEEN, train and test: ours solid, the paper's dashed, a panel per dataset.

Points from runs that are not finished and complete are drawn hollow (the tables' footnotes say why).
"""

from pathlib import Path

from matplotlib.figure import Figure  # no pyplot: no global figure state, no display needed

from uvb_lab import paper
from uvb_lab.report.runs import RunIndex
from uvb_lab.report.tables import DATASET_NAMES, MODEL_NAMES

CURVES = (("uvb", "train", "C0"), ("uvb", "test", "C1"), ("deen", "train", "C2"), ("deen", "test", "C3"))


def loss_vs_sigma(index: RunIndex, path: Path) -> Path | None:
    """Writes the figure to path (PNG); None, and no file, where no UVB or DEEN run exists."""
    datasets = index.datasets(("uvb", "deen"))
    if not datasets:
        return None
    figure = Figure(figsize=(5 * len(datasets), 4), layout="constrained")
    for axes, dataset in zip(figure.subplots(1, len(datasets), squeeze=False)[0], datasets):
        reference = paper.SIGMA_TABLES.get(dataset, {})
        for model, split, color in CURVES:
            label = f"{MODEL_NAMES[model]} {split}"
            points = []
            for sigma in index.sigmas(dataset, (model,)):
                run = index.cell(model, dataset, sigma).run
                value = run.summary.get(f"{split}_loss")
                if value is not None:
                    points.append((sigma, value, run.note() is None))
            if points:
                axes.plot([p[0] for p in points], [p[1] for p in points], "-", color=color, label=f"{label} (ours)")
                axes.scatter(
                    [p[0] for p in points], [p[1] for p in points], edgecolors=color, zorder=3,
                    facecolors=[color if done else "none" for *_, done in points],
                )
            if (model, split) in reference:
                axes.plot(paper.SIGMAS, reference[(model, split)], "--", color=color, label=f"{label} (paper)")
        axes.set_title(DATASET_NAMES.get(dataset, dataset))
        axes.set_xlabel("σ")
        axes.set_ylabel("denoising loss, E ||x - x̂(y)||²")
        axes.legend(fontsize="small")
    path.parent.mkdir(parents=True, exist_ok=True)
    figure.savefig(path, dpi=120)
    return path
