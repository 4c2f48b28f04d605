"""Successive halving (Jamieson & Talwalkar 2016; Hyperband's inner loop): a Hydra sweeper that trains every
configuration a little, keeps the best 1/eta, continues those for eta times the budget, and so on to the full one.

Why it costs nothing extra in uvb-lab: trainer.epochs and trainer.max_steps are not part of a run's identity
(uvb_lab/run/identity.py), so a trial asked for a larger budget is the same run folder and continues exactly
from its checkpoint, and the learning rate depends on the step alone. A stopped trial is a finished shorter run.

    uvb-train -m hydra/sweeper=successive_halving trainer.lr=1e-3,3e-3,1e-2 data.val_fraction=0.1 trainer.epochs=9
    uvb-train -m hydra/sweeper=successive_halving 'trainer.lr=tag(log,interval(1e-4,3e-2))' hydra.sweeper.n_samples=9 ...

The configurations are a grid, or points drawn from intervals (uvb_lab/launch/sampled_space.py: the same ones for
the same hydra.sweeper.sample_seed, in the preview and in every relaunch), or a grid crossed with drawn points.

Each rung is one `launcher.launch` call (basic, joblib, submitit: a job wave on a cluster). Each trial is scored by
its validation loss at the rung's budget, read from its own metrics.jsonl (uvb_lab/launch/trials.py), never by a
test number; a trial that diverged, failed or had no validation loss is a result scored worst (inf), and ranks last.
After each rung the sweep folder's successive_halving.csv is rewritten: one row per configuration, its result at each
rung's budget (a loss, or the word for why it has none), the budget it reached, the one chosen and its run folder.
That table is also the search's memory: a relaunch launches only the (configuration, budget) pairs it has no result
for, so no rung is redone and a failed trial is not retried (unless hydra.sweeper.retry_failed=true), and a larger
max_budget adds rungs for the survivors alone. A lost or partial table is rebuilt exactly: each trial launched again
finds its run finished and trains nothing, and its loss at each budget is read from its rows. A relaunch with
another eta or min_budget reads a trial that trained past a new budget at that budget's row; one whose folder has
no evaluation there is refused before anything is launched: it wants its own hydra.sweep.dir.

The search folder is locked for the whole launch (uvb_lab/launch/__init__.py): a second launch into it is refused.
The rung arithmetic (rungs, training_cost, survivors) is pure; the Hydra adapter is the class at the bottom.
Hydra instantiates sweepers only from the hydra_plugins namespace: hydra_plugins/uvb_lab_sweepers/ names it there.
"""

import csv
import io
import logging
import math
import sys
from dataclasses import dataclass
from pathlib import Path

from hydra.core.override_parser.overrides_parser import OverridesParser
from hydra.plugins.sweeper import Sweeper
from hydra.types import HydraContext, TaskFunction
from omegaconf import DictConfig, OmegaConf

from uvb_lab.launch import outcome as job_outcome
from uvb_lab.launch.sampled_space import Space, draw
from uvb_lab.launch.sweep_files import HALVING_TABLE
from uvb_lab.launch.trials import (
    FAILED,
    NOT_RUN,
    TRIAL_RESULTS,
    RecordError,
    Trial,
    check_budget_key,
    check_extends,
    closing_line,
    folder_of,
    loss_at,
    result_of,
    score,
    valid_run_name,
)
from uvb_lab.run.files import write_atomic

log = logging.getLogger(__name__)

TABLE = HALVING_TABLE
CONFIG, REACHED, CHOSEN, RUN = "configuration", "budget_reached", "chosen", "run"


@dataclass(frozen=True)
class Rung:
    configs: int  # configurations trained in this rung
    budget: int  # epochs (or steps) each has trained for in all at the rung's end


# ---- the rung arithmetic -------------------------------------------------------------------------------------

def rungs(n_configs: int, eta: int, min_budget: int, max_budget: int) -> list[Rung]:
    """The rungs of successive halving: rung k trains floor(n / eta^k) configurations (at least 1) to
    min_budget * eta^k (capped at max_budget); the last rung is the one at max_budget.

    9 configurations, eta 3, budgets 1..9: (9 to 1), (3 to 3), (1 to 9). Once a single configuration is left it
    goes straight to max_budget: intermediate rungs of one would choose nothing. ValueError on a bad setting.
    """
    if n_configs < 1:
        raise ValueError("successive halving needs at least one configuration")
    if eta < 2:
        raise ValueError(f"hydra.sweeper.eta={eta}: keep 1/eta per rung, eta >= 2")
    if not 1 <= min_budget <= max_budget:
        raise ValueError(f"hydra.sweeper.min_budget={min_budget}, max_budget={max_budget}: need 1 <= min_budget <= max_budget")
    schedule, k = [], 0
    while True:
        configs = max(1, n_configs // eta**k)
        budget = max_budget if configs == 1 else min(min_budget * eta**k, max_budget)
        schedule.append(Rung(configs, budget))
        if budget == max_budget:
            return schedule
        k += 1


def training_cost(schedule: list[Rung]) -> int:
    """Epochs (or steps) trained in all: a survivor continues from the previous rung's budget, it never restarts."""
    done, cost = 0, 0
    for rung in schedule:
        cost += rung.configs * (rung.budget - done)
        done = rung.budget
    return cost


def survivors(scores: list[float], keep: int) -> list[int]:
    """The indices of the `keep` lowest scores, best first; NaN counts as inf (a failed trial), ties keep the order."""
    worst_for_nan = [math.inf if math.isnan(score) else score for score in scores]
    return sorted(range(len(scores)), key=lambda i: (worst_for_nan[i], i))[:keep]


def preview(sweeper: DictConfig, space: Space, sweep_dir: Path) -> str:
    """The search's rungs and budgets, for `uvb-train --dry-run`: space holds the configurations' override lists as
    the sweep draws them. ValueError on a bad setting, or a folder whose table this search cannot extend."""
    key = sweeper.budget_key
    check_budget_key(key)
    _, names = grid(space.jobs, key)
    schedule = rungs(len(names), sweeper.eta, sweeper.min_budget, sweeper.max_budget)
    trials = read_trials(sweep_dir / TABLE, key)
    check_extends(trials, [rung.budget for rung in schedule], key, sweep_dir, sweep_dir / TABLE)
    unit = "steps" if key.endswith("steps") else "epochs"
    done = _done_per_rung(trials, names, schedule)
    lines = [f"successive halving of {len(names)} configuration{'s' * (len(names) != 1)} on {key}, eta {sweeper.eta}:"]
    lines += [f"  rung {k}: {rung.configs} configuration{'s' * (rung.configs != 1)} to {key}={rung.budget}"
              + (f" ({n} done, in {TABLE})" if any(done) else "") for k, (rung, n) in enumerate(zip(schedule, done), 1)]
    cost, exhaustive = training_cost(schedule), len(names) * schedule[-1].budget
    lines.append(f"  {cost} {unit} trained in all, against {exhaustive} for the exhaustive grid ({100 * cost / exhaustive:.0f}%)")
    return "\n".join(lines)


def _walk(trials: dict[str, Trial], names: list[str], schedule: list[Rung]):
    """The configurations each rung of the table's search keeps, rung by rung: (rung, its configurations' names), up to
    the first rung whose survivors the table cannot tell yet."""
    alive = list(names)
    for k, rung in enumerate(schedule):
        if k:
            previous = [score(trials.get(name, Trial()).at.get(schedule[k - 1].budget)) for name in alive]
            if any(schedule[k - 1].budget not in trials.get(name, Trial()).at for name in alive):
                return
            alive = [alive[j] for j in sorted(survivors(previous, rung.configs)) if math.isfinite(previous[j])]
        yield rung, alive


def _done_per_rung(trials: dict[str, Trial], names: list[str], schedule: list[Rung]) -> list[int]:
    """For a relaunch's preview: per rung, how many of its configurations the table has a result for."""
    done = [sum(rung.budget in trials.get(name, Trial()).at for name in alive) for rung, alive in _walk(trials, names, schedule)]
    return done + [0] * (len(schedule) - len(done))


def grid(jobs: list[list[str]], budget_key: str) -> tuple[list[list[str]], list[str]]:
    """The configurations (each job's overrides less the budget, which the sweeper sets per rung) and their names:
    the overrides that differ between them (all of them if none differ)."""
    configs = [[o for o in job if o.split("=", 1)[0].lstrip("+~") != budget_key] for job in jobs]
    if len({tuple(config) for config in configs}) < len(configs):
        raise ValueError(f"the grid sweeps {budget_key}, which successive halving sets per rung: give the full budget as one value ({budget_key}=9 or hydra.sweeper.max_budget=9)")
    varying = [i for i in range(len(configs[0])) if len({config[i] for config in configs}) > 1] or range(len(configs[0]))
    return configs, [" ".join(config[i] for i in varying) for config in configs]


# ---- the table: one row per configuration, its result at each budget, its run folder ----------------------------

def read_trials(path: Path, budget_key: str) -> dict[str, Trial]:
    """The trials a search folder's table records, by configuration; empty if there is none. Each budget's cell is a
    finite loss or a word of trials.TRIAL_RESULTS (`inf`, an earlier uvb-lab's failure, reads `failed`); the run a
    folder name inside the search folder (absent from tables made before it was recorded). RecordError, one line
    naming the file and the field, on anything else."""
    if not path.is_file():
        return {}
    try:
        rows = list(csv.reader(io.StringIO(path.read_text())))
    except (OSError, UnicodeDecodeError, csv.Error) as error:
        raise RecordError(f"{path}: cannot be read ({error})") from error
    prefix = f"{budget_key}="
    if not rows or rows[0][:2] != [CONFIG, REACHED] or CHOSEN not in rows[0]:
        raise RecordError(f"{path}: not a successive-halving table (its header is not {CONFIG},{REACHED},...,{CHOSEN})")
    header = rows[0]
    budgets = {}
    for i, column in enumerate(header[2:], 2):
        if column in (CHOSEN, RUN):
            continue
        number = column[len(prefix):] if column.startswith(prefix) else ""
        if not number.isdigit() or int(number) < 1:
            raise RecordError(f"{path}: column {column!r} is not a budget of {budget_key} (a search on another budget_key?)")
        budgets[i] = int(number)
    trials: dict[str, Trial] = {}
    for line, row in enumerate(rows[1:], 2):
        if len(row) != len(header) or not row[0] or row[0] in trials:
            raise RecordError(f"{path}: row {line} is not one configuration with a cell per column")
        run = row[header.index(RUN)] if RUN in header else ""
        if run and not valid_run_name(run):
            raise RecordError(f"{path}: row {line}: {RUN} {run!r} is not a folder inside the search folder")
        trial = Trial(run or None)
        for i, budget in budgets.items():
            trial.at.update({} if row[i] == "" else {budget: _cell(row[i], path, line, header[i])})
        trials[row[0]] = trial
    return trials


def _cell(text: str, path: Path, line: int, column: str) -> float | str:
    if text in TRIAL_RESULTS:
        return text
    if text == "inf":  # tables of uvb-lab before the outcome was recorded: the trial failed, why unknown
        return FAILED
    try:
        value = float(text)
    except ValueError:
        value = math.nan
    if not math.isfinite(value):
        raise RecordError(f"{path}: row {line}, {column}: {text!r} is neither a finite loss nor one of {', '.join(TRIAL_RESULTS)}")
    return value


def read_table(path: Path, budget_key: str) -> dict[str, dict[int, float | str]]:
    """configuration -> {budget: loss, or the word for why it has none}: the table's results (read_trials' `at`)."""
    return {name: trial.at for name, trial in read_trials(path, budget_key).items()}


def write_table(path: Path, budget_key: str, names: list[str], trials: dict[str, Trial], chosen: str | None) -> None:
    """successive_halving.csv, atomically: configuration, budget reached, the result at each budget, chosen, run. Rows
    of an earlier launch's other configurations stay, after this search's."""
    names = [*names, *(name for name in trials if name not in names)]
    budgets = sorted({budget for name in names for budget in trials.get(name, Trial()).at})
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow([CONFIG, REACHED, *(f"{budget_key}={budget}" for budget in budgets), CHOSEN, RUN])
    for name in names:
        trial = trials.get(name, Trial())
        reached = max((b for b, value in trial.at.items() if math.isfinite(score(value))), default="")
        cells = [repr(trial.at[b]) if isinstance(trial.at.get(b), float) else trial.at.get(b, "") for b in budgets]
        writer.writerow([name, reached, *cells, "yes" if name == chosen else "", trial.run or ""])
    if not path.is_file() or path.read_text() != out.getvalue():  # a relaunch that ran nothing leaves it untouched
        write_atomic(path, lambda tmp: tmp.write_text(out.getvalue()))


def table_markdown(path: Path) -> str:
    """A search table as Markdown, for uvb-report (read through read_trials' checks first: RecordError if malformed)."""
    try:
        header = next(csv.reader(io.StringIO(path.read_text())), [])
    except (OSError, UnicodeDecodeError, csv.Error) as error:
        raise RecordError(f"{path}: cannot be read ({error})") from error
    read_trials(path, next((column.split("=", 1)[0] for column in header[2:] if "=" in column), "trainer.epochs"))
    rows = list(csv.reader(io.StringIO(path.read_text())))
    losses = [i for i, column in enumerate(rows[0]) if i >= 2 and column not in (CHOSEN, RUN)]

    def shown(i: int, cell: str) -> str:
        if i in losses and cell and cell not in TRIAL_RESULTS:
            return f"{float(cell):.6g}"
        return cell.replace("|", "\\|")

    lines = ["| " + " | ".join(rows[0]) + " |", "|" + "---|" * len(rows[0])]
    lines += ["| " + " | ".join(shown(i, cell) for i, cell in enumerate(row)) + " |" for row in rows[1:]]
    return "\n".join(lines)


def closing(sweeper: DictConfig, space: Space, sweep_dir: Path) -> tuple[str, int]:
    """After the search: its closing line and exit code, from its table (trials.closing_line): what each trial the
    halving called for came to, and the choice."""
    key = sweeper.budget_key
    _, names = grid(space.jobs, key)
    schedule = rungs(len(names), sweeper.eta, sweeper.min_budget, sweeper.max_budget)
    try:
        trials = read_trials(sweep_dir / TABLE, key)
    except RecordError as error:
        return f"the search's table cannot be read: {error}", 2
    results, alive = [], list(names)
    for k, rung in enumerate(schedule):
        if k:
            previous = [score(trials.get(name, Trial()).at.get(schedule[k - 1].budget)) for name in alive]
            alive = [alive[j] for j in sorted(survivors(previous, rung.configs)) if math.isfinite(previous[j])]
        for name in alive:
            trial = trials.get(name, Trial())
            value = trial.at.get(rung.budget, NOT_RUN)
            if isinstance(value, str):
                results.append((value, f"{name} at {key}={rung.budget}" + (f" ({sweep_dir / trial.run})" if trial.run else "")))
        if any(word == NOT_RUN for word, _ in results):
            break
    chosen = _chosen(sweep_dir / TABLE)
    head = f"{len(names)} configurations searched in {sweep_dir}: " + (f"chose {chosen} ({TABLE})" if chosen else "none chosen")
    none = [] if chosen or any(word == NOT_RUN for word, _ in results) else ["the search"]
    return closing_line(head, results, none)


def _chosen(table: Path) -> str | None:
    """The configuration a (checked) table marks chosen."""
    rows = list(csv.reader(io.StringIO(table.read_text()))) if table.is_file() else []
    return next((row[0] for row in rows[1:] if row[rows[0].index(CHOSEN)] == "yes"), None)


# ---- the Hydra adapter ------------------------------------------------------------------------------------------

class WaveSweeper(Sweeper):
    """A sweeper that launches its jobs in waves through the configured launcher (basic, joblib, submitit) and reads
    each trial back from its own folder: the part of Hydra's Sweeper that successive halving and tune-then-test share.

    uvb-train locks the search folder for its launch and keeps the Notes its jobs write (uvb_lab/launch/outcome.py),
    which say how a job ended (diverged, failed, refused, ...); its `closing` makes the launch's last line."""

    def __init__(self) -> None:
        self.config: DictConfig | None = None
        self.hydra_context: HydraContext | None = None
        self.launcher = None

    def setup(self, *, hydra_context: HydraContext, task_function: TaskFunction, config: DictConfig) -> None:
        from hydra.core.plugins import Plugins

        self.config, self.hydra_context = config, hydra_context
        self.launcher = Plugins.instance().instantiate_launcher(hydra_context=hydra_context, task_function=task_function, config=config)

    def launch_wave(self, wave: list[list[str]], job_index: int, read, found: int = 0) -> list[tuple[str | None, float | str | None]]:
        """One wave of jobs (each a list of overrides), numbered from job_index; nothing launched for an empty one.
        Per job: its run folder's name and what it came to (trials.result_of with read(folder)), in the wave's order.
        found: the wave's trials (or seeds) whose finished result the record held, so not launched (the closing line's count)."""
        env_set = dict(self.config.hydra.job.get("env_set") or {})
        job_outcome.note_found(env_set, found)
        if not wave:
            return []
        results = list(self.launcher.launch(wave, initial_job_idx=job_index))
        notes = job_outcome.take_notes(env_set)
        came_to = []
        for result in results:
            folder = folder_of(result)
            came_to.append((folder.name if folder else None, result_of(result, job_outcome.noted(notes, folder), read)))
        return came_to

    @staticmethod
    def refuse(error: Exception) -> None:
        """A record or a trial's file this search cannot rely on: one line, and the launch ends with exit 2."""
        print(f"uvb-train: error: {error}", file=sys.stderr)
        raise SystemExit(2)


class SuccessiveHalvingSweeper(WaveSweeper):
    """Hydra's side: the configurations (hydra.sweeper.params and the command's sweeps, a grid as the basic sweeper
    expands it crossed with the points drawn from the intervals), one launcher wave per rung, the table after each."""

    def __init__(self, eta: int, min_budget: int, max_budget: int, budget_key: str, n_samples: int = 9, sample_seed: int = 0,
                 params: dict[str, str] | None = None, retry_failed: bool = False) -> None:
        super().__init__()
        self.eta, self.min_budget, self.max_budget, self.budget_key = eta, min_budget, max_budget, budget_key
        self.n_samples, self.sample_seed = n_samples, sample_seed
        self.params, self.retry_failed = dict(params or {}), bool(retry_failed)

    @staticmethod
    def preview(sweeper: DictConfig, space: Space, sweep_dir: Path) -> str:
        return preview(sweeper, space, sweep_dir)

    @staticmethod
    def closing(sweeper: DictConfig, space: Space, sweep_dir: Path) -> tuple[str, int]:
        return closing(sweeper, space, sweep_dir)

    def sweep(self, arguments: list[str]) -> list[str]:
        """Runs the rungs; returns the chosen configuration's overrides."""
        try:
            return self._sweep(arguments)
        except RecordError as error:
            self.refuse(error)

    def _sweep(self, arguments: list[str]) -> list[str]:
        parser = OverridesParser.create(config_loader=self.hydra_context.config_loader)
        params = [f"{key}={value}" for key, value in self.params.items()]
        space = draw(parser, params + arguments, self.n_samples, self.sample_seed, self.config)  # as uvb-train's plan drew them
        configs, names = grid(space.jobs, self.budget_key)
        schedule = rungs(len(configs), self.eta, self.min_budget, self.max_budget)
        sweep_dir = Path(self.config.hydra.sweep.dir)
        table = sweep_dir / TABLE
        trials = read_trials(table, self.budget_key)
        check_extends(trials, [rung.budget for rung in schedule], self.budget_key, sweep_dir, table)  # the plan refused such a search already
        sweep_dir.mkdir(parents=True, exist_ok=True)
        write_atomic(sweep_dir / "multirun.yaml", lambda tmp: OmegaConf.save(self.config, tmp))  # as Hydra's basic sweeper: the launch's record

        alive, job_index = list(range(len(configs))), 0
        for k, rung in enumerate(schedule):
            if k:  # the best rung.configs of the previous rung that finished it, in the grid's order
                previous = [score(trials[names[i]].at.get(schedule[k - 1].budget)) for i in alive]
                alive = sorted(alive[j] for j in survivors(previous, rung.configs) if math.isfinite(previous[j]))
            todo = [i for i in alive if trials.setdefault(names[i], Trial()).wants(rung.budget, self.retry_failed)]
            wave = [[*configs[i], f"{self.budget_key}={rung.budget}"] for i in todo]
            found = sum(isinstance(trials[names[i]].at.get(rung.budget), float) for i in alive if i not in todo)
            came_to = self.launch_wave(wave, job_index, lambda folder, budget=rung.budget: loss_at(folder, self.budget_key, budget), found)
            job_index += len(wave)
            for i, (run, value) in zip(todo, came_to):
                trials[names[i]].run = run or trials[names[i]].run
                if value is not None:
                    trials[names[i]].at[rung.budget] = value
            unscored = [names[i] for i in alive if rung.budget not in trials[names[i]].at]
            losses = [score(trials[names[i]].at.get(rung.budget)) for i in alive]
            best, last = alive[survivors(losses, 1)[0]], k == len(schedule) - 1
            loss = score(trials[names[best]].at.get(rung.budget))
            chosen = names[best] if last and math.isfinite(loss) and not unscored else None
            if todo or last or not math.isfinite(loss):  # a rung taken from the table changed nothing in it
                write_table(table, self.budget_key, names, trials, chosen)
            log.info(
                "successive halving, rung %d/%d: %d at %s=%d (%d launched, %d from %s); best %s: %.6g",
                k + 1, len(schedule), len(alive), self.budget_key, rung.budget, len(todo), len(alive) - len(todo), TABLE,
                names[best], loss,
            )
            if unscored:  # another job held their folders, or the launch was stopped: the same command runs them
                log.warning("successive halving: %d trials of rung %d have no result (%s); run the same command again", len(unscored), k + 1, ", ".join(unscored))
                return []
            if not math.isfinite(loss):
                log.warning("successive halving: every trial of rung %d failed; it chooses nothing (%s)", k + 1, table)
                return []
        log.info("successive halving chose %s; its table: %s", names[best], table)
        return configs[best]
