"""How far the CPU runs of Tables 4, 5 and Remark 4 have got: their numbers at every epoch against the paper's.

    python scripts/tables45_progress.py multirun/table45_mnist --out docs/results/tables45_cpu

Reads the vae, uvb and uvb_laplace run folders under the sweep folder (finished or not: uvb-report counts only
finished runs in its tables) and writes progress.md (a row per evaluation) and progress.png (the curves, with the
paper's values as dotted lines). The quantities are those of uvb-report's Tables 4 and 5 (docs/reproduction.md):
Table 4's KL of q(z|y) beside the KL of q(z|x), and E||x - mu_y(z ~ q(z|x))||^2 = 2 sigma^2 test_recon_on_x on
clean test images, at every evaluation; for Remark 4, the training curve (the mean denoising loss of every trainer.log_every_steps steps).
"""

import argparse
import sys
from pathlib import Path

from matplotlib.figure import Figure

from uvb_lab import paper
from uvb_lab.run import files as run_files
from uvb_lab.run import summary as run_summary


def _kl(on: str):
    return lambda row, sigma: row.get(f"test_kl_on_{on}")


def _squared_error_on_x(row, sigma):
    return 2 * sigma**2 * row["test_recon_on_x"] if "test_recon_on_x" in row else None


def _training_loss(row, sigma):
    # the training curve's rows (the mean of every trainer.log_every_steps steps), not only the epoch means
    return row.get("train_loss") if "test_loss" not in row else None


# model -> (label, [(metric name, value of an evaluation row, the paper's value or None)]). Table 4's KL is the
# paper's KL[q(z|y), p(z)] (Sec. 3.3.3); the KL of q(z|x) on the clean image is the other reading, with no paper value.
CURVES = {
    "vae": ("VAE (Tables 4, 5)", (
        ("KL of q(z|y), test (Table 4)", _kl("y"), paper.TABLE4_KL["vae"]),
        ("KL of q(z|x), test", _kl("x"), None),
        ("E‖x - μ_y(z)‖², test (Table 5)", _squared_error_on_x, paper.TABLE5_RECONSTRUCTION["vae"]),
    )),
    "uvb": ("UVB (Tables 4, 5)", (
        ("KL of q(z|y), test (Table 4)", _kl("y"), paper.TABLE4_KL["uvb"]),
        ("KL of q(z|x), test", _kl("x"), None),
        ("E‖x - μ_y(z)‖², test (Table 5)", _squared_error_on_x, paper.TABLE5_RECONSTRUCTION["uvb"]),
    )),
    "uvb_laplace": ("UVB, Laplace decoder (Remark 4)", (
        ("training loss", _training_loss, paper.REMARK4_TRAIN_LOSS),
    )),
}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("sweep", type=Path, help="the folder of +experiment=table45_mnist (multirun/table45_mnist)")
    parser.add_argument("--out", type=Path, required=True)
    args = parser.parse_args(argv)
    panels, lines = [], ["| run | epoch | step | " + " | ".join(["metric", "ours", "paper"]) + " |", "| --- | --- | --- | --- | --- | --- |"]
    for run_dir in sorted(path.parent for path in args.sweep.glob(f"*/{run_files.SUMMARY}")):
        summary = run_summary.read(run_dir)
        if summary.get("model") not in CURVES:
            continue
        label, metrics = CURVES[summary["model"]]
        label = f"{label}, {run_dir.name}"
        every_row = run_files.read_metrics(run_dir)
        rows = run_files.without_stops(run_files.evaluations(every_row)) + [row for row in every_row if "test_loss" not in row]
        for name, of, reference in metrics:
            points = [(row["epoch"], value) for row in rows if (value := of(row, summary["sigma"])) is not None]
            if not points:
                continue
            panels.append((f"{CURVES[summary['model']][0]}\n{run_dir.name}:\n{name}", points, reference))
            cell = name.replace("|", "\\|")  # a bare | would end the Markdown cell
            lines += [f"| {label} | {row['epoch']:.2f} | {row['step']} | {cell} | {value:.3f} | {'—' if reference is None else reference} |"
                      for row in rows if (value := of(row, summary["sigma"])) is not None]
    if not panels:
        print(f"no {', '.join(CURVES)} run under {args.sweep}", file=sys.stderr)
        return 2
    figure = Figure(figsize=(4.2 * len(panels), 3.6), layout="constrained")
    for axes, (title, points, reference) in zip(figure.subplots(1, len(panels), squeeze=False)[0], panels):
        axes.plot([p[0] for p in points], [p[1] for p in points], "o-", markersize=4, label="ours (CPU, bf16)")
        if reference is not None:
            axes.axhline(reference, linestyle=":", color="black", label=f"paper: {reference}")
        axes.set_title(title, fontsize="small")
        values = [p[1] for p in points if p[1] > 0]
        if values and max(values) > 100 * min(values):  # a diverged stretch would flatten the rest of the curve
            axes.set_yscale("log")
        axes.set_xlabel("epoch")
        axes.legend(fontsize="small")
        axes.grid(True, alpha=0.3)
    args.out.mkdir(parents=True, exist_ok=True)
    figure.savefig(args.out / "progress.png", dpi=130)
    (args.out / "progress.md").write_text("\n".join(lines) + "\n")
    print(f"wrote {args.out / 'progress.md'} and {args.out / 'progress.png'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
