"""Two sets of seed runs scored on the same noisy test images, compared seed by seed.

    python scripts/paired_seeds.py --a 'multirun/table2_uvb_sigma0.3_lr1e-3/*seed*' \
        --b 'multirun/table2_mnist_tuned/deen-mnist-sigma0.3-lr0.01-seed*' --out paired.md

For a run made outside a protocol (a labelled check, such as a cell's next rate down) set beside a protocol cell's
seeds: each set's test loss per seed, its mean with a 95% t-interval, and the paired difference A - B over the seeds
both ran (uvb_lab/report/stats.py). Refused, exit 2, where the runs cannot be paired: a run not finished, a seed
twice in one set, or runs scored on different noisy test images (uvb_lab/report/pairing.py).
"""

import argparse
import glob
import sys
from pathlib import Path

from uvb_lab.report import pairing
from uvb_lab.report.runs import Run, find_runs
from uvb_lab.report.stats import Interval, number, paired_difference
from uvb_lab.run.files import RunStatus
from uvb_lab.run.summary import STATUS, TEST_LOSS


def by_seed(patterns: list[str]) -> tuple[list[Run], dict[int, float]]:
    """The runs whose folders match the globs, and their test loss by trainer.seed; ValueError where they cannot be."""
    folders = sorted({Path(path) for pattern in patterns for path in glob.glob(pattern)})
    runs = find_runs(folders) if folders else []
    if not runs:
        raise ValueError(f"no run folder matches {' '.join(patterns)}")
    losses: dict[int, float] = {}
    for run in runs:
        if run.summary.get(STATUS) != RunStatus.FINISHED or run.summary.get(TEST_LOSS) is None:
            raise ValueError(f"{run.folder} is not a finished run with a test loss ({run.summary.get(STATUS)})")
        seed = int((run.identity or {}).get("trainer.seed", -1))
        if seed in losses:
            raise ValueError(f"seed {seed} twice among {' '.join(patterns)}: a set holds one run per seed")
        losses[seed] = float(run.summary[TEST_LOSS])
    return runs, losses


def _shown(value: float | None) -> str:
    return "—" if value is None else number(value)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--a", required=True, nargs="+", help="run folders (or globs of them), one per seed")
    parser.add_argument("--b", required=True, nargs="+", help="run folders (or globs of them), one per seed")
    parser.add_argument("--out", type=Path, help="write the table here too (Markdown)")
    args = parser.parse_args(argv)
    try:
        (runs_a, a), (runs_b, b) = by_seed(args.a), by_seed(args.b)
        if (refused := pairing.refusal([*runs_a, *runs_b], "so they are not compared")) is not None:
            raise ValueError(refused)
        if (old := pairing.unpaired_note([*runs_a, *runs_b])) is not None:
            raise ValueError(old)
        difference = paired_difference(a, b)
    except ValueError as error:
        print(f"paired_seeds: {error}", file=sys.stderr)
        return 2
    seeds = sorted(set(a) | set(b))
    lines = [
        "| seed | A | B | A − B |", "| --- | --- | --- | --- |",
        *(f"| {seed} | {_shown(a.get(seed))} | {_shown(b.get(seed))} | {_shown(a[seed] - b[seed] if seed in a and seed in b else None)} |"
          for seed in seeds),
        "",
        f"- A ({' '.join(args.a)}): {Interval.of(list(a.values())).text()}",
        f"- B ({' '.join(args.b)}): {Interval.of(list(b.values())).text()}",
        f"- A − B, paired by seed on the same noisy test images: {difference.text()}"
        f" (the interval {'excludes' if difference.excludes_zero() else 'includes'} 0)",
    ]
    text = "\n".join(lines) + "\n"
    print(text, end="")
    if args.out is not None:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
