"""Two sets of seed runs scored on the same noisy test images, compared seed by seed.

    python scripts/paired_seeds.py --a 'multirun/table2_uvb_sigma0.3_lr1e-3/*seed*' \
        --b 'multirun/table2_mnist_tuned/deen-mnist-sigma0.3-lr0.01-seed*' --out paired.md

For a run made outside a protocol (a labelled check, such as a cell's next rate down) set beside a protocol cell's
seeds: each set's test loss per seed, its mean with a 95% t-interval, and A - B with Welch's (unpaired) 95% interval,
beside the paired interval of the per-seed differences over the seeds both ran where the seeds pair: the two runs of
every seed scored on the same noisy test images and trained on the same batches and noise (both fingerprints equal,
uvb_lab/report/pairing.py); where only the test noise is the same, the seeds are not paired and Welch's interval stands
alone. With each, the p-value of its test and the seeds that would detect the difference with 80% power
(uvb_lab/report/stats.py). Refused, exit 2, where the runs cannot be compared: a run not finished, a seed twice in one
set, or runs scored on different noisy test images (or before paired evaluation recorded which).
"""

import argparse
import glob
import sys
from pathlib import Path

from uvb_lab.report import pairing
from uvb_lab.report.runs import Run, find_runs
from uvb_lab.report.stats import Comparison, Interval, number, p_text, seeds_text
from uvb_lab.run.files import RunStatus
from uvb_lab.run.summary import STATUS, TEST_LOSS


def by_seed(patterns: list[str]) -> tuple[list[Run], dict[int, float], dict[int, dict]]:
    """The runs whose folders match the globs, their test loss and their summary by trainer.seed; ValueError where they
    cannot be."""
    folders = sorted({Path(path) for pattern in patterns for path in glob.glob(pattern)})
    runs = find_runs(folders) if folders else []
    if not runs:
        raise ValueError(f"no run folder matches {' '.join(patterns)}")
    losses: dict[int, float] = {}
    summaries: dict[int, dict] = {}
    for run in runs:
        if run.summary.get(STATUS) != RunStatus.FINISHED or run.summary.get(TEST_LOSS) is None:
            raise ValueError(f"{run.folder} is not a finished run with a test loss ({run.summary.get(STATUS)})")
        seed = run.seed if run.seed is not None else -1
        if seed in losses:
            raise ValueError(f"seed {seed} twice among {' '.join(patterns)}: a set holds one run per seed")
        losses[seed], summaries[seed] = float(run.summary[TEST_LOSS]), run.summary
    return runs, losses, summaries


def _shown(value: float | None) -> str:
    return "—" if value is None else number(value)


def comparison_lines(comparison: Comparison, pairs: pairing.Pairing) -> list[str]:
    """A − B with Welch's interval, then the paired one where the seeds pair (else why not), and the seeds for 80% power."""
    welch, paired = comparison.welch, comparison.paired

    def verdict(excludes: bool, p_value: float | None, test: str) -> str:
        return f"the interval {'excludes' if excludes else 'includes'} 0" + (f"; {test} p = {p_text(p_value)}" if p_value is not None else "")

    lines = [f"- A − B, Welch's 95% interval (unpaired): {welch.text()} ({verdict(welch.excludes_zero(), welch.p_value, 'Welch')})"]
    if paired is not None:
        lines.append(f"- A − B, {pairs.words}: {paired.text(places=welch.places)} "
                     f"({verdict(paired.excludes_zero(), comparison.p_value, 'paired t-test')})")
    else:
        lines.append(f"- A − B, {pairs.words}: no paired interval, Welch's alone")
    lines.append(f"- seeds per set that would detect A − B with 80% power ({comparison.test}, α = 0.05): {seeds_text(comparison.seeds_for_power)}")
    return lines


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--a", required=True, nargs="+", help="run folders (or globs of them), one per seed")
    parser.add_argument("--b", required=True, nargs="+", help="run folders (or globs of them), one per seed")
    parser.add_argument("--out", type=Path, help="write the table here too (Markdown)")
    args = parser.parse_args(argv)
    try:
        (runs_a, a, summaries_a), (runs_b, b, summaries_b) = by_seed(args.a), by_seed(args.b)
        if (refused := pairing.refusal([*runs_a, *runs_b], "so they are not compared")) is not None:
            raise ValueError(refused)
        if (old := pairing.unpaired_note([*runs_a, *runs_b])) is not None:
            raise ValueError(old)
        pairs = pairing.seeds_pair(summaries_a, summaries_b)
        comparison = Comparison.of(a, b, pairs.paired)
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
        *comparison_lines(comparison, pairs),
    ]
    text = "\n".join(lines) + "\n"
    print(text, end="")
    if args.out is not None:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
