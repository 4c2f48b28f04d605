"""Successive halving (Jamieson & Talwalkar 2016; Hyperband's inner loop): a Hydra sweeper that trains every
configuration a little, keeps the best 1/eta, continues those for eta times the budget, and so on to the full one.

Why it costs nothing extra in uvb-lab: trainer.epochs and trainer.max_steps are not part of a run's identity
(uvb_lab/run/identity.py), so a trial asked for a larger budget is the same run folder and continues exactly
from its checkpoint, and the learning rate depends on the step alone. A stopped trial is a finished shorter run.

    uvb-train -m hydra/sweeper=successive_halving trainer.lr=1e-3,3e-3,1e-2 data.val_fraction=0.1 trainer.epochs=9
    uvb-train -m hydra/sweeper=successive_halving 'trainer.lr=tag(log,interval(1e-4,3e-2))' hydra.sweeper.n_samples=9 ...

The configurations are a grid, or points drawn from intervals (uvb_lab/launch/sampled_space.py: the same ones for
the same hydra.sweeper.sample_seed, in the preview and in every relaunch), or a grid crossed with drawn points.

Each rung is one `launcher.launch` call (basic, joblib, submitit: a job wave on a cluster). Each trial is scored
by the value its job returns (uvb_lab/launch/job.py sweeper_objective: the final val_loss, else test_loss); a failed
trial scores inf and ranks last. After each rung the sweep folder's successive_halving.csv is rewritten: one row
per configuration, its loss at each rung's budget, the budget it reached and the one chosen. That table is also
the search's memory: a relaunch launches only the (configuration, budget) pairs it has no finite loss for, so no
rung is redone, a failed trial is tried again, and a larger max_budget adds rungs for the survivors alone. (A relaunch
with another eta or min_budget asks for budgets the table lacks; a trial trained beyond one would be skipped and
return its later loss, so such a search is refused before it launches anything: it wants its own hydra.sweep.dir.)

The rung arithmetic (rungs, training_cost, survivors) is pure; the Hydra adapter is the class at the bottom.
Hydra instantiates sweepers only from the hydra_plugins namespace: hydra_plugins/uvb_lab_sweepers/ names it there.
"""

import csv
import io
import logging
import math
from dataclasses import dataclass
from pathlib import Path

from hydra.core.override_parser.overrides_parser import OverridesParser
from hydra.core.utils import JobReturn, JobStatus
from hydra.plugins.sweeper import Sweeper
from hydra.types import HydraContext, TaskFunction
from omegaconf import DictConfig, OmegaConf

from uvb_lab.launch.sampled_space import Space, draw
from uvb_lab.run.files import write_atomic

log = logging.getLogger(__name__)

TABLE = "successive_halving.csv"
CONFIG, REACHED, CHOSEN = "configuration", "budget_reached", "chosen"


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
    _, names = grid(space.jobs, key)
    schedule = rungs(len(names), sweeper.eta, sweeper.min_budget, sweeper.max_budget)
    check_extends(read_table(sweep_dir / TABLE, key), names, schedule, sweep_dir / TABLE)
    unit = "steps" if key.endswith("steps") else "epochs"
    lines = [f"successive halving of {len(names)} configuration{'s' * (len(names) != 1)} on {key}, eta {sweeper.eta}:"]
    lines += [f"  rung {k}: {rung.configs} configuration{'s' * (rung.configs != 1)} to {key}={rung.budget}" for k, rung in enumerate(schedule, 1)]
    cost, exhaustive = training_cost(schedule), len(names) * schedule[-1].budget
    lines.append(f"  {cost} {unit} trained in all, against {exhaustive} for the exhaustive grid ({100 * cost / exhaustive:.0f}%)")
    return "\n".join(lines)


def grid(jobs: list[list[str]], budget_key: str) -> tuple[list[list[str]], list[str]]:
    """The configurations (each job's overrides less the budget, which the sweeper sets per rung) and their names:
    the overrides that differ between them (all of them if none differ)."""
    configs = [[o for o in job if o.split("=", 1)[0].lstrip("+~") != budget_key] for job in jobs]
    if len({tuple(config) for config in configs}) < len(configs):
        raise ValueError(f"the grid sweeps {budget_key}, which successive halving sets per rung: give the full budget as one value ({budget_key}=9 or hydra.sweeper.max_budget=9)")
    varying = [i for i in range(len(configs[0])) if len({config[i] for config in configs}) > 1] or range(len(configs[0]))
    return configs, [" ".join(config[i] for i in varying) for config in configs]


def check_extends(scores: dict[str, dict[int, float]], names: list[str], schedule: list[Rung], table: Path, what: str = "search") -> None:
    """ValueError where the table says a configuration trained beyond a budget of this schedule it has no loss for:
    launched at that budget its job would skip (finished further) and return the later loss. That is a relaunch
    with another eta or min_budget; a larger max_budget only adds rungs above the table's."""
    budgets = [rung.budget for rung in schedule]
    beyond = [
        f"{name} (trained to {max(scores[name])}, no loss at {missing[0]})"
        for name in names if scores.get(name)
        for missing in [[b for b in budgets if b not in scores[name] and b < max(scores[name])]] if missing
    ]
    if beyond:
        raise ValueError(f"{table} is of a {what} with other rungs, {', '.join(beyond)}; give this one its own hydra.sweep.dir")


# ---- the table: one row per configuration, its loss at each budget -----------------------------------------------

def read_table(path: Path, budget_key: str) -> dict[str, dict[int, float]]:
    """The losses a search folder's table records: configuration -> {budget: loss}; empty if there is none."""
    if not path.is_file():
        return {}
    prefix = f"{budget_key}="
    scores: dict[str, dict[int, float]] = {}
    for row in csv.DictReader(io.StringIO(path.read_text())):
        scores[row[CONFIG]] = {
            int(column[len(prefix):]): float(value)
            for column, value in row.items() if column and column.startswith(prefix) and value not in ("", None)
        }
    return scores


def write_table(path: Path, budget_key: str, names: list[str], scores: dict[str, dict[int, float]], chosen: str | None) -> None:
    """successive_halving.csv, atomically: configuration, budget reached, the loss at each budget, chosen. Rows of an
    earlier launch's other configurations stay, after this search's."""
    names = [*names, *(name for name in scores if name not in names)]
    budgets = sorted({budget for name in names for budget in scores.get(name, {})})
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow([CONFIG, REACHED, *(f"{budget_key}={budget}" for budget in budgets), CHOSEN])
    for name in names:
        losses = scores.get(name, {})
        reached = max((b for b, loss in losses.items() if math.isfinite(loss)), default="")
        writer.writerow([name, reached, *(repr(losses[b]) if b in losses else "" for b in budgets), "yes" if name == chosen else ""])
    if not path.is_file() or path.read_text() != out.getvalue():  # a relaunch that ran nothing leaves it untouched
        write_atomic(path, lambda tmp: tmp.write_text(out.getvalue()))


def table_markdown(path: Path) -> str:
    """A search table as Markdown, for uvb-report."""
    rows = list(csv.reader(io.StringIO(path.read_text())))
    losses = range(2, len(rows[0]) - 1)  # the columns between budget_reached and chosen
    shown = [[f"{float(cell):.6g}" if i in losses and cell else cell.replace("|", "\\|") for i, cell in enumerate(row)] for row in rows[1:]]
    lines = ["| " + " | ".join(rows[0]) + " |", "|" + "---|" * len(rows[0])]
    lines += ["| " + " | ".join(row) + " |" for row in shown]
    return "\n".join(lines)


def job_score(result: JobReturn) -> float:
    """What a trial scored: the value its job returned; inf for a job that failed or returned no finite number."""
    if result.status != JobStatus.COMPLETED:
        return math.inf
    try:
        value = float(result.return_value)
    except (TypeError, ValueError):
        return math.inf
    return value if math.isfinite(value) else math.inf


# ---- the Hydra adapter ------------------------------------------------------------------------------------------

class WaveSweeper(Sweeper):
    """A sweeper that launches its jobs in waves through the configured launcher (basic, joblib, submitit): the part
    of Hydra's Sweeper that successive halving and tune-then-test share."""

    def __init__(self) -> None:
        self.config: DictConfig | None = None
        self.hydra_context: HydraContext | None = None
        self.launcher = None

    def setup(self, *, hydra_context: HydraContext, task_function: TaskFunction, config: DictConfig) -> None:
        from hydra.core.plugins import Plugins

        self.config, self.hydra_context = config, hydra_context
        self.launcher = Plugins.instance().instantiate_launcher(hydra_context=hydra_context, task_function=task_function, config=config)

    def launch_wave(self, wave: list[list[str]], job_index: int) -> list[JobReturn]:
        """One wave of jobs (each a list of overrides), numbered from job_index; nothing launched for an empty one."""
        return list(self.launcher.launch(wave, initial_job_idx=job_index)) if wave else []


class SuccessiveHalvingSweeper(WaveSweeper):
    """Hydra's side: the configurations (hydra.sweeper.params and the command's sweeps, a grid as the basic sweeper
    expands it crossed with the points drawn from the intervals), one launcher wave per rung, the table after each."""

    def __init__(self, eta: int, min_budget: int, max_budget: int, budget_key: str, n_samples: int = 9, sample_seed: int = 0,
                 params: dict[str, str] | None = None) -> None:
        super().__init__()
        self.eta, self.min_budget, self.max_budget, self.budget_key = eta, min_budget, max_budget, budget_key
        self.n_samples, self.sample_seed = n_samples, sample_seed
        self.params = dict(params or {})

    @staticmethod
    def preview(sweeper: DictConfig, space: Space, sweep_dir: Path) -> str:
        return preview(sweeper, space, sweep_dir)

    def sweep(self, arguments: list[str]) -> list[str]:
        """Runs the rungs; returns the chosen configuration's overrides."""
        parser = OverridesParser.create(config_loader=self.hydra_context.config_loader)
        params = [f"{key}={value}" for key, value in self.params.items()]
        space = draw(parser, params + arguments, self.n_samples, self.sample_seed, self.config)  # as uvb-train's plan drew them
        configs, names = grid(space.jobs, self.budget_key)
        schedule = rungs(len(configs), self.eta, self.min_budget, self.max_budget)
        sweep_dir = Path(self.config.hydra.sweep.dir)
        sweep_dir.mkdir(parents=True, exist_ok=True)
        write_atomic(sweep_dir / "multirun.yaml", lambda tmp: OmegaConf.save(self.config, tmp))  # as Hydra's basic sweeper: the launch's record
        table = sweep_dir / TABLE
        scores = read_table(table, self.budget_key)
        check_extends(scores, names, schedule, table)  # uvb-train's plan refused such a search already

        alive, job_index = list(range(len(configs))), 0
        for k, rung in enumerate(schedule):
            if k:  # the best rung.configs of the previous rung that finished it, in the grid's order
                previous = [scores[names[i]][schedule[k - 1].budget] for i in alive]
                alive = sorted(alive[j] for j in survivors(previous, rung.configs) if math.isfinite(previous[j]))
            todo = [i for i in alive if not math.isfinite(scores.get(names[i], {}).get(rung.budget, math.inf))]
            if todo:
                wave = [[*configs[i], f"{self.budget_key}={rung.budget}"] for i in todo]
                results = self.launch_wave(wave, job_index)
                job_index += len(wave)
                for i, result in zip(todo, results):
                    scores.setdefault(names[i], {})[rung.budget] = job_score(result)
            (first,) = survivors([scores[names[i]][rung.budget] for i in alive], 1)
            best, last = alive[first], k == len(schedule) - 1
            loss = scores[names[best]][rung.budget]
            if todo or last or not math.isfinite(loss):  # a rung taken from the table changed nothing in it
                write_table(table, self.budget_key, names, scores, names[best] if last and math.isfinite(loss) else None)
            log.info(
                "successive halving, rung %d/%d: %d at %s=%d (%d launched, %d from %s); best %s: %.6g",
                k + 1, len(schedule), len(alive), self.budget_key, rung.budget, len(todo), len(alive) - len(todo), TABLE,
                names[best], loss,
            )
            if not math.isfinite(loss):
                log.warning("successive halving: every trial of rung %d failed; nothing to continue (%s)", k + 1, table)
                return []
        log.info("successive halving chose %s; its table: %s", names[best], table)
        return configs[best]
