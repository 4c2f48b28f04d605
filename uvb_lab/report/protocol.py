"""Tune, then test, read back: the table of a comparison made by hydra/sweeper=tune_then_test (docs/protocol.md).

From the sweep folder's protocol.json (uvb_lab/launch/tune_then_test.py) and its test runs' summaries: per cell the grid
and its validation losses at every rung, the setting chosen from them, the budget, and over the fresh test seeds the
test denoising loss as mean ± 95% t-interval over the stable seeds (those that finished with a finite test loss: a
cell with a seed that diverged or failed says how many, and is flagged), beside the linear (Wiener) denoiser's and
the Bayes risk where the data's distribution is known; the risk ratio and the fraction of the noise removed, 1 - loss / (d sigma^2), d sigma^2 being
what the noisy input itself scores. A chosen setting at the smallest or largest value of a swept numeric key is flagged:
the best may lie beyond the grid. Then the differences of models within each setting of the other keys (sigma, ...):
Welch's interval beside the paired one, paired only where both fingerprints match seed by seed (uvb_lab/report/pairing.py),
with Holm-adjusted p-values and the seeds for 80% power (uvb_lab/report/comparisons.py).
"""

import csv
import dataclasses
import io
import math
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from uvb_lab import paper
from uvb_lab.launch.protocol_record import EXHAUSTIVE, FORMAT, RECORD, load_trials, read_record
from uvb_lab.launch.trials import FAILED, FINISHED, Trial, test_outcome
from uvb_lab.report import pairing
from uvb_lab.report.comparisons import comparisons_table
from uvb_lab.report.search import edge_warning, edges, setting_values
from uvb_lab.report.stats import Interval, number
from uvb_lab.report.tables import PARAMETER_MISMATCH, Table
from uvb_lab.run import summary as field
from uvb_lab.run.files import RunStatus
from uvb_lab.run.folder import recorded_identity

# protocol.csv: a row per cell and metric (mean, the half-width of its 95% t-interval, seeds), and per comparison of two
# cells its Welch difference (n: the runs of both), its paired difference where paired (n: the seeds both ran), its
# p-value, Holm's adjustment of it and the seeds for 80% power, each in `mean`.
TIDY = ("cell", "chosen", "budget", "metric", "mean", "half_width_95", "n")


@dataclass
class CellResult:
    name: str
    overrides: list[str]
    chosen: str | None
    val_loss: dict[str, dict[str, float | None]]  # setting -> budget -> validation loss
    summaries: dict[int, dict[str, Any]]  # test seed -> summary.json of its run, for the stable seeds (finished, finite)
    dimension: int | None  # d = channels * image_size^2
    outcomes: dict[int, str] = dataclasses.field(default_factory=dict)  # every test seed's: finished, diverged, failed, ...
    no_choice: str | None = None  # why the cell chose nothing (every setting failed)
    trials: dict[str, dict[int, Trial]] = dataclasses.field(default_factory=dict)  # setting -> tuning seed -> its results (format 2)

    def unstable(self) -> dict[str, int]:
        """The test seeds that did not finish with a finite test loss, counted by outcome."""
        return dict(Counter(outcome for outcome in self.outcomes.values() if outcome != FINISHED))

    def seeds_text(self) -> str:
        """'3 seeds, 1 diverged'."""
        return ", ".join([f"{len(self.outcomes)} seed{'s' * (len(self.outcomes) != 1)}", *(f"{n} {word}" for word, n in self.unstable().items())])

    def values(self, key: str) -> dict[int, float]:
        return {seed: s[key] for seed, s in self.summaries.items() if isinstance(s.get(key), int | float) and math.isfinite(s[key])}

    def test_loss(self) -> dict[int, float]:
        return self.values(field.TEST_DENOISING_LOSS) or self.values(field.TEST_LOSS)

    def noise_removed(self) -> dict[int, float]:
        """1 - loss / (d sigma^2) per seed: 0 for returning y, 1 for a perfect denoiser."""
        if not self.dimension:
            return {}
        return {seed: 1 - loss / (self.dimension * self.summaries[seed][field.SIGMA] ** 2) for seed, loss in self.test_loss().items()}

    def model(self) -> str:
        return next((o.split("=", 1)[1] for o in self.overrides if o.split("=", 1)[0] == "model"), "")

    def others(self) -> str:
        """What the cell is besides its model: the key of the group its models are compared in."""
        return " ".join(o for o in self.name.split(" ") if not o.startswith("model="))


def read_cells(folder: Path) -> tuple[dict[str, Any], list[CellResult]]:
    """The record (checked: protocol_record.read_record, RecordError if it breaks its layout) and each cell's results.

    Every test seed is counted: its outcome as the record gives it (format 2), else as its folder tells (format 1,
    read as one tuning seed). Only the stable seeds, finished with a finite test loss, enter the summaries."""
    record = read_record(folder / RECORD)
    cells = []
    for name, entry in record["cells"].items():
        chosen = entry.get("chosen")
        recorded = (entry.get("test_outcomes_of") or {}).get(chosen, {}) if chosen else {}
        runs = entry.get("test_runs") or {}
        summaries, outcomes, dimension = {}, {}, None
        for seed in sorted({*runs, *recorded}, key=int):
            run_dir = folder / runs[seed] if runs.get(seed) else None
            outcome = recorded.get(seed) or (_outcome_of(run_dir) if run_dir else FAILED)
            if outcome == FINISHED:  # as recorded: its summary must still say so
                outcome = _outcome_of(run_dir) if run_dir else "not found"
            if outcome == FINISHED:
                summaries[int(seed)] = field.read(run_dir)
                dimension = dimension or _dimension(run_dir)
            outcomes[int(seed)] = outcome
        trials = load_trials(entry) if record["format"] == FORMAT else {}
        cells.append(CellResult(name, entry.get("cell", []), chosen, entry.get("val_loss", {}), summaries, dimension,
                                outcomes, entry.get("no_choice"), trials))
    return record, cells


def _outcome_of(run_dir: Path) -> str:
    """A test seed's outcome as its folder tells it (a format-1 record kept none): finished, diverged (its test loss is
    not finite), failed, or its status where it stopped (running, preempted, ...); not found. A summary a reader cannot
    rely on is a RecordError, which every reader turns into one line and exit 2."""
    try:
        summary = field.read(run_dir)  # checked against its schema as it is read: a damaged one is a RecordError
    except FileNotFoundError:
        return "not found"
    if summary[field.STATUS] not in (RunStatus.FINISHED, RunStatus.FAILED, RunStatus.UNSCORED):
        return str(summary[field.STATUS])
    return test_outcome(run_dir)


def _dimension(run_dir: Path) -> int | None:
    try:
        identity = recorded_identity(run_dir)
        return int(identity["data.channels"]) * int(identity["data.image_size"]) ** 2
    except (OSError, ValueError, KeyError, TypeError):
        return None


def _interval(values: dict[int, float], scale: float = 1.0) -> str:
    if not values:
        return "—"
    interval = Interval.of([v * scale for v in values.values()])
    return interval.text()


def _grid_text(cell: CellResult, at_edge: bool) -> str:
    """Each setting's score at each rung, the chosen in bold (⚠ where it is at the grid's edge); where a score is not
    finite, what its seeds came to."""
    parts = []
    for setting, by_budget in cell.val_loss.items():
        losses = " → ".join(number(v) if v is not None else _why(cell, setting, int(b)) for b, v in sorted(by_budget.items(), key=lambda kv: int(kv[0])))
        bold = "**" if setting == cell.chosen else ""
        parts.append(f"{bold}{setting}: {losses}{bold}{' ⚠' if bold and at_edge else ''}")
    return "; ".join(parts)


def grid_edges(cell: CellResult, grid: list[str]) -> list[str]:
    """Where the cell's chosen setting sits at the edge of the grid (search.edges); empty where it chose nothing."""
    return edges(setting_values(cell.chosen), [setting_values(setting) for setting in grid]) if cell.chosen else []


def _why(cell: CellResult, setting: str, budget: int) -> str:
    """'diverged', or 'diverged (seed 1)' where another tuning seed finished; 'failed' in a format-1 record."""
    by_seed = cell.trials.get(setting, {})
    words = {seed: trial.at.get(budget) for seed, trial in by_seed.items() if isinstance(trial.at.get(budget), str)}
    if not words:
        return FAILED
    if len(words) == len(by_seed):
        return "/".join(dict.fromkeys(words.values()))
    return ", ".join(f"{word} (seed {seed})" for seed, word in words.items())


def _one(values: dict[int, float]) -> float | None:
    """The value the seeds share (the linear row and the Bayes risk depend on the data and noise, not the seed)."""
    return sum(values.values()) / len(values) if values else None


def paper_test_loss(cell: CellResult) -> float | None:
    """The paper's test loss for the cell's model, dataset and sigma (Tables 2, 3), where it reports one."""
    summary = next(iter(cell.summaries.values()), {})
    return paper.sigma_table_value(summary.get(field.DATASET), cell.model(), "test", summary.get(field.SIGMA))


def protocol_table(folder: Path, bootstrap: bool = False) -> tuple[str, str]:
    """(Markdown, tidy CSV) of the protocol in folder; bootstrap: a BCa interval of each comparison too."""
    record, cells = read_cells(folder)
    with_paper = any(paper_test_loss(cell) is not None for cell in cells)
    rungs = ", ".join(f"{n} to {record.get('budget_key')}={budget}" for n, budget in record.get("rungs", []))
    full_budget = f"{record.get('budget_key')}={record.get('full_budget')}"
    chooser = (f", then every setting to {full_budget} (the exhaustive grid), whose best made the choice"
               if record.get("choose_by") == EXHAUSTIVE else "")
    tuning_seeds = record.get("tuning_seeds", [])
    scored = (f"the {record.get('aggregate')} of the validation losses of tuning seeds {', '.join(map(str, tuning_seeds))} at each rung's budget"
              if len(tuning_seeds) > 1 else f"validation loss at each rung's budget, tuning seed {tuning_seeds[0]}" if tuning_seeds
              else "validation loss at each rung's budget, one tuning seed")
    lines = [
        f"## Tune, then test in {folder}",
        "",
        f"Every cell was tuned over the same grid ({', '.join(record.get('grid', []))}) on the validation split by successive "
        f"halving (eta {record.get('eta')}; rungs: {rungs}){chooser}, the same budget for every model; the chosen setting (bold; "
        f"{scored}) then trained fresh seeds {', '.join(map(str, record.get('seeds', [])))} to "
        f"{record.get('budget_key')}={record.get('full_budget')}, each scored once on the test set. Every ± of this table is the "
        "half-width of a 95% t-interval (Student's t, n - 1 degrees of freedom) over the test seeds that finished with a finite "
        "test loss, never a tuning run; a cell with a seed that did not (diverged, failed) says how many, beside them, and is "
        "flagged ⚠, and so is a chosen setting at the smallest or largest value of a key the grid sweeps (the best may lie "
        "beyond it). Noise removed: 1 - loss / (d σ²).",
        "",
        "| cell | parameters | grid: validation loss per rung | test loss (mean ± 95% CI) | linear (Wiener) | training-set prior | Bayes risk "
        "| risk ratio (mean ± 95% CI) | noise removed (mean ± 95% CI) |" + (" the paper's test loss¹ |" if with_paper else ""),
        "|---|---|---|---|---|---|---|---|---|" + ("---|" if with_paper else ""),
    ]
    tidy = io.StringIO()
    writer = csv.writer(tidy, lineterminator="\n")
    writer.writerow(TIDY)
    notes: list[str] = []
    for cell in cells:
        loss, linear, bayes = cell.test_loss(), _one(cell.values(field.TEST_LINEAR_RISK)), _one(cell.values(field.TEST_BAYES_RISK))
        prior = _one(cell.values(field.TEST_EMPIRICAL_PRIOR_LOSS))  # the training set's Bayes denoiser (empirical_prior.py)
        flag = ""
        if cell.no_choice:
            notes.append(f"{cell.name} chose nothing: {cell.no_choice} (diverged, failed or had no validation loss in a tuning "
                         "seed), so no test seed was trained")
        if cell.unstable():
            flag = f" ({cell.seeds_text()}) ⚠"
            notes.append(f"{cell.name}: {cell.seeds_text()}; its test numbers are over the {len(cell.summaries)} seed"
                         f"{'s' * (len(cell.summaries) != 1)} that finished with a finite test loss")
        if loss and linear is not None and Interval.of(list(loss.values())).mean > linear:
            flag = flag or " ⚠"
            notes.append(f"{cell.name} is above the linear (Wiener) denoiser: mis-tuned, or unable to represent it (docs/protocol.md)")
        if at_edge := grid_edges(cell, record.get("grid", [])):
            notes.append(f"{cell.name}: its chosen {cell.chosen} is {edge_warning(at_edge).removeprefix('⚠ ')}")
        params = {s.get(field.NUM_PARAMS) for s in cell.summaries.values()} - {None}
        ratio = cell.values(field.TEST_RISK_RATIO)
        removed = cell.noise_removed()
        lines.append(
            f"| {cell.name} | {', '.join(f'{p:,}' for p in sorted(params)) or '—'} | {_grid_text(cell, bool(at_edge))} | "
            f"{f'no choice: {cell.no_choice} ⚠' if cell.no_choice else _interval(loss) + flag} | "
            f"{number(linear) if linear is not None else '—'} | {number(prior) if prior is not None else '—'} | "
            f"{number(bayes) if bayes is not None else '—'} | "
            f"{_interval(ratio)} | {_interval(removed, 100)}{'%' if removed else ''} |"
            + (f" {number(reference) if (reference := paper_test_loss(cell)) is not None else '—'} |" if with_paper else "")
        )
        for metric, values in (("test_loss", loss), ("risk_ratio", ratio), ("noise_removed", removed)):
            if values:
                interval = Interval.of(list(values.values()))
                writer.writerow([cell.name, cell.chosen, record.get("full_budget"), metric, interval.mean, interval.half_width, interval.n])
        for metric, value in (("linear_risk", linear), ("empirical_prior_loss", prior), ("bayes_risk", bayes)):
            if value is not None:
                writer.writerow([cell.name, cell.chosen, record.get("full_budget"), metric, value, "", len(cell.summaries)])
        for outcome, n in cell.unstable().items():  # the seeds left out of the intervals above, by outcome
            writer.writerow([cell.name, cell.chosen, record.get("full_budget"), f"seeds_{outcome.replace(' ', '_')}", n, "", len(cell.outcomes)])
    if with_paper:
        lines += ["", f"¹ The paper's Table {paper.SIGMA_TABLE_NUMBER.get(next(iter(cells[0].summaries.values()), {}).get(field.DATASET), '2 or 3')}: "
                  f"its own widths (Table 1) after {paper.EPOCHS} epochs at one shared rate, without an interval: a scale, not a target."]
    lines += ["", *(f"⚠ {note}." for note in notes)]
    if (differences := comparisons(cells, bootstrap)) is not None:
        lines += ["", differences.markdown()]
        write_comparisons(differences, writer)
    return "\n".join(lines) + "\n", tidy.getvalue()


def comparisons(cells: list[CellResult], bootstrap: bool = False) -> Table | None:
    """The test-loss differences of the models within each group of cells that differ by the model alone, one row each
    (uvb_lab/report/comparisons.py); None where no group has two models with a finished seed."""
    groups: dict[str, list[CellResult]] = {}
    for cell in cells:
        if cell.model():
            groups.setdefault(cell.others(), []).append(cell)
    rows = []
    for others, members in groups.items():
        for i, a in enumerate(members):
            for b in members[i + 1:]:
                losses = a.test_loss(), b.test_loss()
                if not all(losses):
                    continue
                pairs = pairing.seeds_pair({s: a.summaries[s] for s in losses[0]}, {s: b.summaries[s] for s in losses[1]})
                rows.append(pairing.Compared(f"{a.model()} − {b.model()}", others or "—", *losses, pairs, tuple(_parameter_notes(a, b))))
    if not rows:
        return None
    return comparisons_table("protocol_comparisons", "Differences of the test loss between the models of each group", rows,
                             bootstrap=bootstrap)


def _parameter_notes(a: CellResult, b: CellResult) -> list[str]:
    params = [next(iter({s.get(field.NUM_PARAMS) for s in c.summaries.values()}), None) for c in (a, b)]
    if all(params) and abs(params[0] - params[1]) / max(params) > PARAMETER_MISMATCH:
        return [f"parameter counts differ by more than {PARAMETER_MISMATCH:.0%} ({params[0]:,} vs {params[1]:,})"]
    return []


def write_comparisons(table: Table, writer: Any) -> None:
    """Each comparison's numbers as rows of protocol.csv (TIDY)."""
    for record in table.records:
        label = record["row"] if record["at"] == "—" else f"{record['row']} at {record['at']}"
        if record.get("difference") is None:
            continue
        writer.writerow([label, "", "", "welch_difference_test_loss", record["difference"], _blank(record.get("welch_half_width_95")),
                         record["n_a"] + record["n_b"]])
        if record.get("paired_difference") is not None:
            writer.writerow([label, "", "", "paired_difference_test_loss", record["paired_difference"],
                             _blank(record.get("paired_half_width_95")), record["paired_n"]])
        for metric in ("p_value", "holm_p_value", "seeds_for_80_power"):
            if record.get(metric) is not None:
                writer.writerow([label, "", "", metric if metric != "p_value" else f"p_value_{record['test'].replace(' ', '_')}",
                                 record[metric], "", ""])


def _blank(value: float | None) -> float | str:
    return "" if value is None else value
