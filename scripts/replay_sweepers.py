"""Successive halving, Hyperband's brackets and the exhaustive grid replayed on recorded learning curves, through the
sweepers' own choice code: how often each picks the whole grid's winner, its regret, and its share of the grid's steps.

    python scripts/learning_curves.py multirun/replay_grid_10x10 > curves.csv    # every epoch of every trial of a sweep
    python scripts/replay_sweepers.py curves.csv > replay.md                      # a Markdown table per file
    python scripts/replay_sweepers.py --from-protocol protocol.json > curves.csv  # a record's rung losses as such a file

The input is the CSV of scripts/learning_curves.py: its rows with role `tuning` (validation loss per setting, seed and
epoch; the test seeds' rows are not read). Each `cell` is a grid replayed on its own; each file is a table.

- The winner of a cell is the setting with the lowest mean validation loss over ALL the grid's seeds at the full budget
  (the last epoch). A replay draws the tuning seeds among them: every subset of K of the grid's seeds, the same for
  every setting, as the sweeper trains them; so the winner is judged on more seeds than the strategy saw.
- A strategy's choice is the sweeper's (uvb_lab/launch/tune_then_test.py): a setting's score at a budget is `aggregate`
  (mean or worst) over its tuning seeds (`scores`), halving is `choose` over `rungs(n, eta, first budget, full)`, and
  the exhaustive grid is the same with the first budget at the full one. Hyperband's brackets are several halving runs
  with different first budgets; of their choices the one with the best score at the full budget is kept (`choose`).
- Regret: (L(chosen) - L(winner)) / |L(winner)|, L the mean over all the grid's seeds at the full budget; inf where the
  choice diverged in a seed or nothing was chosen. "Within 1%": a regret of 0.01 or less.
- Share of the grid's steps: the epochs a strategy trains (K seeds x `training_cost` of its rungs, summed over
  brackets), over n settings x the full budget, the grid trained once on one seed. So the exhaustive grid on 2 seeds
  is 200%. A cell's epochs have one number of steps each, so this is also its share of the steps.
- A loss that is empty in the file (not finite), or a row that is missing (a trial that stopped short), scores inf, as in
  the sweepers: such a setting loses. Replay a grid trained in full: a sweep's halving-only trials stop at their rung.

The recommendation: the cheapest strategy that is within 1% of the winner in at least 90% of the replays (all cells
together) at no more than 1/3 of the grid's steps, or, where none is, the one closest to it within that budget.
"""

import argparse
import csv
import itertools
import math
import re
import sys
from dataclasses import dataclass, field
from fractions import Fraction
from pathlib import Path

import numpy as np
from learning_curves import COLUMNS  # scripts/learning_curves.py, beside this script: the file this one reads

from uvb_lab.launch import protocol_record
from uvb_lab.launch.protocol_record import MEAN, WORST
from uvb_lab.launch.successive_halving import Rung, rungs, training_cost
from uvb_lab.launch.trials import DIVERGED, NO_VALIDATION, RecordError, Trial, score
from uvb_lab.launch.tune_then_test import choose, scores
from uvb_lab.run.records import MAX_BYTES

WITHIN, TARGET_SHARE, TARGET_RATE = 0.01, Fraction(1, 3), Fraction(9, 10)
NEEDED = ("cell", "setting", "role", "seed", "epoch", "val_loss")
INTEGER = re.compile(r"-?[0-9]{1,18}")  # a seed or an epoch; thousands of digits would make int() refuse
HALVING, HYPERBAND, EXHAUSTIVE = "halving", "Hyperband", "exhaustive grid"


@dataclass
class Cell:
    """One cell's grid: setting -> seed -> Trial (epoch -> validation loss or the word for why none)."""

    names: list[str]
    seeds: list[int]
    epochs: list[int]
    trials: dict[str, dict[int, Trial]]
    short: list[str] = field(default_factory=list)  # settings with no finite loss at the full budget in some seed

    @property
    def full(self) -> int:
        return self.epochs[-1]


@dataclass(frozen=True)
class Strategy:
    kind: str
    seeds: int  # K, the tuning seeds
    how: str  # the aggregate over them
    etas: tuple[int, ...]
    first: tuple[int, ...]  # the first budget of each halving run (one, or Hyperband's brackets)

    def schedules(self, cell: Cell) -> list[list[Rung]]:
        """Each halving run's rungs; the exhaustive grid's one rung, every setting to the full budget (first = full)."""
        if self.kind == EXHAUSTIVE:
            return [rungs(len(cell.names), 2, cell.full, cell.full)]
        return [rungs(len(cell.names), self.etas[0], first, cell.full) for first in self.first]

    def share(self, cell: Cell) -> Fraction:
        return Fraction(self.seeds * sum(training_cost(s) for s in self.schedules(cell)), len(cell.names) * cell.full)


# ---- reading ---------------------------------------------------------------------------------------------------

def read_curves(path: Path) -> dict[str, Cell]:
    """The cells of a learning-curves CSV (its tuning rows); RecordError naming the line and column of a bad field."""
    try:
        if path.stat().st_size > MAX_BYTES:
            raise RecordError(f"{path} is larger than {MAX_BYTES} bytes; not a learning-curves file")
        text = path.read_text()
    except (OSError, UnicodeDecodeError) as error:
        raise RecordError(f"cannot read {path} ({getattr(error, 'strerror', None) or error})") from None
    reader = csv.DictReader(text.splitlines())
    missing = [column for column in NEEDED if column not in (reader.fieldnames or [])]
    if missing:
        raise RecordError(f"{path}: no column {missing[0]!r} (scripts/learning_curves.py writes {', '.join(COLUMNS)})")
    found: dict[str, dict[str, dict[int, Trial]]] = {}
    for line, row in enumerate(reader, 2):
        if row["role"] != "tuning":
            continue
        for column in ("seed", "epoch"):
            if not INTEGER.fullmatch(row[column] or "") or column == "epoch" and int(row[column]) < 1:
                raise RecordError(f"{path}: line {line}: {column} is {row[column]!r}, not {'an epoch >= 1' if column == 'epoch' else 'an integer'}")
        trial = found.setdefault(row["cell"], {}).setdefault(row["setting"], {}).setdefault(int(row["seed"]), Trial())
        # a later row at the same epoch wins, as the sweeper reads the last evaluation at a budget (trials.budget_row)
        trial.at[int(row["epoch"])] = _loss(row["val_loss"], f"{path}: line {line}")
    if not found:
        raise RecordError(f"{path}: no row with role 'tuning'")
    return {name: _cell(trials) for name, trials in found.items()}


def _loss(text: str, where: str) -> float | str:
    if text == "":
        return DIVERGED  # learning_curves.py writes a loss that was not finite as empty
    try:
        value = float(text)
    except ValueError:
        raise RecordError(f"{where}: val_loss is {text[:40]!r}, not a number") from None
    return value if math.isfinite(value) else DIVERGED


def _cell(trials: dict[str, dict[int, Trial]]) -> Cell:
    """Every setting, seed and epoch of the cell filled in: a row the file lacks is no validation loss (scored inf)."""
    seeds = sorted({seed for by_seed in trials.values() for seed in by_seed})
    epochs = sorted({epoch for by_seed in trials.values() for trial in by_seed.values() for epoch in trial.at})
    for by_seed in trials.values():
        for seed in seeds:
            trial = by_seed.setdefault(seed, Trial())
            for epoch in epochs:
                trial.at.setdefault(epoch, NO_VALIDATION)
    short = [name for name, by_seed in trials.items() if any(not math.isfinite(score(t.at[epochs[-1]])) for t in by_seed.values())]
    return Cell(list(trials), seeds, epochs, trials, short)


def from_protocol(path: Path) -> list[dict]:
    """A tune-then-test record's validation losses as learning-curve rows (role tuning, one per setting, seed and rung
    budget; val_loss empty where the trial had no finite loss). Format 1 holds one tuning seed's losses, of the seed
    before the first test seed (the sweeper numbers the test seeds after the tuning seeds); format 2 holds each seed's.
    RecordError where a setting lacks a budget: a replay needs the whole grid (hydra.sweeper.exhaustive=true)."""
    if not path.is_file():
        raise FileNotFoundError(f"{path}: no such protocol record")
    record = protocol_record.read_record(path)
    if record.get("budget_key", "trainer.epochs") != "trainer.epochs":
        raise RecordError(f"{path}: budgets in {record['budget_key']}; a learning-curves file has one row per epoch")
    out = []
    for cell, entry in record["cells"].items():
        if record["format"] == 1:
            seed = record["seeds"][0] - 1 if record.get("seeds") else 0
            losses = {setting: {seed: by_budget} for setting, by_budget in entry.get("val_loss", {}).items()}
            seeds = [seed]
        else:
            losses = {setting: {int(seed): trial.get("at", {}) for seed, trial in by_seed.items()} for setting, by_seed in entry.get("trials", {}).items()}
            seeds = record["tuning_seeds"]
        settings = record.get("grid") or list(losses)
        budgets = sorted({int(b) for by_seed in losses.values() for at in by_seed.values() for b in at}
                         | {rung[1] for rung in record.get("rungs", [])})
        for setting, seed, budget in itertools.product(settings, seeds, budgets):
            at = losses.get(setting, {}).get(seed, {})
            if str(budget) not in at:
                raise RecordError(f"{path}: {cell}, {setting}, seed {seed} has no result at trainer.epochs={budget}: a replay needs "
                                  "every setting at every budget (a record made with hydra.sweeper.exhaustive=true)")
            value = at[str(budget)]  # a loss, or null (format 1) or a word (format 2) where the trial had none
            out.append({"cell": cell, "setting": setting, "role": "tuning", "seed": seed, "epoch": budget,
                        "val_loss": repr(float(value)) if isinstance(value, int | float) else ""})
    return out


# ---- replaying -------------------------------------------------------------------------------------------------

def strategies(cells: dict[str, Cell], seed_counts: list[int], etas: list[int], firsts: list[int]) -> tuple[list[Strategy], list[str]]:
    """Every strategy the grid can replay (its rung budgets epochs of every cell, K no more than every cell's seeds),
    and what was left out, in words. Strategies whose rungs coincide in every cell (eta 3 and 4 over 5 settings) are
    one row, their etas listed."""
    fewest = min(len(cell.seeds) for cell in cells.values())
    seedings = [(k, how) for k in seed_counts if k <= fewest for how in ((MEAN,) if k == 1 else (MEAN, WORST))]
    left_out = [f"{k} tuning seeds (a cell has {fewest})" for k in seed_counts if k > fewest]
    full = min(cell.full for cell in cells.values())
    halving_firsts = [b for b in firsts if b < full]
    candidates = []
    for k, how in seedings:
        candidates.append(Strategy(EXHAUSTIVE, k, how, (), ()))
        for eta in etas:
            candidates += [Strategy(HALVING, k, how, (eta,), (b,)) for b in halving_firsts]
            candidates += [Strategy(HYPERBAND, k, how, (eta,), brackets)
                           for size in range(2, len(halving_firsts) + 1) for brackets in itertools.combinations(halving_firsts, size)]
    kept: dict[tuple, Strategy] = {}
    lacking = 0
    for strategy in candidates:
        plans = [strategy.schedules(cell) for cell in cells.values()]
        if any(rung.budget not in cell.epochs for plan, cell in zip(plans, cells.values()) for s in plan for rung in s):
            lacking += 1
            continue
        key = (strategy.kind, strategy.seeds, strategy.how, tuple(tuple(tuple(s) for s in plan) for plan in plans))
        if key in kept:
            strategy = Strategy(strategy.kind, strategy.seeds, strategy.how, kept[key].etas + strategy.etas, kept[key].first)
        kept[key] = strategy
    if lacking:
        left_out.append(f"{lacking} halving or Hyperband strateg{'ies' if lacking > 1 else 'y'} with a rung at an epoch the file lacks")
    return list(kept.values()), left_out


def pick(strategy: Strategy, cell: Cell, val: dict[str, dict[int, float]]) -> str | None:
    """The strategy's choice from the tuning seeds' scores (setting -> epoch -> aggregate), by the sweeper's `choose`."""
    chosen = {choose(val, cell.names, schedule)[1] for schedule in strategy.schedules(cell)} - {None}
    finalists = [name for name in cell.names if name in chosen]  # the grid's order breaks ties, as the sweeper's
    return choose(val, finalists, rungs(len(finalists), 2, cell.full, cell.full))[1] if finalists else None


@dataclass
class Outcome:
    """A strategy's replays on one cell."""

    share: Fraction
    picks: int = 0
    regrets: list[float] = field(default_factory=list)

    @property
    def within(self) -> int:
        return sum(regret <= WITHIN for regret in self.regrets)


def reference(cell: Cell) -> tuple[dict[str, float], str | None]:
    """Each setting's mean over all the grid's seeds at the full budget, and the winner (None: every setting diverged)."""
    val = scores(cell.trials, cell.seeds, MEAN)
    return {name: val[name][cell.full] for name in cell.names}, choose(val, cell.names, rungs(len(cell.names), 2, cell.full, cell.full))[1]


def replay(cell: Cell, plan: list[Strategy]) -> dict[Strategy, Outcome]:
    """Each strategy on every draw of its tuning seeds (every K-subset of the cell's seeds, the same for every setting)."""
    at_full, winner = reference(cell)
    outcomes = {strategy: Outcome(strategy.share(cell)) for strategy in plan}
    for k, how in dict.fromkeys((strategy.seeds, strategy.how) for strategy in plan):
        for drawn in itertools.combinations(cell.seeds, k):
            val = scores(cell.trials, list(drawn), how)
            for strategy in (s for s in plan if (s.seeds, s.how) == (k, how)):
                chosen, outcome = pick(strategy, cell, val), outcomes[strategy]
                outcome.picks += chosen == winner
                loss = at_full.get(chosen, math.inf)
                outcome.regrets.append((loss - at_full[winner]) / abs(at_full[winner]) if math.isfinite(loss) else math.inf)
    return outcomes


# ---- the report ------------------------------------------------------------------------------------------------

def label(strategy: Strategy, cells: dict[str, Cell]) -> str:
    if strategy.kind == EXHAUSTIVE:  # on every seed of the grid and by their mean, it is the winner's definition
        everything = strategy.how == MEAN and all(strategy.seeds == len(cell.seeds) for cell in cells.values())
        return f"{EXHAUSTIVE} (the reference)" if everything else EXHAUSTIVE
    shapes = {(len(cell.names), cell.full) for cell in cells.values()}
    def runs(cell):
        return [", ".join(f"{rung.configs} to {rung.budget}" for rung in s) for s in strategy.schedules(cell)]
    if len(shapes) == 1:  # every cell has these rungs: show them
        text = " + ".join(f"[{r}]" for r in runs(next(iter(cells.values())))) if strategy.kind == HYPERBAND else runs(next(iter(cells.values())))[0]
    else:
        text = "first budgets " + " + ".join(map(str, strategy.first))
    return f"{strategy.kind}: {text}"


def _percent(value: float) -> str:
    return "inf" if not math.isfinite(value) else f"{100 * value:+.2f}%"


def table(cells: dict[str, Cell], plan: list[Strategy], results: dict[str, dict[Strategy, Outcome]]) -> tuple[list[str], list[tuple]]:
    """The Markdown rows, cheapest first within each kind, and (strategy, share, within rate, mean regret) per row."""
    lines = ["| strategy | eta | tuning seeds | share of the grid's steps | replays | picks the winner | within 1% | "
             "within 1%, worst cell | regret: mean | regret: worst |", "|---|---|---|---|---|---|---|---|---|---|"]
    rows = []
    order = {EXHAUSTIVE: 0, HALVING: 1, HYPERBAND: 2}
    for strategy in sorted(plan, key=lambda s: (order[s.kind], max(results[c][s].share for c in results), s.seeds, s.how, label(s, cells))):
        outcomes = [results[cell][strategy] for cell in results]
        regrets = [regret for outcome in outcomes for regret in outcome.regrets]
        share, replays = max(outcome.share for outcome in outcomes), len(regrets)
        picks, within = sum(outcome.picks for outcome in outcomes), sum(outcome.within for outcome in outcomes)
        worst_cell = min(outcomes, key=lambda outcome: Fraction(outcome.within, len(outcome.regrets)))
        seeds = f"{strategy.seeds}" + (f" ({strategy.how})" if strategy.seeds > 1 else "")
        lines.append(f"| {label(strategy, cells)} | {', '.join(map(str, strategy.etas)) or '—'} | {seeds} | {float(share):.0%} | {replays} | "
                     f"{picks}/{replays} | {within}/{replays} | {worst_cell.within}/{len(worst_cell.regrets)} | "
                     f"{_percent(float(np.mean(regrets)))} | {_percent(max(regrets))} |")
        rows.append((strategy, share, Fraction(within, replays), float(np.mean(regrets))))
    return lines, rows


def _named(row: tuple, cells: dict[str, Cell]) -> str:
    strategy, share, rate, _ = row
    return (f"{label(strategy, cells)}, {strategy.seeds} tuning seed{'s' * (strategy.seeds > 1)}{f' ({strategy.how})' if strategy.seeds > 1 else ''}"
            f" (within 1% in {float(rate):.0%} of the replays at {float(share):.0%} of the grid's steps)")


def recommendation(rows: list[tuple], cells: dict[str, Cell]) -> str:
    """The cheapest strategy within 1% in 90% of the replays at <= 1/3 of the steps; or, where none is, the best within
    that budget and the cheapest that gets to 90% at any cost (or the best at any cost where none does)."""
    within_budget = [row for row in rows if row[1] <= TARGET_SHARE]
    reaching = [row for row in rows if row[2] >= TARGET_RATE]
    good = [row for row in within_budget if row[2] >= TARGET_RATE]
    if good:
        return f"Recommendation: {_named(min(good, key=lambda row: (row[1], -row[2], row[3])), cells)}, the cheapest to get there."
    parts = [f"Recommendation: no strategy is within 1% of the winner in {float(TARGET_RATE):.0%} of the replays at no more than "
             f"{float(TARGET_SHARE):.0%} of the grid's steps"]
    if within_budget:
        parts.append(f"the best within that budget: {_named(max(within_budget, key=lambda row: (row[2], -row[3], -row[1])), cells)}")
    else:
        parts.append(f"none replayed costs that little (the cheapest: {float(min(row[1] for row in rows)):.0%})")
    if reaching:
        parts.append(f"the cheapest to get there at any cost: {_named(min(reaching, key=lambda row: (row[1], -row[2], row[3])), cells)}")
    else:
        parts.append(f"the best measured at any cost: {_named(max(rows, key=lambda row: (row[2], -row[3], -row[1])), cells)}")
    return "; ".join(parts) + "."


def report(path: Path, cells: dict[str, Cell], plan: list[Strategy], left_out: list[str]) -> str:
    lines = [f"## Replay of {path.name}", ""]
    winners = {name: reference(cell) for name, cell in cells.items()}
    lines += ["| cell | settings | seeds | epochs | winner (mean over the seeds at the full budget) | its loss | second best |",
              "|---|---|---|---|---|---|---|"]
    for name, cell in cells.items():
        at_full, winner = winners[name]
        if winner is None:
            lines.append(f"| {name} | {len(cell.names)} | {len(cell.seeds)} | {cell.epochs[0]}-{cell.full} | none: every setting diverged | — | — |")
            continue
        ranked = sorted((s for s in cell.names if s != winner and math.isfinite(at_full[s])), key=lambda s: at_full[s])
        second = f"{ranked[0]}, {_percent((at_full[ranked[0]] - at_full[winner]) / abs(at_full[winner]))}" if ranked else "—"
        lines.append(f"| {name} | {len(cell.names)} | {len(cell.seeds)} ({', '.join(map(str, cell.seeds))}) | "
                     f"{', '.join(map(str, cell.epochs)) if len(cell.epochs) <= 4 else f'{cell.epochs[0]}-{cell.full}'} | {winner} | "
                     f"{at_full[winner]:.4g} | {second} |")
    short = [f"{name}: {', '.join(cell.short)}" for name, cell in cells.items() if cell.short]
    if short:
        lines += ["", "Settings with no finite loss at the full budget in some seed (scored inf: diverged, or the file "
                  f"has no row there): {'; '.join(short)}."]
    replayed = {name: cell for name, cell in cells.items() if winners[name][1] is not None}
    if not replayed or not plan:
        why = "no cell has a winner" if not replayed else f"no strategy can be replayed on this grid ({'; '.join(left_out)})"
        return "\n".join([*lines, "", f"Nothing to replay: {why}."]) + "\n"
    results = {name: replay(cell, plan) for name, cell in replayed.items()}
    rows_text, rows = table(replayed, plan, results)
    lines += ["", *rows_text]
    if left_out:
        lines += ["", f"Not replayable on this grid: {'; '.join(left_out)}."]
    lines += ["", recommendation(rows, replayed), ""]
    return "\n".join(lines) + "\n"


def legend() -> str:
    return (
        "A replay draws the tuning seeds (every subset of K of a cell's seeds, the same for every setting) and runs the "
        "strategy through the sweeper's own choice (uvb_lab/launch/tune_then_test.py). The winner: the lowest mean validation "
        "loss over all of a cell's seeds at the full budget. Regret: the chosen setting's mean there against the winner's, "
        "relative (inf: it diverged in a seed); within 1%: a regret of 1% or less. Share of the grid's steps: the epochs trained "
        "(tuning seeds x the rungs' cost, summed over Hyperband's brackets) over every setting trained to the full budget on one "
        "seed; the largest over the cells. Replays and counts: all cells together; worst cell: the cell with the fewest replays within 1%.\n"
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("curves", type=Path, nargs="*", help="learning-curves CSV files (scripts/learning_curves.py), each a grid")
    parser.add_argument("--from-protocol", type=Path, metavar="PROTOCOL_JSON",
                        help="write a tune-then-test record's losses as a learning-curves CSV on stdout, and replay nothing")
    parser.add_argument("--tuning-seeds", default="1,2", help="the numbers of tuning seeds K to replay (default 1,2)")
    parser.add_argument("--etas", default="2,3,4", help="halving's eta values (default 2,3,4)")
    parser.add_argument("--first-budgets", default="1,2,4", help="the first rung's budgets, in epochs (default 1,2,4)")
    args = parser.parse_args(argv)
    try:
        seed_counts, etas, firsts = (sorted({int(v) for v in text.split(",")}) for text in (args.tuning_seeds, args.etas, args.first_budgets))
    except ValueError:
        parser.error("--tuning-seeds, --etas and --first-budgets are lists of integers: 1,2")
    if min(seed_counts) < 1 or min(etas) < 2 or min(firsts) < 1:
        parser.error("tuning seeds >= 1, eta >= 2, first budgets >= 1")
    if bool(args.from_protocol) == bool(args.curves):
        parser.error("give learning-curves files, or --from-protocol PROTOCOL_JSON")
    try:
        if args.from_protocol:
            rows = from_protocol(args.from_protocol)
            writer = csv.DictWriter(sys.stdout, COLUMNS, restval="", lineterminator="\n")
            writer.writeheader()
            writer.writerows(rows)
            return 0
        grids = {path: read_curves(path) for path in args.curves}
    except (FileNotFoundError, RecordError) as error:
        print(f"replay_sweepers: error: {error}", file=sys.stderr)
        return 2
    print("# Replaying the sweepers on recorded learning curves (scripts/replay_sweepers.py)\n")
    print(legend())
    for path, cells in grids.items():
        print(report(path, cells, *strategies(cells, seed_counts, etas, firsts)), end="")
    return 0


if __name__ == "__main__":
    sys.exit(main())
