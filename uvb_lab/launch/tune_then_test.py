"""Tune, then test (docs/protocol.md): the comparison protocol as a Hydra sweeper, in one command.

    uvb-train -m +experiment=bayes_gap_tuned            # conf/experiment/bayes_gap_tuned.yaml
    uvb-train --dry-run -m +experiment=bayes_gap_tuned  # the cells, the grid, the rungs and what they cost

The sweep's values (`hydra.sweeper.params` and the command's sweeps) are split by `hydra.sweeper.tune`: the keys it
names (the learning rate, its schedule) make the *grid*, the others (model, sigma, ...) the *cells* of the comparison.
Each cell gets its own setting from the same grid, by successive halving (uvb_lab/launch/successive_halving.py) with the same eta and budgets for every cell:

1. tune: every grid setting of every cell trains at the tuning seed with `trainer.evaluate_test=false`, so its
   evaluations score the validation split (`data.val_fraction`) and never the test set; the best 1/eta by
   validation loss continue, rung after rung, to the full budget. The cells' rung k is one launcher wave.
2. test: `seeds` fresh seeds of each cell's chosen setting train to the full budget and are scored once on the
   test set, on the paired test noise (uvb_lab/paired_noise.py). The tuning run itself is not among them: its
   validation loss is the best of a selection, and a fresh seed is not.

protocol.json in the sweep folder records, per cell, the grid's validation losses per rung, the chosen setting, the
budget and the seed runs' folders; it is rewritten after every wave and is the relaunch's memory, so a relaunch
launches only what is missing. `uvb-report SWEEP_DIR` reads it: per cell the chosen setting, mean +- 95% t-interval
over the seeds, the linear (Wiener) row, and paired differences between models (uvb_lab/report/protocol.py).

The choice reads the validation losses alone (`choose`); test numbers are never computed for a tuning run.
"""

import json
import logging
import math
from pathlib import Path
from typing import Any

from hydra.core.override_parser.overrides_parser import OverridesParser
from hydra.core.utils import JobReturn
from omegaconf import DictConfig, OmegaConf

from uvb_lab.launch.sampled_space import Space, draw
from uvb_lab.launch.successive_halving import Rung, WaveSweeper, check_extends, grid, job_score, rungs, survivors, training_cost
from uvb_lab.run.files import write_atomic

log = logging.getLogger(__name__)

RECORD = "protocol.json"
FORMAT = 1
HALVING, EXHAUSTIVE = "halving", "exhaustive"  # hydra.sweeper.choose_by: whose choice the test seeds train


def choose(val_losses: dict[str, dict[int, float]], names: list[str], schedule: list[Rung]) -> tuple[list[str], str | None]:
    """Successive halving's survivors of each rung and the chosen setting, from validation losses alone.

    val_losses: setting name -> {budget: validation loss}. Returns the names alive at the last rung reached
    and the chosen name (None until the last rung is scored). Settings with no loss at a rung rank last.
    """
    alive = list(names)
    for k, rung in enumerate(schedule):
        if k:
            previous = [val_losses.get(name, {}).get(schedule[k - 1].budget, math.inf) for name in alive]
            alive = [alive[j] for j in sorted(survivors(previous, rung.configs)) if math.isfinite(previous[j])]
        scores = [val_losses.get(name, {}).get(rung.budget, math.nan) for name in alive]
        if any(math.isnan(score) for score in scores):
            return alive, None  # this rung is not scored yet
    (best,) = survivors(scores, 1) if alive else (None,)
    return alive, alive[best] if best is not None and math.isfinite(scores[best]) else None


def read_record(path: Path) -> dict[str, Any]:
    if not path.is_file():
        return {"format": FORMAT, "cells": {}}
    record = json.loads(path.read_text())
    if not isinstance(record, dict) or record.get("format") != FORMAT or not isinstance(record.get("cells"), dict):
        raise ValueError(f"{path} is not a protocol record of this uvb-lab; give this comparison its own hydra.sweep.dir")
    return record


def write_record(path: Path, record: dict[str, Any]) -> None:
    text = json.dumps(record, indent=2, sort_keys=False) + "\n"
    if not path.is_file() or path.read_text() != text:
        write_atomic(path, lambda tmp: tmp.write_text(text))


def check_rungs(record: dict[str, Any], protocol: "Protocol", path: Path) -> None:
    """successive_halving.check_extends over every cell of the record: a relaunch with another eta or min_budget
    would score a setting at a rung by a loss it reached later."""
    for name, entry in record.get("cells", {}).items():
        scores = {f"{name}, {setting}": {int(b): v for b, v in losses.items()} for setting, losses in entry.get("val_loss", {}).items()}
        check_extends(scores, list(scores), protocol.schedule, path, what="comparison")


def run_folder_of(result: JobReturn) -> str | None:
    """The run folder a job trained in (Hydra's output_dir for it), by name: it lies in the sweep folder."""
    try:
        return Path(result.hydra_cfg.hydra.runtime.output_dir).name
    except (AttributeError, TypeError):
        return None


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
        self.tuning_seed, self.seeds = int(sweeper.tuning_seed), int(sweeper.seeds)
        if self.seeds < 1:
            raise ValueError(f"hydra.sweeper.seeds={self.seeds}: the test stage needs at least one seed")
        self.test_seeds = list(range(self.tuning_seed + 1, self.tuning_seed + 1 + self.seeds))

    @property
    def full_budget(self) -> int:
        return self.schedule[-1].budget

    def tuning_job(self, cell: list[str], setting: list[str], budget: int) -> list[str]:
        return [*cell, *setting, f"{self.seed_key}={self.tuning_seed}", "trainer.evaluate_test=false", f"{self.budget_key}={budget}"]

    def test_job(self, cell: list[str], setting: list[str], seed: int) -> list[str]:
        return [*cell, *setting, f"{self.seed_key}={seed}", "trainer.evaluate_test=true", f"{self.budget_key}={self.full_budget}"]

    def describe(self, exhaustive: bool = False, choose_by: str = HALVING) -> str:
        """The plan in words; exhaustive, choose_by: hydra.sweeper's, which add the whole grid at the full budget."""
        unit = "steps" if self.budget_key.endswith("steps") else "epochs"
        tuning = training_cost(self.schedule)
        lines = [
            f"tune, then test: {len(self.cells)} cell{'s' * (len(self.cells) != 1)} ({', '.join(self.cell_names)}), "
            f"each tuned over the same {len(self.settings)} setting{'s' * (len(self.settings) != 1)} ({', '.join(self.names)}) on the "
            f"validation split by successive halving, then {self.seeds} fresh seed{'s' * (self.seeds != 1)} "
            f"({', '.join(map(str, self.test_seeds))}) of each cell's choice scored once on the test set:"
        ]
        lines += [f"  rung {k}: {rung.configs} setting{'s' * (rung.configs != 1)} per cell to {self.budget_key}={rung.budget}"
                  for k, rung in enumerate(self.schedule, 1)]
        whole_grid = len(self.settings) * self.full_budget
        if exhaustive:  # halving's trials are continued, so the grid adds what halving left untrained
            whom = "its choice, not halving's, is what the test seeds train" if choose_by == EXHAUSTIVE else "halving's choice stays the one tested"
            lines.append(f"  then the exhaustive grid: every setting to {self.budget_key}={self.full_budget}, {whole_grid - tuning} {unit} more per cell; {whom}")
            tuning = whole_grid
        lines.append(f"  per cell: {tuning} {unit} of tuning (the exhaustive grid: {whole_grid}, {100 * tuning / whole_grid:.0f}%) "
                     f"and {self.seeds * self.full_budget} of testing; {len(self.cells) * (tuning + self.seeds * self.full_budget)} in all")
        return "\n".join(lines)


class TuneThenTestSweeper(WaveSweeper):
    """Hydra's side: the waves (every cell's rung k, then every cell's seeds) and protocol.json after each."""

    def __init__(self, tune: list[str], seeds: int, tuning_seed: int, eta: int, min_budget: int, max_budget: int,
                 budget_key: str, seed_key: str, exhaustive: bool = False, choose_by: str = HALVING,
                 n_samples: int = 9, sample_seed: int = 0, params: dict[str, str] | None = None) -> None:
        if choose_by not in (HALVING, EXHAUSTIVE) or (choose_by == EXHAUSTIVE and not exhaustive):
            raise ValueError(f"hydra.sweeper.choose_by={choose_by}: {HALVING}, or {EXHAUSTIVE} with hydra.sweeper.exhaustive=true")
        super().__init__()
        self.params, self.exhaustive, self.choose_by = dict(params or {}), bool(exhaustive), choose_by
        self.n_samples, self.sample_seed = n_samples, sample_seed
        self.settings_config = OmegaConf.create(
            {"tune": list(tune), "seeds": seeds, "tuning_seed": tuning_seed, "eta": eta, "min_budget": min_budget,
             "max_budget": max_budget, "budget_key": budget_key, "seed_key": seed_key}
        )

    @staticmethod
    def preview(sweeper: DictConfig, space: Space, sweep_dir: Path) -> str:
        """For uvb-train --dry-run: space holds the sweep's jobs, params and the command's sweeps as the sweep draws them."""
        protocol = Protocol(sweeper, space)
        check_rungs(read_record(sweep_dir / RECORD), protocol, sweep_dir / RECORD)  # refused before anything runs
        return protocol.describe(bool(sweeper.get("exhaustive", False)), sweeper.get("choose_by", HALVING))

    def sweep(self, arguments: list[str]) -> list[str]:
        parser = OverridesParser.create(config_loader=self.hydra_context.config_loader)
        overrides = [f"{k}={v}" for k, v in self.params.items()] + arguments
        protocol = Protocol(self.settings_config, draw(parser, overrides, self.n_samples, self.sample_seed, self.config))  # as the plan drew
        cells = dict(zip(protocol.cell_names, protocol.cells))
        sweep_dir = Path(self.config.hydra.sweep.dir)
        sweep_dir.mkdir(parents=True, exist_ok=True)
        write_atomic(sweep_dir / "multirun.yaml", lambda tmp: OmegaConf.save(self.config, tmp))  # as Hydra's basic sweeper: the launch's record
        path = sweep_dir / RECORD
        record = read_record(path)
        check_rungs(record, protocol, path)  # uvb-train's plan refused such a relaunch already
        record.update(
            exhaustive=self.exhaustive, choose_by=self.choose_by, budget_key=protocol.budget_key, full_budget=protocol.full_budget,
            eta=self.settings_config.eta, rungs=[[rung.configs, rung.budget] for rung in protocol.schedule], grid=protocol.names,
            seeds=protocol.test_seeds,
        )
        entries = {}
        for name, cell in cells.items():
            entry = record["cells"].setdefault(name, {"cell": cell, "val_loss": {}, "chosen": None, "test_runs": {}})
            entry["val_loss"] = {  # JSON's null: a failed trial
                setting: {int(b): math.inf if v is None else v for b, v in losses.items()} for setting, losses in entry["val_loss"].items()
            }
            entries[name] = entry
        self.job_index, self.path, self.record = 0, path, record

        self._tune(protocol, cells, entries)
        if self.exhaustive and self.choose_by == EXHAUSTIVE:
            self._exhaustive(protocol, cells, entries)
        self._test(protocol, cells, entries)
        if self.exhaustive and self.choose_by != EXHAUSTIVE:
            self._exhaustive(protocol, cells, entries)
        return []

    def _tune(self, protocol: Protocol, cells: dict[str, list[str]], entries: dict[str, dict]) -> None:
        """1. Rung k of every cell in one wave, scored by validation loss (successive halving)."""
        for k, rung in enumerate(protocol.schedule):
            wave, where = [], []
            for cell_name, cell in cells.items():
                entry = entries[cell_name]
                alive, _ = choose(entry["val_loss"], protocol.names, protocol.schedule[: k + 1])
                for name in alive:
                    if not math.isfinite(entry["val_loss"].get(name, {}).get(rung.budget, math.nan)):
                        wave.append(protocol.tuning_job(cell, protocol.settings[protocol.names.index(name)], rung.budget))
                        where.append((entry, name))
            for (entry, name), result in zip(where, self.launch_wave(wave, self.job_index)):
                entry["val_loss"].setdefault(name, {})[rung.budget] = job_score(result)
            self.job_index += len(wave)
            for entry in entries.values():
                _, entry["halving_choice"] = choose(entry["val_loss"], protocol.names, protocol.schedule)
            write_record(self.path, self._stringified(self.record))
            log.info("tune, then test: rung %d/%d, %d jobs launched", k + 1, len(protocol.schedule), len(wave))

    def _exhaustive(self, protocol: Protocol, cells: dict[str, list[str]], entries: dict[str, dict]) -> None:
        """Against the exhaustive grid (exhaustive: true): every setting to the full budget too, so that halving can be
        measured against the whole grid (scripts/halving_vs_exhaustive.py). `choose` reads these extra losses only at
        budgets halving reached, so halving's choice does not move; choose_by=exhaustive tests the grid's choice."""
        full, wave, where = protocol.full_budget, [], []
        for cell_name, cell in cells.items():
            entry = entries[cell_name]
            for name, setting in zip(protocol.names, protocol.settings):
                if not math.isfinite(entry["val_loss"].get(name, {}).get(full, math.nan)):
                    wave.append(protocol.tuning_job(cell, setting, full))
                    where.append((entry, name))
        for (entry, name), result in zip(where, self.launch_wave(wave, self.job_index)):
            entry["val_loss"].setdefault(name, {})[full] = job_score(result)
        self.job_index += len(wave)
        for entry in entries.values():
            at_full = {name: entry["val_loss"].get(name, {}).get(full, math.inf) for name in protocol.names}
            entry["exhaustive_choice"] = min(at_full, key=lambda name: (at_full[name], protocol.names.index(name)))
        write_record(self.path, self._stringified(self.record))
        log.info("tune, then test: the exhaustive grid, %d jobs launched", len(wave))

    def _test(self, protocol: Protocol, cells: dict[str, list[str]], entries: dict[str, dict]) -> None:
        """2. Fresh seeds of each cell's choice, at the full budget, scored once on the test set."""
        wave, where = [], []
        for cell_name, cell in cells.items():
            entry = entries[cell_name]
            entry["chosen"] = entry.get("exhaustive_choice") if self.choose_by == EXHAUSTIVE else entry.get("halving_choice")
            if entry["chosen"] is None:
                log.warning("tune, then test: every setting of %s failed; it has no choice to test", cell_name)
                continue
            setting = protocol.settings[protocol.names.index(entry["chosen"])]
            entry["chosen_overrides"] = setting
            for seed in protocol.test_seeds:
                wave.append(protocol.test_job(cell, setting, seed))
                where.append((entry, seed))
        for (entry, seed), result in zip(where, self.launch_wave(wave, self.job_index)):
            entry["test_runs"][str(seed)] = run_folder_of(result)
            entry.setdefault("test_runs_of", {}).setdefault(entry["chosen"], {})[str(seed)] = run_folder_of(result)
        self.job_index += len(wave)
        write_record(self.path, self._stringified(self.record))
        log.info("tune, then test: %d test runs; the protocol's record: %s", len(wave), self.path)

    @staticmethod
    def _stringified(record: dict[str, Any]) -> dict[str, Any]:
        """JSON's keys are text: budgets as strings, inf (a failed trial) as null."""
        out = {**record, "cells": {}}
        for name, entry in record["cells"].items():
            losses = {setting: {str(b): (v if math.isfinite(v) else None) for b, v in by_budget.items()}
                      for setting, by_budget in entry["val_loss"].items()}
            out["cells"][name] = {**entry, "val_loss": losses}
        return out
