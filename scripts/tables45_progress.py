"""How far the CPU runs of Tables 4, 5 and Remark 4 have got: their numbers at every epoch against the paper's.

    python scripts/tables45_progress.py multirun/table45_mnist --out docs/results/tables45_cpu
    python scripts/tables45_progress.py multirun/table2_mnist_tuned --runs 'uvb-mnist-sigma1.0-*seed*' --seeds --out ...

Reads the vae, uvb and uvb_laplace run folders under the sweep folder (finished or not: uvb-report counts only
finished runs in its tables) and writes progress.md (a row per evaluation) and progress.png (the curves, with the
paper's values as dotted lines; a panel per model and metric, a line per run; and per model the path of Table 4's
KL against Table 5's error, with the paper's pair as a star: does the path pass through it?). Where the runs are the seeds of one
setting (a protocol cell's, picked by --runs), --seeds adds their mean and 95% interval per epoch to progress.md.
The quantities are those of uvb-report's Tables 4 and 5 (docs/reproduction.md):
Table 4's KL of q(z|y) beside the KL of q(z|x), and E||x - mu_y(z ~ q(z|x))||^2 = 2 sigma^2 test_recon_on_x on
clean test images, at every evaluation; for Remark 4, the training curve (the mean denoising loss of every trainer.log_every_steps steps).
"""

import argparse
import sys
from pathlib import Path

from matplotlib.figure import Figure

from uvb_lab import paper
from uvb_lab.report.stats import Interval
from uvb_lab.run import files as run_files
from uvb_lab.run import summary as run_summary
from uvb_lab.run.records import RecordError


def _kl(on: str):
    return lambda row, sigma: row.get(f"test_kl_on_{on}")


def _squared_error_on_x(row, sigma):
    return 2 * sigma**2 * row["test_recon_on_x"] if row.get("test_recon_on_x") is not None else None


def _training_loss(row, sigma):
    # the training curve's rows (the mean of every trainer.log_every_steps steps), not only the epoch means
    return row.get("train_loss") if "test_loss" not in row else None


TABLE4, TABLE5 = "KL of q(z|y), test (Table 4)", "E‖x - μ_y(z)‖², test (Table 5)"

# model -> (label, [(metric name, value of an evaluation row, the paper's value or None)]). Table 4's KL is the
# paper's KL[q(z|y), p(z)] (Sec. 3.3.3); the KL of q(z|x) on the clean image is the other reading, with no paper value.
CURVES = {
    "vae": ("VAE (Tables 4, 5)", (
        (TABLE4, _kl("y"), paper.TABLE4_KL["vae"]),
        ("KL of q(z|x), test", _kl("x"), None),
        (TABLE5, _squared_error_on_x, paper.TABLE5_RECONSTRUCTION["vae"]),
    )),
    "uvb": ("UVB (Tables 4, 5)", (
        (TABLE4, _kl("y"), paper.TABLE4_KL["uvb"]),
        ("KL of q(z|x), test", _kl("x"), None),
        (TABLE5, _squared_error_on_x, paper.TABLE5_RECONSTRUCTION["uvb"]),
    )),
    "uvb_laplace": ("UVB, Laplace decoder (Remark 4)", (
        ("training loss", _training_loss, paper.REMARK4_TRAIN_LOSS),
    )),
}


def _series(run_dir: Path) -> tuple[str, list[tuple[str, list[dict], float | None]]] | None:
    """(model, [(metric name, rows with the metric's "value", the paper's value)]) of one run folder; None for a model
    without curves."""
    summary = run_summary.read(run_dir)
    if summary.get("model") not in CURVES:
        return None
    every_row = run_files.read_metrics(run_dir)
    rows = run_files.without_stops(run_files.evaluations(every_row)) + [row for row in every_row if "test_loss" not in row]
    return summary["model"], [(name, [row | {"value": value} for row in rows if (value := of(row, summary["sigma"])) is not None],
                               reference) for name, of, reference in CURVES[summary["model"]][1]]


def _over_runs(curves: dict[tuple[str, str], list[tuple[str, list[dict]]]], references: dict) -> list[str]:
    """Per (model, metric) measured by several runs, the seeds of one setting: the mean and 95% interval over the runs
    at every epoch's end that all of them evaluated (Table 4's column with its spread)."""
    lines = []
    for (model, name), runs in curves.items():
        epochs = [{row["epoch"]: row["value"] for row in run_files.evaluations(rows, "epoch_end")} for _, rows in runs]
        shared = sorted(set.intersection(*(set(e) for e in epochs))) if len(runs) > 1 else []
        cell = name.replace("|", "\\|")
        reference = references[model, name]
        lines += [f"| {CURVES[model][0]} | {cell} | {epoch:g} | {Interval.of([e[epoch] for e in epochs]).text()} | {'—' if reference is None else reference} |"
                  for epoch in shared]
    if not lines:
        return []
    return ["", "Over the runs, at every epoch all of them reached (mean ± 95% t-interval):", "",
            "| model | metric | epoch | ours | paper |", "| --- | --- | --- | --- | --- |", *lines]


def _trajectories(curves: dict[tuple[str, str], list[tuple[str, list[dict]]]]) -> dict[str, list[tuple[str, list[tuple[float, float]]]]]:
    """Per model with both of Table 4's and Table 5's numbers: each run's (error, KL) at every evaluation, in order,
    so a panel can show whether its path passes through the paper's pair."""
    paths = {}
    for model in CURVES:
        kl, error = dict(curves.get((model, TABLE4), [])), dict(curves.get((model, TABLE5), []))
        runs = [(run, [(errors[step], row["value"]) for row in kl[run] if (step := row["step"]) in (errors := {r["step"]: r["value"] for r in error[run]})])
                for run in kl if run in error]
        if runs:
            paths[model] = runs
    return paths


def _crossings(points: list[tuple[float, float]], pair: tuple[float, float]) -> list[str]:
    """Where a path (error, KL) crosses the paper's error, the KL there, and where it crosses the paper's KL, the error
    there, each interpolated linearly between the two evaluations around it."""
    found = []
    for axis, other, name in ((0, 1, "the error"), (1, 0, "the KL")):
        for a, b in zip(points, points[1:]):
            if (a[axis] - pair[axis]) * (b[axis] - pair[axis]) <= 0 and a[axis] != b[axis]:
                t = (pair[axis] - a[axis]) / (b[axis] - a[axis])
                found.append(f"{name} crosses the paper's {pair[axis]} with {'the KL' if other else 'the error'} at {a[other] + t * (b[other] - a[other]):.2f}")
    return found


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("sweep", type=Path, help="the folder of +experiment=table45_mnist (multirun/table45_mnist)")
    parser.add_argument("--runs", default="*", help="which run folders of the sweep, a glob (default: all), e.g. 'uvb-mnist-sigma1.0-*seed*'")
    parser.add_argument("--seeds", action="store_true", help="the runs are seeds of one setting: also their mean and 95%% interval per epoch")
    parser.add_argument("--out", type=Path, required=True)
    args = parser.parse_args(argv)
    lines = ["| run | epoch | step | " + " | ".join(["metric", "ours", "paper"]) + " |", "| --- | --- | --- | --- | --- | --- |"]
    curves: dict[tuple[str, str], list[tuple[str, list[dict]]]] = {}  # (model, metric) -> [(run, rows)]: one panel each
    references = {}
    for run_dir in sorted(path.parent for path in args.sweep.glob(f"{args.runs}/{run_files.SUMMARY}")):
        try:
            found = _series(run_dir)
        except RecordError as error:
            print(f"tables45_progress: error: {error}", file=sys.stderr)
            return 2
        if found is None:
            continue
        model, metrics = found
        for name, rows, reference in metrics:
            if not rows:
                continue
            curves.setdefault((model, name), []).append((run_dir.name, rows))
            references[model, name] = reference
            cell = name.replace("|", "\\|")  # a bare | would end the Markdown cell
            lines += [f"| {CURVES[model][0]}, {run_dir.name} | {row['epoch']:.2f} | {row['step']} | {cell} | {row['value']:.3f} | {'—' if reference is None else reference} |"
                      for row in rows]
    if not curves:
        print(f"no {', '.join(CURVES)} run matching {args.runs!r} under {args.sweep}", file=sys.stderr)
        return 2
    paths = _trajectories(curves)
    figure = Figure(figsize=(4.6 * (len(curves) + len(paths)), 3.8), layout="constrained")
    panels = figure.subplots(1, len(curves) + len(paths), squeeze=False)[0]
    for axes, (model, runs) in zip(panels[len(curves):], paths.items()):
        for run_name, points in runs:
            axes.plot([p[0] for p in points], [p[1] for p in points], "o-", markersize=3, label=run_name if len(runs) > 1 else "ours (CPU, bf16)")
            axes.annotate("start", points[0], fontsize="x-small")
        pair = (references[model, TABLE5], references[model, TABLE4])
        axes.plot(*pair, "*", color="black", markersize=12, label=f"paper: ({pair[0]}, {pair[1]})")
        axes.set_title(f"{CURVES[model][0]}:\nits path, Table 4 against Table 5", fontsize="small")
        axes.set_xlabel(TABLE5)
        axes.set_ylabel(TABLE4)
        axes.legend(fontsize="x-small")
        axes.grid(True, alpha=0.3)
    for axes, ((model, name), runs) in zip(panels, curves.items()):
        values = []
        for run_name, rows in runs:
            axes.plot([row["epoch"] for row in rows], [row["value"] for row in rows], "o-", markersize=3,
                      label=run_name if len(runs) > 1 else "ours (CPU, bf16)")
            values += [row["value"] for row in rows if row["value"] > 0]
        if (reference := references[model, name]) is not None:
            axes.axhline(reference, linestyle=":", color="black", label=f"paper: {reference}")
        axes.set_title(f"{CURVES[model][0]}:\n{name}", fontsize="small")
        if values and max(values) > 100 * min(values):  # a diverged stretch would flatten the rest of the curve
            axes.set_yscale("log")
        axes.set_xlabel("epoch")
        axes.legend(fontsize="x-small")
        axes.grid(True, alpha=0.3)
    args.out.mkdir(parents=True, exist_ok=True)
    figure.savefig(args.out / "progress.png", dpi=130)
    crossings = [f"- {CURVES[model][0]}, {run}: {'; '.join(_crossings(points, (references[model, TABLE5], references[model, TABLE4]))) or 'no crossing'}"
                 for model, runs in paths.items() for run, points in runs]
    if crossings:
        crossings = ["", "Table 4 against Table 5 along each run's path (interpolated between evaluations):", "", *crossings]
    (args.out / "progress.md").write_text("\n".join(lines + crossings + (_over_runs(curves, references) if args.seeds else [])) + "\n")
    print(f"wrote {args.out / 'progress.md'} and {args.out / 'progress.png'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
