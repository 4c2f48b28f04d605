"""Does bf16 learn what fp32 learns? The check behind `trainer.precision=auto` (docs/performance.md).

Reads two sweep folders of the same runs, one per precision (one run per seed, stopped at the same
trainer.max_steps), and compares the final test losses: bf16 passes when its mean is within
max(1% of the fp32 mean, 2 standard errors of the fp32 seeds) of the fp32 mean. Writes the numbers
(precision_check.json) and the curves of every run overlaid (precision_check.png) to --out.

    python scripts/precision_check.py --fp32 runs/precision/fp32 --bf16 runs/precision/bf16 --out docs/precision_check
Exit code: 0 bf16 passes, 1 it does not, 2 the folders do not hold comparable runs.
"""

import argparse
import json
import math
import statistics
import sys
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

from uvb_lab.notebook import LoadedRun, load_run  # noqa: E402

STYLES = {"fp32": {"color": "tab:blue", "ls": "-"}, "bf16": {"color": "tab:orange", "ls": "--"}}  # dashed: overlaps show


def runs_of(sweep: Path) -> list[LoadedRun]:
    return [load_run(path) for path in sorted(sweep.iterdir()) if (path / "summary.json").is_file()]


def final_losses(runs: list[LoadedRun], split: str) -> dict[int, float]:
    """The final test loss (split "test") or last training-curve loss ("train") of each run, by seed."""
    key = f"{split}_loss"
    return {int(run.config.trainer.seed): [row for row in run.metrics if key in row][-1][key] for run in runs}


def describe(values: list[float]) -> dict[str, float]:
    n = len(values)
    std = statistics.stdev(values) if n > 1 else math.nan
    return {"n": n, "mean": statistics.fmean(values), "std": std, "standard_error": std / math.sqrt(n)}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--fp32", type=Path, required=True, help="sweep folder of the fp32 runs")
    parser.add_argument("--bf16", type=Path, required=True, help="sweep folder of the bf16 runs")
    parser.add_argument("--out", type=Path, required=True, help="folder for precision_check.json and .png")
    args = parser.parse_args(argv)

    runs = {"fp32": runs_of(args.fp32), "bf16": runs_of(args.bf16)}
    used = {name: {run.summary.get("precision") for run in group} for name, group in runs.items()}
    steps = {run.summary.get("steps_done") for group in runs.values() for run in group}
    if any(used[name] != {name} for name in runs) or len(steps) != 1:
        print(f"precision_check: error: need finished runs in fp32 and in bf16 stopped at one step; found "
              f"precisions {used} and steps {sorted(map(str, steps))}", file=sys.stderr)
        return 2
    test = {name: final_losses(group, "test") for name, group in runs.items()}
    if set(test["fp32"]) != set(test["bf16"]) or len(test["fp32"]) < 2:
        print(f"precision_check: error: the two folders must hold the same >= 2 seeds; found {test}", file=sys.stderr)
        return 2
    fp32, bf16 = describe(list(test["fp32"].values())), describe(list(test["bf16"].values()))
    tolerance = max(0.01 * fp32["mean"], 2 * fp32["standard_error"])
    gap = bf16["mean"] - fp32["mean"]
    result = {
        "steps": steps.pop(),
        "test_loss_by_seed": test,
        "train_loss_by_seed": {name: final_losses(group, "train") for name, group in runs.items()},
        "fp32": fp32,
        "bf16": bf16,
        "gap_bf16_minus_fp32": gap,
        "tolerance": tolerance,
        "passes": abs(gap) <= tolerance,
        "samples_per_s_median": {name: statistics.median(run.summary["samples_per_s"] for run in group) for name, group in runs.items()},
    }

    figure, (train_axis, test_axis) = plt.subplots(1, 2, figsize=(11, 4), constrained_layout=True)
    for name, group in runs.items():
        for run in group:
            seed = int(run.config.trainer.seed)
            train = [(row["step"], row["train_loss"]) for row in run.metrics if "train_loss" in row and "eval" not in row]
            evals = [(row["step"], row["test_loss"]) for row in run.metrics if "test_loss" in row]
            label = name if seed == min(test[name]) else None
            train_axis.plot(*zip(*train), **STYLES[name], alpha=0.7, lw=1, label=label)
            test_axis.plot(*zip(*evals), **STYLES[name], marker="o", ms=3, alpha=0.8, label=label)
    train_axis.set(title="training loss (mean of 50 steps)", xlabel="step", ylabel="loss (Eq. 4)", yscale="log")
    verdict = "passes" if result["passes"] else "fails"
    test_axis.set(title=f"test loss; final gap {gap:+.4f}, tolerance {tolerance:.4f}: bf16 {verdict}", xlabel="step")
    first = runs["fp32"][0]
    figure.suptitle(f"{first.summary['model']} on {first.summary['dataset']}, sigma {first.summary['sigma']}, "
                    f"{first.summary['num_params']:,} parameters: fp32 vs bf16 autocast")
    for axis in (train_axis, test_axis):
        axis.legend(title=f"{fp32['n']} seeds each")
        axis.grid(alpha=0.3)
    args.out.mkdir(parents=True, exist_ok=True)
    figure.savefig(args.out / "precision_check.png", dpi=120)
    (args.out / "precision_check.json").write_text(json.dumps(result, indent=2) + "\n")
    print(f"fp32 {fp32['mean']:.4f} ± {fp32['std']:.4f} (n={fp32['n']}), bf16 {bf16['mean']:.4f} ± {bf16['std']:.4f} "
          f"(n={bf16['n']}): gap {gap:+.4f}, tolerance {tolerance:.4f} -> bf16 {verdict}; wrote {args.out}")
    return 0 if result["passes"] else 1


if __name__ == "__main__":
    sys.exit(main())
