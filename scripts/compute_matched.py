"""A tune-then-test comparison at equal training compute: the test loss against training FLOPs, per model.

    python scripts/compute_matched.py multirun/table2_mnist_tuned --out docs/results/table2_mnist_tuned

A UVB step and a DEEN step at equal parameter counts do not cost the same, so "after the same epochs" favours the
dearer model. For each cell of the sweep's protocol.json, the FLOP of one training step is counted on the meta device
(uvb_lab/bench: matrix products and convolutions, running the step's own loss and backward: double backprop for an
energy model, one forward and one backward for the direct denoiser) from the cell's own composed config, its model and
loss built through uvb_lab/rebuild.py's allow-list (a record is data: an override naming code is refused, exit 2), and
each test seed's evaluations at its epoch ends become (training FLOP, test loss) points. Within each group of cells
that differ by the model alone (one sigma), every model is read at the smallest total FLOP any of them trained for,
interpolated linearly in log FLOP between its evaluations, and the models compared at that budget: Welch's interval
beside the paired one, paired only where the runs of each seed share both fingerprints (the same noisy test images and
training stream, uvb_lab/report/pairing.py), with Holm-adjusted p-values and the seeds for 80% power
(uvb_lab/report/comparisons.py). Writes compute_matched.md (the tables, with the wall times as measured) and
compute_matched.png (the curves).
"""

import argparse
import math
import sys
from pathlib import Path

import numpy as np
from hydra.errors import HydraException
from matplotlib.figure import Figure
from omegaconf.errors import OmegaConfBaseException

from uvb_lab.bench.benchmark import step_flops
from uvb_lab.compose import compose_config, one_line
from uvb_lab.launch.tune_then_test import RECORD
from uvb_lab.models.names import display_name
from uvb_lab.rebuild import RebuildError
from uvb_lab.report import pairing
from uvb_lab.report.comparisons import comparisons_table
from uvb_lab.report.protocol import read_cells
from uvb_lab.report.stats import Interval, number
from uvb_lab.run import files as run_files
from uvb_lab.run import summary as run_summary
from uvb_lab.run.records import RecordError

# What a cell's overrides set that composing its config for the FLOP count does not need (and cannot take here). Hydra's
# own settings are never taken from a record: hydra.searchpath would compose config files from anywhere.
NOT_FOR_FLOPS = ("hydra", "logger", "trainer.progress", "figures.")


def curve(run_dir: Path, flop_per_step: int) -> list[tuple[float, float, float]]:
    """(training FLOP, cumulative training seconds, test loss) at each epoch-end evaluation of a run."""
    points, seconds = [], 0.0
    for row in run_files.read_metrics(run_dir):
        if row.get("eval") != "epoch_end" or not isinstance(row.get("test_loss"), int | float):
            continue
        seconds += row.get("epoch_time_s") or 0.0
        points.append((row["step"] * float(flop_per_step), seconds, row["test_loss"]))
    return points


def at_flop(points: list[tuple[float, float, float]], budget: float) -> float | None:
    """The test loss at `budget` training FLOP, linear in log FLOP between evaluations; None outside them."""
    flops = [p[0] for p in points]
    if not points or budget < flops[0] * (1 - 1e-9) or budget > flops[-1] * (1 + 1e-9):
        return None
    return float(np.interp(math.log(budget), np.log(flops), [p[2] for p in points]))


def cell_flops(overrides: list[str], where: str, trusted: tuple[str, ...]) -> int:
    """FLOP of one training step of the config these recorded overrides compose, its model and loss built through the
    allow-list; RecordError naming `where` (the record's file and cell) where they compose no config or name code."""
    try:
        cfg = compose_config([*overrides, "logger=none"], with_hydra=True)
        return step_flops(cfg, cfg.trainer.batch_size, trusted)
    except RebuildError as error:
        raise RecordError(f"{where}: {error}") from None
    except (HydraException, OmegaConfBaseException, TypeError, ValueError) as error:  # a value its constructor refuses too
        raise RecordError(f"{where}: its overrides compose no model uvb-lab can build ({one_line(error)})") from None


def read_groups(folder: Path, trusted: tuple[str, ...]) -> dict[str, list[dict]]:
    """Per group of cells that differ by the model alone: each cell's model, FLOP per step, test curves and summaries
    by seed, every record read checked first (RecordError naming the file and field)."""
    record, cells = read_cells(folder)
    groups: dict[str, list[dict]] = {}
    for cell in cells:
        entry = record["cells"][cell.name]
        overrides = [o for o in cell.overrides + list(entry.get("chosen_overrides") or []) if not o.lstrip("+~").startswith(NOT_FOR_FLOPS)]
        flop_per_step = cell_flops(overrides, f"{folder / RECORD}: cells[{cell.name!r}]", trusted)
        curves = {int(seed): curve(folder / name, flop_per_step) for seed, name in (entry.get("test_runs") or {}).items()}
        curves = {seed: points for seed, points in curves.items() if points}
        summaries = {int(seed): run_summary.read(folder / name) for seed, name in (entry.get("test_runs") or {}).items() if int(seed) in curves}
        if curves:
            groups.setdefault(cell.others(), []).append({"model": cell.model(), "flop_per_step": flop_per_step, "curves": curves,
                                                         "summaries": summaries})
    return groups


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("folder", type=Path, help="the sweep folder of a hydra/sweeper=tune_then_test run (holds protocol.json)")
    parser.add_argument("--out", type=Path, help="where to write compute_matched.md and .png (default: FOLDER/report)")
    parser.add_argument("--trust-target", action="append", default=[], metavar="PREFIX",
                        help="also build a recorded model or loss whose _target_ starts with PREFIX (your own class)")
    args = parser.parse_args(argv)
    out = args.out or args.folder / "report"
    try:
        groups = read_groups(args.folder, tuple(args.trust_target))
    except FileNotFoundError as err:
        print(f"compute_matched: error: {args.folder} holds no protocol.json of a tune-then-test sweep ({err.filename})", file=sys.stderr)
        return 2
    except RecordError as err:
        print(f"compute_matched: error: {err}", file=sys.stderr)
        return 2

    lines = [f"## Compute-matched view of {args.folder.name}", "",
             "Training FLOP per step counted on the meta device (matrix products and convolutions, double backprop "
             "included where the model has an energy); wall times as measured on this run's machine, mean over the test seeds. At the matched budget "
             "every model is read at the smallest total training FLOP of its group, interpolated in log FLOP between "
             "epoch-end evaluations: mean ± 95% t-interval over seeds.", "",
             "| cell | GFLOP / step | training FLOP | training wall time | test loss at its budget | matched budget | test loss at the matched budget |",
             "|---|---|---|---|---|---|---|"]
    compared = []
    figure = Figure(figsize=(4.2 * max(len(groups), 1), 3.4), layout="constrained")
    axes = figure.subplots(1, max(len(groups), 1), squeeze=False)[0]
    for ax, (others, members) in zip(axes, groups.items(), strict=False):
        budget = min(max(p[-1][0] for p in m["curves"].values()) for m in members)
        for member in members:
            finals = [points[-1] for points in member["curves"].values()]
            matched = {seed: at_flop(points, budget) for seed, points in member["curves"].items()}
            member["matched"] = {seed: v for seed, v in matched.items() if v is not None}
            lines.append(
                f"| model={member['model']} {others} | {member['flop_per_step'] / 1e9:.3g} | {np.mean([f[0] for f in finals]):.3g} "
                f"| {np.mean([f[1] for f in finals]) / 60:.1f} min | {Interval.of([f[2] for f in finals]).text()} "
                f"| {budget:.3g} | {Interval.of(list(member['matched'].values())).text() if member['matched'] else 'n/a'} |")
            flop = sorted({p[0] for points in member["curves"].values() for p in points})
            mean = [np.mean([v for points in member["curves"].values() if (v := at_flop(points, f)) is not None]) for f in flop]
            ax.plot(flop, mean, marker="o", label=display_name(member["model"]))
        ax.axvline(budget, color="grey", linestyle=":", linewidth=1)
        ax.set(xscale="log", yscale="log", xlabel="training FLOP", ylabel="test denoising loss", title=others)
        ax.legend(fontsize=8)
        for i, a in enumerate(members):
            for b in members[i + 1:]:
                if a["matched"] and b["matched"]:
                    pairs = pairing.seeds_pair(*({seed: m["summaries"][seed] for seed in m["matched"]} for m in (a, b)))
                    compared.append(pairing.Compared(f"{a['model']} − {b['model']} at {others}", f"{number(budget)} training FLOP",
                                                     a["matched"], b["matched"], pairs))
    if compared:
        lines += ["", comparisons_table("compute_matched", "Differences at the matched budget", compared).markdown()]
    try:  # both files, or neither: a full disk or a read-only folder leaves an earlier pair as it was
        with run_files.written_together(out) as staging:
            (staging / "compute_matched.md").write_text("\n".join(lines))
            figure.savefig(staging / "compute_matched.png", dpi=110)
    except OSError as err:
        print(f"compute_matched: cannot write into {out}: {err.strerror or err}; the files there are as they were", file=sys.stderr)
        return 2
    print(f"wrote {out / 'compute_matched.md'} and compute_matched.png")
    return 0


if __name__ == "__main__":
    sys.exit(main())
