"""Walk-jump mixing by sampler: the paper's overdamped walk (Eq. 19) against underdamped Langevin (BAOAB), on trained runs.

    python scripts/compare_samplers.py RUN_DIR... --out docs/results/samplers [--frictions 1,4] [--chains 8] [--seeds 0,1,2]

For each run folder (one per training seed), each sampler seed (figures.seed: the chains' starts and noise) and
each sampler, the figures code draws `--chains` walk-jump chains from y_0 ~ Unif[0,1]^d (Fig. 3's start; the
underdamped velocity from N(0, I)) with the run's delta and steps per jump, labels every jump with the cached
classifier, and counts: classes visited, class changes per 100 jumps, the chains that saw every class, and the jump
at which they had. Writes samplers.md (mean ± std over runs x seeds) and samplers.json (every number, every chain).
"""

import argparse
import json
import statistics
import sys
from pathlib import Path

import torch

from uvb_lab.figures.paper_figures import make_figures
from uvb_lab.trained_run import load_trained_run

NUMBERS = ("mean_num_classes_visited", "mean_class_changes_per_100_jumps", "chains_that_saw_all_classes")
HEADER = ("| sampler | classes visited (of 10) | class changes per 100 jumps | chains that saw all classes | "
          "jump all were seen by (median of those chains) |")


def mean_std(values: list[float]) -> str:
    return f"{statistics.mean(values):.2f} ± {statistics.stdev(values):.2f}" if len(values) > 1 else f"{values[0]:.2f}"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("runs", nargs="+", type=Path)
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--frictions", default="1,4", help="the underdamped sampler's friction values")
    parser.add_argument("--chains", type=int, default=8)
    parser.add_argument("--seeds", default=None, help="sampler seeds (figures.seed), comma-separated; default: each run's own")
    args = parser.parse_args(argv)
    samplers = [("overdamped", None)] + [("underdamped", float(f)) for f in args.frictions.split(",")]
    results = {}
    for run_dir in args.runs:
        run = load_trained_run(run_dir, torch.device("cpu"))
        for seed in [int(s) for s in args.seeds.split(",")] if args.seeds else [run.settings["seed"]]:
            for sampler, friction in samplers:
                label = sampler if friction is None else f"underdamped, friction {friction:g}"
                settings = {**run.settings, "chains": args.chains, "seed": seed, "sampler": sampler,
                            "friction": friction or run.settings["friction"]}
                out = args.out / "figures" / run_dir.name / f"seed{seed}" / label.replace(", ", "-").replace(" ", "_")
                _, numbers = make_figures(out, run.model, run.data, settings, name=run.name)
                if "mixing" not in numbers:
                    print(f"{run_dir}: no mixing numbers ({numbers.get('mixing_skipped')})", file=sys.stderr)
                    return 2
                mixing = numbers["mixing"]
                results.setdefault(label, []).append({
                    "run": str(run_dir), "seed": seed, **{k: mixing[k] for k in NUMBERS},
                    "jump_all_classes_seen": [chain["jump_all_classes_seen"] for chain in mixing["chains"]],
                })
    lines = [HEADER, "| --- | --- | --- | --- | --- |"]
    for label, rows in results.items():
        seen = [jump for row in rows for jump in row["jump_all_classes_seen"] if jump is not None]
        when = f"{statistics.median(seen):g} ({len(seen)} chain{'s' * (len(seen) != 1)})" if seen else "never"
        lines.append(f"| {label} | " + " | ".join(mean_std([row[k] for row in rows]) for k in NUMBERS) + f" | {when} |")
    samples = len(next(iter(results.values())))
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "samplers.md").write_text("\n".join(lines) + f"\n\nmean ± std over {samples} (run, seed) pairs "
                                          f"({len(args.runs)} run{'s' * (len(args.runs) != 1)}), {args.chains} chains each\n")
    (args.out / "samplers.json").write_text(json.dumps(results, indent=2) + "\n")
    print("\n".join(lines))
    return 0


if __name__ == "__main__":
    sys.exit(main())
