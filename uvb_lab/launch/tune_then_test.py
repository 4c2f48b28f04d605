"""Tune, then test (docs/protocol.md): the comparison protocol as a Hydra sweeper, in one command.

    uvb-train -m +experiment=bayes_gap_tuned            # conf/experiment/bayes_gap_tuned.yaml
    uvb-train --dry-run -m +experiment=bayes_gap_tuned  # the cells, the grid, the rungs, the runs and what they cost

The sweep's values (`hydra.sweeper.params` and the command's sweeps) are split by `hydra.sweeper.tune`: the keys it
names (the learning rate, its schedule) make the *grid*, the others (model, sigma, ...) the *cells* of the comparison.
Each cell gets its own setting from the same grid, by successive halving (uvb_lab/launch/successive_halving.py) with the same eta and budgets for every cell:

1. tune: every grid setting of every cell trains on each of the `tuning_seeds` seeds (each its own run folder) with
   `trainer.evaluate_test=false`, so its evaluations score the validation split (`data.val_fraction`) and never the
   test set. A setting's score at a rung is the `aggregate` (mean, or worst) of its seeds' validation losses at that
   budget, each read from the seed's own metrics.jsonl (uvb_lab/launch/trials.py); a seed that diverged, failed or
   has no validation loss makes it inf, so it loses. The best 1/eta continue, rung after rung, to the full budget.
   The cells' rung k is one launcher wave.
2. test: `seeds` fresh seeds of each cell's chosen setting train to the full budget and are scored once on the
   test set, on the paired test noise (uvb_lab/paired_noise.py). The tuning runs are not among them: their
   validation losses are the best of a selection, and a fresh seed is not. A cell whose every setting failed
   chooses nothing and trains no seeds; the launch then exits 2.

Seeds: tuning seeds `tuning_seed` ... `tuning_seed + tuning_seeds - 1`, test seeds the `seeds` after them, so the two
never meet (with one tuning seed: 0, then 1 ... seeds). A relaunch with another count of tuning seeds would renumber
them, a tuning seed becoming a test seed of the record: refused.

protocol.json in the sweep folder (its layout: uvb_lab/launch/protocol_record.py) records, per cell, each tuning
seed's result at each rung and their aggregate, the choice, and the test seeds' runs and outcomes; it is rewritten
after every wave and is the relaunch's memory, so a relaunch launches only what it lacks: a trial or seed that
diverged or failed is a result, not retried unless hydra.sweeper.retry_failed=true. `uvb-report SWEEP_DIR` reads it
(uvb_lab/report/protocol.py).

The choice reads the validation losses alone (`choose`); test numbers are never computed for a tuning run.
"""

import logging
import math
import statistics
from pathlib import Path
from typing import Any

from hydra.core.override_parser.overrides_parser import OverridesParser
from omegaconf import DictConfig, OmegaConf

from uvb_lab.launch.protocol_record import (
    EVERY_SETTING_FAILED,
    EXHAUSTIVE,
    FORMAT,
    HALVING,
    MEAN,
    RECORD,
    WORST,
    dump_trials,
    load_trials,
    read_record,
    write_record,
)
from uvb_lab.launch.sampled_space import Space, draw
from uvb_lab.launch.successive_halving import Rung, WaveSweeper, grid, rungs, survivors, training_cost
from uvb_lab.launch.trials import (
    FINISHED,
    NOT_RUN,
    RecordError,
    Trial,
    check_budget_key,
    check_extends,
    closing_line,
    loss_at,
    score,
    test_outcome,
)
from uvb_lab.run.files import write_atomic

log = logging.getLogger(__name__)

__all__ = ["EXHAUSTIVE", "HALVING", "RECORD", "Protocol", "TuneThenTestSweeper", "aggregate", "choose"]


def aggregate(results: list[float | str], how: str) -> float:
    """A setting's score at a budget over its tuning seeds' results: their mean, or the worst (largest) loss; inf
    where any seed has no finite loss (it diverged, failed or had no validation loss), so such a setting loses."""
    losses = [score(result) for result in results]
    if not all(math.isfinite(loss) for loss in losses):
        return math.inf
    return statistics.fmean(losses) if how == MEAN else max(losses)


def halve(val_losses: dict[str, dict[int, float]], names: list[str], schedule: list[Rung]) -> tuple[list[list[str]], str | None, bool]:
    """Successive halving over the scores so far: the settings trained at each rung reached (a rung is reached once
    every setting of the one before has its score), the chosen setting (None until the last rung is scored, or where
    no setting has a finite score left), and whether halving is done (every rung it needs is scored)."""
    alive, trained = list(names), []
    for k, rung in enumerate(schedule):
        if k:
            previous = [val_losses[name][schedule[k - 1].budget] for name in alive]
            alive = [alive[j] for j in sorted(survivors(previous, rung.configs)) if math.isfinite(previous[j])]
        trained.append(alive)
        if any(rung.budget not in val_losses.get(name, {}) for name in alive):
            return trained, None, False
    last = [val_losses[name][schedule[-1].budget] for name in alive]
    best = survivors(last, 1)
    return trained, alive[best[0]] if best and math.isfinite(last[best[0]]) else None, True


def choose(val_losses: dict[str, dict[int, float]], names: list[str], schedule: list[Rung]) -> tuple[list[str], str | None]:
    """Successive halving's survivors of the last rung reached and the chosen setting, from validation scores alone.

    val_losses: setting name -> {budget: score}. The chosen name is None until the last rung is scored, and where
    every setting left failed. Settings with no finite score at a rung never survive it."""
    trained, chosen, _ = halve(val_losses, names, schedule)
    return trained[-1], chosen


def scores(trials: dict[str, dict[int, Trial]], seeds: list[int], how: str) -> dict[str, dict[int, float]]:
    """setting -> budget -> its score there, for each budget at which every tuning seed has a result."""
    out = {}
    for setting, by_seed in trials.items():
        budgets = set.intersection(*(set(by_seed.get(seed, Trial()).at) for seed in seeds))
        out[setting] = {budget: aggregate([by_seed[seed].at[budget] for seed in seeds], how) for budget in sorted(budgets)}
    return out


def key_of(override: str) -> str:
    return override.split("=", 1)[0].lstrip("+~")


class Protocol:
    """The plan of one comparison: cells x grid, the rungs, the seeds; the pure part of the sweeper.

    space: the sweep's jobs as uvb_lab/launch/sampled_space.py draws them; the overrides of the `tune` keys make a
    job's setting, the others its cell, so `model=uvb,deen trainer.lr=1e-3,3e-3` with tune=[trainer.lr] is 2 cells x
    2 settings, and `trainer.lr=tag(log,interval(1e-4,1e-2))` with n_samples 9 gives every cell the same 9 drawn rates.
    """

    def __init__(self, sweeper: DictConfig, space: Space):
        self.budget_key, self.seed_key = sweeper.budget_key, sweeper.seed_key
        check_budget_key(self.budget_key)
        tune, jobs = set(sweeper.tune), space.jobs
        drawn_cells = [key for key in space.sampled_keys if key not in tune]
        if drawn_cells:  # each cell would be tuned over every drawn setting: the draws' pairing would mean nothing
            raise ValueError(f"{drawn_cells[0]} is drawn from an interval but is not tuned (hydra.sweeper.tune): a comparison's cells are listed, not drawn")
        for key in (self.budget_key, self.seed_key):
            if key in tune or len({o for job in jobs for o in job if key_of(o) == key}) > 1:
                raise ValueError(f"{key} is set by the protocol (budgets and seeds): tune it not, sweep it not")
        protocol_keys = (self.budget_key, self.seed_key, "trainer.evaluate_test")
        cells = [[o for o in job if key_of(o) not in tune and key_of(o) not in protocol_keys] for job in jobs]
        settings = [[o for o in job if key_of(o) in tune] for job in jobs]
        unique_cells = list({tuple(c): c for c in cells}.values())
        unique_settings = list({tuple(g): g for g in settings}.values())
        # A cell is named by the overrides that tell it apart (model=uvb sigma=0.3), a setting likewise (trainer.lr=0.001).
        self.cells, self.cell_names = grid(unique_cells, self.budget_key)
        self.settings, self.names = grid(unique_settings, self.budget_key) if any(unique_settings) else ([[]], ["(the config's)"])
        self.schedule = rungs(len(self.settings), sweeper.eta, sweeper.min_budget, sweeper.max_budget)
        first, tuning_seeds, self.seeds = int(sweeper.tuning_seed), int(sweeper.get("tuning_seeds", 1)), int(sweeper.seeds)
        self.aggregate = sweeper.get("aggregate", MEAN)
        if tuning_seeds < 1:
            raise ValueError(f"hydra.sweeper.tuning_seeds={tuning_seeds}: every setting needs at least one tuning seed")
        if self.aggregate not in (MEAN, WORST):
            raise ValueError(f"hydra.sweeper.aggregate={self.aggregate}: {MEAN} or {WORST}")
        if self.seeds < 1:
            raise ValueError(f"hydra.sweeper.seeds={self.seeds}: the test stage needs at least one seed")
        # The tuning seeds first, the test seeds after them: never one seed in both (one tuning seed: 0, then 1 ... n).
        self.tuning_seeds = list(range(first, first + tuning_seeds))
        self.test_seeds = list(range(first + tuning_seeds, first + tuning_seeds + self.seeds))

    @property
    def full_budget(self) -> int:
        return self.schedule[-1].budget

    def tuning_job(self, cell: list[str], setting: list[str], seed: int, budget: int) -> list[str]:
        return [*cell, *setting, f"{self.seed_key}={seed}", "trainer.evaluate_test=false", f"{self.budget_key}={budget}"]

    def test_job(self, cell: list[str], setting: list[str], seed: int) -> list[str]:
        return [*cell, *setting, f"{self.seed_key}={seed}", "trainer.evaluate_test=true", f"{self.budget_key}={self.full_budget}"]

    def setting_of(self, name: str) -> list[str]:
        return self.settings[self.names.index(name)]

    def describe(self, exhaustive: bool = False, choose_by: str = HALVING) -> str:
        """The plan in words, with the runs and epochs (or steps) it trains; exhaustive, choose_by: hydra.sweeper's,
        which add the whole grid at the full budget."""
        unit = "steps" if self.budget_key.endswith("steps") else "epochs"
        k, n_settings, n_cells = len(self.tuning_seeds), len(self.settings), len(self.cells)
        tuning = k * training_cost(self.schedule)
        seeds_text = f"{k} tuning seed{'s' * (k != 1)} ({', '.join(map(str, self.tuning_seeds))}" + (f"; scored by their {self.aggregate})" if k > 1 else ")")
        lines = [
            f"tune, then test: {n_cells} cell{'s' * (n_cells != 1)} ({', '.join(self.cell_names)}), "
            f"each tuned over the same {n_settings} setting{'s' * (n_settings != 1)} ({', '.join(self.names)}) on the "
            f"validation split by successive halving at {seeds_text}, then {self.seeds} fresh seed{'s' * (self.seeds != 1)} "
            f"({', '.join(map(str, self.test_seeds))}) of each cell's choice scored once on the test set:"
        ]
        lines += [f"  rung {j}: {rung.configs} setting{'s' * (rung.configs != 1)} per cell to {self.budget_key}={rung.budget}"
                  for j, rung in enumerate(self.schedule, 1)]
        whole_grid = k * n_settings * self.full_budget
        if exhaustive:  # halving's trials are continued, so the grid adds what halving left untrained
            whom = "its choice, not halving's, is what the test seeds train" if choose_by == EXHAUSTIVE else "halving's choice stays the one tested"
            lines.append(f"  then the exhaustive grid: every setting to {self.budget_key}={self.full_budget}, {whole_grid - tuning} {unit} more per cell; {whom}")
            tuning = whole_grid
        testing = self.seeds * self.full_budget
        lines.append(f"  per cell: {tuning} {unit} of tuning (the exhaustive grid: {whole_grid}, {100 * tuning / whole_grid:.0f}%) "
                     f"and {testing} of testing; {n_cells * (tuning + testing)} in all")
        runs = k * n_settings + self.seeds
        lines.append(f"  runs: {n_settings} setting{'s' * (n_settings != 1)} x {k} tuning seed{'s' * (k != 1)} + {self.seeds} test "
                     f"seed{'s' * (self.seeds != 1)} = {runs} per cell, {n_cells * runs} in all")
        return "\n".join(lines)


def check_record(record: dict[str, Any], protocol: Protocol, path: Path) -> None:
    """RecordError where a relaunch cannot extend the record: one of an earlier format; other tuning seeds (the seeds
    would be renumbered: a tuning seed could be a test seed of the record); a trial trained past a budget of this
    schedule without an evaluation there (trials.check_extends: another eta or min_budget)."""
    if record["format"] != FORMAT:
        raise RecordError(
            f"{path} is a format-{record['format']} record (uvb-lab before several tuning seeds): uvb-report still reads it, "
            "but this uvb-lab records each seed's run and outcome, which it lacks. Give this comparison its own hydra.sweep.dir, "
            "or move protocol.json aside: a relaunch then rebuilds the record from the runs' own folders (their metrics.jsonl), "
            "training nothing that finished"
        )
    tuned = record.get("tuning_seeds", protocol.tuning_seeds)
    if record["cells"] and tuned != protocol.tuning_seeds:
        raise RecordError(
            f"{path} was tuned on seeds {tuned}, this command on {protocol.tuning_seeds} (hydra.sweeper.tuning_seed, tuning_seeds): "
            "the test seeds follow the tuning seeds, so one seed would be both; give this comparison its own hydra.sweep.dir"
        )
    sweep_dir = path.parent
    for name, entry in record["cells"].items():
        trials = {f"{name}, {setting}, seed {seed}": trial
                  for setting, by_seed in load_trials(entry).items() for seed, trial in by_seed.items()}
        check_extends(trials, [rung.budget for rung in protocol.schedule], protocol.budget_key, sweep_dir, path, what="comparison")


def _asked(protocol: Protocol, record: dict[str, Any], exhaustive: bool, sweep_dir: Path):
    """Every tuning trial (at each budget halving reached) and test seed the record's results call for, as
    (kind, what, result: a loss, an outcome word, or NOT_RUN), kind "tuning" or "test"; then per cell that chose
    nothing, ("no choice", cell, None)."""
    for cell_name in protocol.cell_names:
        entry = record["cells"].get(cell_name, {})
        trials = load_trials(entry) if record["format"] == FORMAT else {}
        trained, _, _ = halve(scores(trials, protocol.tuning_seeds, protocol.aggregate), protocol.names, protocol.schedule)
        asked = [(name, rung.budget) for alive, rung in zip(trained, protocol.schedule) for name in alive]
        if exhaustive:
            asked += [(name, protocol.full_budget) for name in protocol.names]
        for name, budget in dict.fromkeys(asked):
            for seed in protocol.tuning_seeds:
                trial = trials.get(name, {}).get(seed, Trial())
                if budget not in trial.at and not trial.wants(budget, retry_failed=False):
                    continue  # it failed at a smaller budget: that failure is its result, said once
                where = f" ({sweep_dir / trial.run})" if trial.run else ""
                yield "tuning", f"{cell_name}, {name}, tuning seed {seed} at {protocol.budget_key}={budget}{where}", trial.at.get(budget, NOT_RUN)
        chosen = entry.get("chosen")
        if entry.get("no_choice"):
            yield "no choice", cell_name, None
        elif chosen:
            runs = entry.get("test_runs_of", {}).get(chosen, {})
            outcomes = entry.get("test_outcomes_of", {}).get(chosen, {})
            for seed in protocol.test_seeds:
                where = f" ({sweep_dir / runs[str(seed)]})" if runs.get(str(seed)) else ""
                yield "test", f"{cell_name}, {chosen}, test seed {seed}{where}", outcomes.get(str(seed), NOT_RUN)


def closing(sweeper: DictConfig, space: Space, sweep_dir: Path) -> tuple[str, int]:
    """After the launch: its closing line and exit code from the record (trials.closing_line): every trial and test seed
    the protocol called for that did not finish, and the cells that chose nothing."""
    protocol = Protocol(sweeper, space)
    try:
        record = read_record(sweep_dir / RECORD)
    except RecordError as error:
        return f"the comparison's record cannot be read: {error}", 2
    results: dict[str, str] = {}
    no_choice, tuning_runs, test_runs = [], set(), 0
    for kind, what, result in _asked(protocol, record, bool(sweeper.get("exhaustive", False)), sweep_dir):
        if kind == "no choice":
            no_choice.append(what)
            continue
        if kind == "tuning":
            tuning_runs.add(what.split(" at ", 1)[0])  # one run per setting and seed, whatever its budgets
        else:
            test_runs += 1
        if isinstance(result, str) and result != FINISHED:
            results[what] = result
    n_tuning = len(tuning_runs)
    head = (f"tune, then test in {sweep_dir}: {len(protocol.cells)} cell{'s' * (len(protocol.cells) != 1)}, "
            f"{n_tuning} tuning run{'s' * (n_tuning != 1)}, {test_runs} test run{'s' * (test_runs != 1)} ({RECORD})")
    return closing_line(head, [(word, what) for what, word in results.items()], no_choice)


def progress(sweeper: DictConfig, protocol: Protocol, record: dict[str, Any], sweep_dir: Path) -> str | None:
    """For a relaunch's preview: how much of what the record calls for so far is done; None for a record with nothing."""
    done = {"tuning": [0, 0], "test": [0, 0]}
    for kind, _, result in _asked(protocol, record, bool(sweeper.get("exhaustive", False)), sweep_dir):
        if kind in done:
            done[kind][0] += result != NOT_RUN
            done[kind][1] += 1
    if not done["tuning"][0] and not done["test"][0]:
        return None
    return (f"  done so far ({RECORD}): {done['tuning'][0]} of the {done['tuning'][1]} tuning trials its results call for so far, "
            f"{done['test'][0]} of {done['test'][1]} test seeds; a relaunch runs only the rest")


class TuneThenTestSweeper(WaveSweeper):
    """Hydra's side: the waves (every cell's rung k, then every cell's seeds) and protocol.json after each."""

    def __init__(self, tune: list[str], seeds: int, tuning_seed: int, eta: int, min_budget: int, max_budget: int,
                 budget_key: str, seed_key: str, exhaustive: bool = False, choose_by: str = HALVING,
                 n_samples: int = 9, sample_seed: int = 0, params: dict[str, str] | None = None,
                 tuning_seeds: int = 1, aggregate: str = MEAN, retry_failed: bool = False) -> None:
        if choose_by not in (HALVING, EXHAUSTIVE) or (choose_by == EXHAUSTIVE and not exhaustive):
            raise ValueError(f"hydra.sweeper.choose_by={choose_by}: {HALVING}, or {EXHAUSTIVE} with hydra.sweeper.exhaustive=true")
        super().__init__()
        self.params, self.exhaustive, self.choose_by = dict(params or {}), bool(exhaustive), choose_by
        self.n_samples, self.sample_seed, self.retry_failed = n_samples, sample_seed, bool(retry_failed)
        self.settings_config = OmegaConf.create(
            {"tune": list(tune), "seeds": seeds, "tuning_seed": tuning_seed, "tuning_seeds": tuning_seeds, "aggregate": aggregate,
             "eta": eta, "min_budget": min_budget, "max_budget": max_budget, "budget_key": budget_key, "seed_key": seed_key}
        )

    @staticmethod
    def preview(sweeper: DictConfig, space: Space, sweep_dir: Path) -> str:
        """For uvb-train --dry-run: space holds the sweep's jobs, params and the command's sweeps as the sweep draws them."""
        protocol = Protocol(sweeper, space)
        record = read_record(sweep_dir / RECORD)
        check_record(record, protocol, sweep_dir / RECORD)  # refused before anything runs
        described = protocol.describe(bool(sweeper.get("exhaustive", False)), sweeper.get("choose_by", HALVING))
        done = progress(sweeper, protocol, record, sweep_dir)
        return "\n".join([described, done]) if done else described

    @staticmethod
    def closing(sweeper: DictConfig, space: Space, sweep_dir: Path) -> tuple[str, int]:
        return closing(sweeper, space, sweep_dir)

    def sweep(self, arguments: list[str]) -> list[str]:
        try:
            self._sweep(arguments)
        except RecordError as error:
            self.refuse(error)
        return []

    def _sweep(self, arguments: list[str]) -> None:
        parser = OverridesParser.create(config_loader=self.hydra_context.config_loader)
        overrides = [f"{k}={v}" for k, v in self.params.items()] + arguments
        protocol = Protocol(self.settings_config, draw(parser, overrides, self.n_samples, self.sample_seed, self.config))  # as the plan drew
        sweep_dir = Path(self.config.hydra.sweep.dir)
        path = sweep_dir / RECORD
        record = read_record(path)
        check_record(record, protocol, path)  # uvb-train's plan refused such a relaunch already
        sweep_dir.mkdir(parents=True, exist_ok=True)
        write_atomic(sweep_dir / "multirun.yaml", lambda tmp: OmegaConf.save(self.config, tmp))  # as Hydra's basic sweeper: the launch's record
        record = dict(  # the layout of protocol_record.py, its cells last
            format=FORMAT, exhaustive=self.exhaustive, choose_by=self.choose_by, budget_key=protocol.budget_key,
            full_budget=protocol.full_budget, eta=self.settings_config.eta, rungs=[[rung.configs, rung.budget] for rung in protocol.schedule],
            grid=protocol.names, tuning_seeds=protocol.tuning_seeds, aggregate=protocol.aggregate, seeds=protocol.test_seeds,
            cells=record["cells"],
        )
        self.protocol, self.path, self.record, self.job_index = protocol, path, record, 0
        self.cells = dict(zip(protocol.cell_names, protocol.cells))
        self.entries = {name: record["cells"].setdefault(name, {"cell": cell}) for name, cell in self.cells.items()}
        self.trials = {name: load_trials(entry) for name, entry in self.entries.items()}

        self._tune()
        if self.exhaustive and self.choose_by == EXHAUSTIVE:
            self._exhaustive()
        self._test()
        if self.exhaustive and self.choose_by != EXHAUSTIVE:
            self._exhaustive()

    def _scores(self, cell_name: str) -> dict[str, dict[int, float]]:
        return scores(self.trials[cell_name], self.protocol.tuning_seeds, self.protocol.aggregate)

    def _run_trials(self, wanted: list[tuple[str, str, int]], budget: int) -> int:
        """One wave of tuning trials, (cell, setting, seed) each at the budget, and their results into the record;
        the number launched (those the record has a result for are not)."""
        protocol, wave, where, found = self.protocol, [], [], 0
        for cell_name, name, seed in wanted:
            trial = self.trials[cell_name].setdefault(name, {}).setdefault(seed, Trial())
            if trial.wants(budget, self.retry_failed):
                wave.append(protocol.tuning_job(self.cells[cell_name], protocol.setting_of(name), seed, budget))
                where.append(trial)
            else:
                found += isinstance(trial.at.get(budget), float)
        came_to = self.launch_wave(wave, self.job_index, lambda folder: loss_at(folder, protocol.budget_key, budget), found)
        for trial, (run, value) in zip(where, came_to):
            trial.run = run or trial.run
            if value is not None:  # None: stopped, or its folder was busy; the same command runs it again
                trial.at[budget] = value
        self.job_index += len(wave)
        return len(wave)

    def _tune(self) -> None:
        """1. Rung k of every cell in one wave, each setting on every tuning seed, scored by its seeds' validation losses."""
        protocol = self.protocol
        for k, rung in enumerate(protocol.schedule):
            wanted = []
            for cell_name in self.cells:
                trained, _, _ = halve(self._scores(cell_name), protocol.names, protocol.schedule)
                if len(trained) > k:  # else an earlier rung of this cell still lacks a result (its trial was not run)
                    wanted += [(cell_name, name, seed) for name in trained[k] for seed in protocol.tuning_seeds]
            launched = self._run_trials(wanted, rung.budget)
            self._write()
            log.info("tune, then test: rung %d/%d, %d jobs launched", k + 1, len(protocol.schedule), launched)

    def _exhaustive(self) -> None:
        """Against the exhaustive grid (exhaustive: true): every setting to the full budget too, on every tuning seed, so
        that halving can be measured against the whole grid (scripts/halving_vs_exhaustive.py). `choose` reads these
        extra losses only at budgets halving reached, so halving's choice does not move; choose_by=exhaustive tests the
        grid's choice."""
        protocol = self.protocol
        launched = self._run_trials([(cell_name, name, seed) for cell_name in self.cells for name in protocol.names
                                     for seed in protocol.tuning_seeds], protocol.full_budget)
        for cell_name, entry in self.entries.items():
            at_full = {name: by_budget[protocol.full_budget] for name, by_budget in self._scores(cell_name).items()
                       if protocol.full_budget in by_budget}
            finite = [name for name in protocol.names if math.isfinite(at_full.get(name, math.inf))]
            entry["exhaustive_choice"] = min(finite, key=lambda name: (at_full[name], protocol.names.index(name))) if finite else None
        self._write()
        log.info("tune, then test: the exhaustive grid, %d jobs launched", launched)

    def _choice(self, cell_name: str) -> tuple[str | None, bool]:
        """The cell's choice for the test seeds, and whether it is settled (a None settled: every setting failed)."""
        protocol, val = self.protocol, self._scores(cell_name)
        if self.choose_by == EXHAUSTIVE:
            at_full = [val.get(name, {}).get(protocol.full_budget) for name in protocol.names]
            return self.entries[cell_name].get("exhaustive_choice"), None not in at_full
        _, chosen, done = halve(val, protocol.names, protocol.schedule)
        return chosen, done

    def _test(self) -> None:
        """2. Fresh seeds of each cell's choice, at the full budget, scored once on the test set."""
        protocol, wave, where, found = self.protocol, [], [], 0
        for cell_name, entry in self.entries.items():
            chosen, settled = self._choice(cell_name)
            entry["chosen"] = chosen
            if chosen is None:
                entry["test_runs"] = {}
                if settled:
                    entry["no_choice"] = EVERY_SETTING_FAILED
                    log.warning("tune, then test: every setting of %s failed (diverged, failed or had no validation loss in a "
                                "tuning seed); it chooses nothing and trains no test seeds (%s)", cell_name, self.path)
                continue
            entry.pop("no_choice", None)
            entry["chosen_overrides"] = protocol.setting_of(chosen)
            outcomes = entry.setdefault("test_outcomes_of", {}).setdefault(chosen, {})
            for seed in protocol.test_seeds:
                before = outcomes.get(str(seed))
                if before is None or (before != FINISHED and self.retry_failed):
                    wave.append(protocol.test_job(self.cells[cell_name], protocol.setting_of(chosen), seed))
                    where.append((entry, chosen, seed))
                else:
                    found += before == FINISHED
        came_to = self.launch_wave(wave, self.job_index, test_outcome, found)
        for (entry, chosen, seed), (run, outcome) in zip(where, came_to):
            if run:
                entry.setdefault("test_runs_of", {}).setdefault(chosen, {})[str(seed)] = run
            if outcome is not None:
                entry["test_outcomes_of"][chosen][str(seed)] = outcome
        self.job_index += len(wave)
        for entry in self.entries.values():
            if entry.get("chosen"):
                runs = entry.get("test_runs_of", {}).get(entry["chosen"], {})
                entry["test_runs"] = {str(seed): runs[str(seed)] for seed in protocol.test_seeds if str(seed) in runs}
        self._write()
        log.info("tune, then test: %d test runs; the protocol's record: %s", len(wave), self.path)

    def _write(self) -> None:
        """protocol.json as it stands: each cell's trials, and the scores and choices they make (derived, written beside)."""
        protocol = self.protocol
        for cell_name, entry in self.entries.items():
            val = self._scores(cell_name)
            entry["trials"] = dump_trials(self.trials[cell_name])
            entry["val_loss"] = {name: {str(b): (v if math.isfinite(v) else None) for b, v in by_budget.items()}
                                 for name, by_budget in val.items() if by_budget}
            entry["halving_choice"] = halve(val, protocol.names, protocol.schedule)[1]
        write_record(self.path, self.record)
