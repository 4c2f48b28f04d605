"""What a `uvb-train` command would do, worked out before anything is written: every job, its folder, its fate.

`plan(overrides, multirun)` composes each job's config exactly as Hydra will (the experiment's
`hydra.sweeper.params` and the command line's sweeps, expanded the way Hydra's basic sweeper expands
them), builds each job as a run does but on the meta device (uvb_lab/training/build.py's build_parts, the one
place a config is checked; no memory, no time; each distinct dataset loaded once), checks the folder's lock, and
decides per job (uvb_lab/run/folder.py): start, continue, skip, or refuse with a reason. A launch with a refused job
launches nothing. A key no config has is one line for the whole command, with the closest known keys (`trainer.lrr`:
did you mean trainer.lr?), with or without `+`. `uvb-train --dry-run` prints the plan, with what each run would cost
(uvb_lab/launch/cost.py), and stops there; after a sweep, uvb_lab/launch/outcome.py says how each job ended. An
ad-hoc sweep's folder is named by what it sweeps (uvb_lab/launch/sweep_folder.py).

A search (a sweeper other than the basic one, e.g. Optuna in conf/hparams_search/) picks its jobs as it
goes, so its plan is the settings every trial shares: checked as above and compared with the record of the
study its folder already holds (search.json); each trial decides about its own folder when it runs. A sweeper
that knows its schedule before it starts (successive halving: its rungs and budgets) says it in the plan through
its `preview(sweeper_config, space, sweep_dir)`; the points a sampled search draws from its intervals are listed
below it (uvb_lab/launch/sampled_space.py, which the sweepers draw with too). Every value of such a search's grid is
composed and checked before anything is launched, since the sweeper composes its trials only as it goes.
"""

import functools
import math
import re
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from hydra.core.override_parser.overrides_parser import OverridesParser
from hydra.errors import HydraException
from hydra.utils import get_class
from omegaconf import DictConfig, OmegaConf, open_dict
from omegaconf.errors import OmegaConfBaseException

from uvb_lab import compose
from uvb_lab.compose import SEARCH_RECORD, one_line
from uvb_lab.config import ConfigError, check_values, unknown_key, unknown_keys
from uvb_lab.hydra_internals import BASIC_SWEEPER
from uvb_lab.launch import cost, sampled_space
from uvb_lab.launch.cost import duration
from uvb_lab.launch.refusals import REFUSALS  # what a job refuses with, found here before the launch instead
from uvb_lab.launch.sweep_folder import adhoc_sweep_name, earlier_folder
from uvb_lab.run import devices, records
from uvb_lab.run import folder as run_folder
from uvb_lab.run import identity as run_identity
from uvb_lab.run.files import unwritable
from uvb_lab.run.lock import FolderBusy, check_free, holder
from uvb_lab.run.summary import STEPS_DONE
from uvb_lab.training.build import build_parts


class PlanError(ValueError):
    """The command cannot be planned at all (an override Hydra cannot parse or compose, ...)."""


@dataclass
class Job:
    overrides: list[str]  # this job's task overrides, as the launcher hands them to it
    folder: Path | None
    decision: run_folder.Decision
    cost: Any = None  # for --dry-run: its epochs, steps, parameters and training time (uvb_lab/launch/cost.py)


@dataclass
class Launch:
    multirun: bool
    jobs: list[Job]
    hydra_overrides: list[str]  # what uvb-train adds to the command: the folder of a resume, an ad-hoc sweep's folder
    sweep_dir: Path | None = None
    # The sweeper, where it is not Hydra's basic one: a search (Optuna) picks its jobs as it goes, so the plan
    # has one job, the settings they all share; each job decides about its own folder when it runs.
    searched_by: str | None = None
    search_settings: dict[str, Any] | None = None  # the identity every trial shares (SEARCH_RECORD)
    schedule: str | None = None  # the search's schedule where its sweeper knows it up front (successive halving's rungs)
    # A sweeper that runs waves and reads its trials back (successive halving, tune-then-test): its closing line and
    # exit code, from its record. Its folder is locked for the launch, and its jobs note how they ended for it.
    closing: Callable[[], tuple[str, int]] | None = None
    note: str | None = None  # a line under the plan: where this ad-hoc sweep's runs were before (earlier_folder)

    @property
    def refused(self) -> list[Job]:
        return [job for job in self.jobs if job.decision.action == "refuse"]


def quoted(text: str) -> str:
    """text as one quoted value of Hydra's override grammar, whatever quotes or backslashes it holds.

    Inside quotes Hydra reads \\' as a quote and a backslash literally, except a run of them before a quote (or
    the end), which stands for half as many.
    """
    body = re.sub(r"(\\+)(?='|$)", lambda run: run.group(1) * 2, text)
    return "'" + body.replace("'", "\\'") + "'"


MISSING_SWEEPER = "hydra/sweeper"
# A search's folder holds one study (the sweeper's storage): search.json (compose.SEARCH_RECORD) records the settings
# its trials share, so a relaunch with other settings (model=deen into a UVB study) is refused instead of mixed into it.


def _space(cfg: DictConfig, parser: OverridesParser, overrides: list[str]) -> sampled_space.Space:
    """The sweep's jobs, as its sweeper makes them (uvb_lab/launch/sampled_space.py): the config's sweeper params, then
    the command's; a grid as Hydra's basic sweeper expands it, crossed with the points drawn from its intervals.
    ValueError where it cannot be drawn (an interval for Hydra's basic sweeper among them)."""
    sweeper = cfg.hydra.sweeper
    params = [f"{key}={value}" for key, value in (OmegaConf.select(cfg, "hydra.sweeper.params") or {}).items()]
    return sampled_space.draw(parser, params + overrides, sweeper.get("n_samples"), sweeper.get("sample_seed"), cfg)


def _drawn(sweeper: DictConfig, space: sampled_space.Space) -> str:
    """The points a sampled search drew, for the plan: what its table's configurations will be."""
    listing = ", ".join(" ".join(point) for point in space.points)
    return f"  drawn with hydra.sweeper.sample_seed={sweeper.sample_seed}: {len(space.points)} of {' '.join(space.sampled_keys)}: {listing}"


def _check_swept_keys(fixed: list[str], sweeps: list[Any], groups: set[str], several_models: bool) -> None:
    """Each key a sweep sets (a group's choice aside: each job is composed with it below), composed with its first value
    and the command's other settings: a key no config has (`trainer.lrr=1e-3,1e-2`, `+trainer.lrr=...`) is one line for
    the whole command, as in a single run, instead of one refusal per job (or a search's failure mid-way)."""
    for override in sweeps:
        key = override.get_key_element().lstrip("+~")
        if key.startswith("hydra."):  # `hydra.sweeper.params.trainer.lr=a,b`: a grid written as a Hydra setting
            raise PlanError(sampled_space.hydra_setting_swept(override))
        if key in groups or override.is_interval_sweep():
            continue
        first = next(iter(override.sweep_string_iterator()), None)
        if first is None:
            continue
        line = f"{override.get_key_element()}={first}"
        try:
            cfg = compose.compose_job([*fixed, line])
        except COMPOSITION_ERRORS as error:
            if "Could not override" in str(error):
                raise PlanError(composition_refusal(error, [*fixed, line], several_models)) from error
            continue  # a value's problem: the job of that value is refused below, with its reason
        if unknown := unknown_keys(_task_config(cfg)):
            raise PlanError("; ".join(unknown))


def _check_grid(fixed: list[str], space: sampled_space.Space) -> None:
    """Every value of a search's grid, composed with the command's other settings and checked (types, unknown keys,
    ranges, each constructor's keys) before anything is launched or written: a typo or a bad value in a grid
    (`trainer.lr=abc,1e-3`, `trainer.lr=-1,1e-3`) is the single run's one-line refusal, where the sweeper would fail
    mid-search and leave a trial's folder. A key drawn from an interval is checked at its smallest and largest draws."""
    drawn: dict[str, list[str]] = {}
    values: dict[str, None] = {}
    for job in space.jobs:
        for override in job:
            if override in fixed:
                continue  # composed with every value below already (a `+group=...` twice is Hydra's error)
            key = override.split("=", 1)[0]
            if key.lstrip("+~") in space.sampled_keys:
                drawn.setdefault(key, []).append(override.split("=", 1)[1])
            else:
                values[override] = None
    for key, draws in drawn.items():
        numbers = sorted(draws, key=lambda text: float(text) if re.fullmatch(r"[-+0-9.eE]+", text) else math.inf)
        values.update({f"{key}={numbers[0]}": None, f"{key}={numbers[-1]}": None})
    for override in values:
        try:
            cfg = compose.compose_job([*fixed, override])
            check_values(_task_config(cfg))
        except COMPOSITION_ERRORS as error:
            raise PlanError(f"the grid's {override}: {composition_refusal(error, [*fixed, override])}") from error
        except ConfigError as error:
            raise PlanError(f"the grid's {override}: {error}") from error


def _schedule(cfg: DictConfig, parser: OverridesParser, overrides: list[str], sweep_dir: Path,
              fixed: list[str]) -> tuple[str | None, Callable | None]:
    """A search's schedule, from its sweeper's `preview` where it has one (successive halving: the rungs of its grid),
    and its `closing` (the launch's last line, from the search's record) where it has one. Every value of its grid is
    checked first (`_check_grid`)."""
    try:
        sweeper = get_class(cfg.hydra.sweeper._target_)
    except (ImportError, ValueError):
        return None, None  # a sweeper we cannot import here: Hydra says why when it launches
    preview = getattr(sweeper, "preview", None)
    if preview is None:
        return None, None
    try:
        # The jobs as the sweeper gets them: Hydra hands it the task's overrides, not the hydra settings (a sweep of
        # one stays, to be refused by the draw).
        task = [o.input_line for o in parser.parse_overrides(overrides) if o.is_sweep_override() or not o.is_hydra_override()]
        space = _space(cfg, parser, task)
    except (HydraException, OmegaConfBaseException, ValueError) as error:
        raise PlanError(one_line(error)) from error
    _check_grid(fixed, space)
    try:
        schedule = preview(cfg.hydra.sweeper, space, sweep_dir)
    except (HydraException, OmegaConfBaseException, ValueError) as error:
        raise PlanError(one_line(error)) from error
    closing = getattr(sweeper, "closing", None)
    closing = functools.partial(closing, cfg.hydra.sweeper, space, sweep_dir) if closing else None
    return ("\n".join([schedule, _drawn(cfg.hydra.sweeper, space)]) if space.points else schedule), closing


def search_busy(sweep_dir: Path) -> str | None:
    """Why a search cannot launch into sweep_dir: another launch holds its lock (one launch per search), or None."""
    try:
        check_free(sweep_dir)
    except FolderBusy:
        pid = holder(sweep_dir)
        who = f"process {pid}" if pid else "another process"
        return (f"{sweep_dir} is in use by another launch of this search ({who} holds its lock); wait for it to end, "
                "or stop it, then run this command again")
    return None


def _cost(cfg: DictConfig, job: Job, job_num: int | None) -> Any:
    """What the job would cost to train (uvb_lab/launch/cost.py), from where its run stands."""
    done = math.inf if job.decision.action == "skip" else (job.decision.summary or {}).get(STEPS_DONE) or 0
    return cost.estimate(cfg, devices.resolve_device(cfg.trainer.device, job_num), job.folder, done)


def _other_models_sizes(overrides: list[str], earlier: list[str]) -> bool:
    """Whether two jobs of one run differ only in `sizes.<model>.*`: another model's sizes, which this one's run ignores
    (`model=uvb,deen ++sizes.deen.hidden=48,64` has UVB's run twice)."""
    differ = set(overrides) ^ set(earlier)
    return bool(differ) and all(o.split("=", 1)[0].lstrip("+~").startswith("sizes.") for o in differ)


def _decide(job: Job, cfg: DictConfig, choices: dict[str, str | None], job_num: int | None,
            seen: dict[Path, tuple[int, list[str]]], index: int) -> run_folder.Decision:
    job_folder = job.folder
    if job_folder in seen:
        number, overrides = seen[job_folder]
        if _other_models_sizes(job.overrides, overrides):
            return run_folder.Decision("skip", f"the same run as job {number}, which trains it (the sizes it varies are another model's)")
        return run_folder.Decision(
            "refuse", f"the same run as job {number} ({job_folder}): the keys this sweep varies do not change a run's result"
        )
    seen[job_folder] = (index, job.overrides)
    try:
        build_parts(cfg, job_num, on_meta=True)  # every check of the config (training/build.py), allocating nothing
        check_free(job_folder)
    except REFUSALS as error:
        return run_folder.Decision("refuse", one_line(error))
    return run_folder.decide(job_folder, cfg, compose.defaults_identity(choices)[0])


def _task_config(cfg: DictConfig) -> DictConfig:
    """A composition as the job sees it: without the hydra node."""
    task_cfg = cfg.copy()
    with open_dict(task_cfg):
        del task_cfg["hydra"]
    return task_cfg


def _shared_settings(base: DictConfig, hydra_overrides: list[str], searched: set[str], sweep_dir: Path,
                     locked: bool) -> tuple[Job, dict[str, Any]]:
    """A search's one planned job: the settings its trials share, checked and compared with the search folder's
    record (and, locked: the folder free of another launch); the trials' own folders come as the sweeper picks them."""
    if locked and (busy := search_busy(sweep_dir)):
        return Job(hydra_overrides, None, run_folder.Decision("refuse", busy)), {}
    task_cfg = _task_config(base)
    settings = {key: value for key, value in run_identity.identity(task_cfg).items() if key not in searched}
    try:
        build_parts(task_cfg, on_meta=True)
    except REFUSALS as error:
        return Job(hydra_overrides, None, run_folder.Decision("refuse", one_line(error))), settings
    path, recorded = sweep_dir / SEARCH_RECORD, None
    if path.is_file():
        try:
            recorded = records.read_json(path)
        except records.RecordError as error:
            return Job(hydra_overrides, None, run_folder.Decision("refuse", str(error))), settings
        if not isinstance(recorded, dict) or not isinstance(recorded.get("shared"), dict):
            return Job(hydra_overrides, None, run_folder.Decision("refuse", f"{path} is not a search record of uvb-lab")), settings
        changed = run_identity.differences(recorded["shared"], settings, {})
        if changed:
            listing = ", ".join(f"{key}: {old} -> {new}" for key, old, new in changed)
            why = f"{sweep_dir} holds a search of other settings ({listing}); give this one its own hydra.sweep.dir"
            return Job(hydra_overrides, None, run_folder.Decision("refuse", why)), settings
    what = "continues the study there" if recorded is not None else "starts a study there"
    return Job(hydra_overrides, None, run_folder.Decision("search", f"the settings every trial shares check out; {what}")), settings


def record_search(launch: Launch) -> None:
    """Before the sweeper starts: the search folder, for its storage, and the settings its study is of."""
    launch.sweep_dir.mkdir(parents=True, exist_ok=True)
    record = launch.sweep_dir / SEARCH_RECORD
    if not record.exists():
        written = {"format": 1, "searched_by": launch.searched_by, "shared": launch.search_settings}
        if launch.schedule is None:  # a sweeper that picks its trials as it goes (Optuna): name them by what they try
            written["trials_named"] = compose.NAMED_BY_WHAT_VARIES
        run_folder.write_json(record, written)


def plan(overrides: list[str], multirun: bool, costs: bool = False) -> Launch:
    """The jobs of `uvb-train [-m] OVERRIDES`, each with its folder and its decision (and, costs: what it would cost to
    train, for --dry-run); PlanError if unplannable."""
    with compose.conf_dir():
        parser = OverridesParser.create()
        try:
            parsed = parser.parse_overrides(overrides)
        except COMPOSITION_ERRORS as error:
            raise PlanError(one_line(error)) from error
        sweeps = [o for o in parsed if o.is_sweep_override()]
        fixed = [o.input_line for o in parsed if not o.is_sweep_override()]
        several_models = any(o.get_key_element().lstrip("+~") == "model" for o in sweeps)
        try:
            base = compose.compose_job(fixed)
        except COMPOSITION_ERRORS as error:
            hint = "; the Optuna sweeper is an extra: pip install 'uvb-lab[sweepers]'" if MISSING_SWEEPER in str(error) else ""
            raise PlanError(composition_refusal(error, fixed, several_models) + hint) from error
        if unknown := unknown_keys(_task_config(base)):
            raise PlanError("; ".join(unknown))
        if sweeps and not multirun:
            raise PlanError(f"{', '.join(o.input_line for o in sweeps)} sweeps several values: add -m (--multirun) to launch one job per value")
        _check_swept_keys(fixed, sweeps, set(base.hydra.runtime.choices), several_models)
        given = {o.get_key_element() for o in parsed}
        hydra_overrides = []
        resume = base.trainer.resume
        sweep_dir, adhoc = None, False
        if multirun:
            if resume not in (None, run_folder.AUTO):
                raise PlanError(f"trainer.resume={resume} continues one run; a sweep finds its runs' folders itself (trainer.resume=auto)")
            sweep_dir = Path(base.hydra.sweep.dir)
            chosen = base.hydra.runtime.choices
            if "hydra.sweep.dir" not in given and not any(chosen.get(g) for g in run_identity.SETTINGS_GROUPS):
                # Named by what the command sweeps (adhoc_sweep_name); its runs are named by their identity, so
                # adding values, reordering them or splitting a sweep in two finds the runs that exist.
                searching = base.hydra.sweeper._target_ != BASIC_SWEEPER
                sweep_dir = Path("multirun", adhoc_sweep_name(sweeps, dict(chosen), searching))
                hydra_overrides.append(f"hydra.sweep.dir={quoted(str(sweep_dir))}")
                adhoc = True
            if problem := unwritable(sweep_dir.absolute()):  # the sweep's own files (multirun.yaml, a search's records)
                raise PlanError(f"cannot write in {sweep_dir.absolute()} ({problem}); choose a folder you can write (hydra.sweep.dir=...)")
            if base.hydra.sweeper._target_ != BASIC_SWEEPER:
                searched_by = base.hydra.sweeper._target_.rsplit(".", 1)[-1]
                searched = {*(OmegaConf.select(base, "hydra.sweeper.params") or {}), *(o.get_key_element() for o in sweeps)}
                if not base.data.get("val_fraction") and "data.val_fraction" not in {key.lstrip("+~") for key in searched}:
                    raise PlanError("a search chooses on the validation loss, and data.val_fraction=0 holds none out: "
                                    "add data.val_fraction=0.1 (10% of the training set held out)")
                schedule, closing = _schedule(base, parser, overrides, sweep_dir.absolute(), fixed)
                # The grid check composed every value since, and Hydra's runtime choices are global: base's
                # ${hydra:runtime.choices.model} would now read the last value composed (the last model of the grid).
                base = compose.compose_job(fixed)
                job, settings = _shared_settings(base, hydra_overrides, searched, sweep_dir.absolute(), closing is not None)
                launch = Launch(True, [job], hydra_overrides, sweep_dir.absolute(), searched_by, settings, schedule, closing)
                launch.note = earlier_folder(launch, sweeps) if adhoc else None
                return launch
            try:
                jobs_overrides = _space(base, parser, overrides).jobs
            except (HydraException, OmegaConfBaseException, ValueError) as error:
                raise PlanError(one_line(error)) from error
        else:
            if resume not in (None, run_folder.AUTO):
                target = Path(resume).expanduser().resolve()
                if "hydra.run.dir" in given and Path(base.hydra.run.dir).resolve() != target:
                    raise PlanError(f"hydra.run.dir={base.hydra.run.dir} and trainer.resume={resume} name two folders: give one")
                hydra_overrides.append(f"hydra.run.dir={quoted(str(target))}")  # a path may hold , = ' or spaces
            jobs_overrides = [list(overrides)]

        jobs: list[Job] = []
        seen: dict[Path, tuple[int, list[str]]] = {}
        for index, job_overrides in enumerate(jobs_overrides):
            try:  # a single run without added overrides is the composition above
                cfg = base if not multirun and not hydra_overrides else compose.compose_job([*job_overrides, *hydra_overrides])
                if multirun:
                    job_folder = Path(cfg.hydra.sweep.dir, cfg.hydra.sweep.subdir).absolute()
                else:
                    job_folder = Path(cfg.hydra.run.dir).absolute()
            except COMPOSITION_ERRORS as error:
                reason = composition_refusal(error, [*job_overrides, *hydra_overrides], several_models)
                jobs.append(Job(job_overrides, None, run_folder.Decision("refuse", reason)))
                continue
            job = Job(job_overrides, job_folder, run_folder.Decision("start"))
            job.decision = _decide(job, _task_config(cfg), dict(cfg.hydra.runtime.choices), index if multirun else None, seen, index)
            if costs and job.decision.action != "refuse":
                job.cost = _cost(_task_config(cfg), job, index if multirun else None)
            jobs.append(job)
        launch = Launch(multirun, jobs, hydra_overrides, sweep_dir.absolute() if sweep_dir else None)
        launch.note = earlier_folder(launch, sweeps) if adhoc else None
        return launch


COMPOSITION_ERRORS = (HydraException, OmegaConfBaseException, compose.ModelSettingError)


def composition_refusal(error: Exception, overrides: list[str], several_models: bool = False) -> str:
    """A composition's refusal as one line. A key the config lacks (`trainer.lrr=1e-3`, `model.hiden=64`: Hydra's "Could
    not override") is named with the closest known keys, read from the config composed without it; in a sweep of several
    models, a model's key that another model lacks, with the way to set it for one model only (++sizes.<model>.<key>)."""
    reason = one_line(error)
    match = re.search(r"Could not override '([^']+)'", str(error))
    if match is None:
        return reason
    key = match.group(1)
    try:
        cfg = compose.compose_job([o for o in overrides if o.split("=", 1)[0].lstrip("+~") != key])
    except COMPOSITION_ERRORS:
        return reason
    why = unknown_key(cfg, key)
    if several_models and key.startswith("model.") and key.count(".") == 1 and "did you mean" not in why:
        why += f"; to set it for one model of the sweep only: ++sizes.<model>.{key.split('.', 1)[1]}=VALUE"
    return why


def describe(launch: Launch) -> str:
    """The plan as a table: one line per job, what it would do, in which folder, and why."""
    if launch.searched_by:
        (job,) = launch.jobs
        verdict = f"refused: {job.decision.reason}" if job.decision.action == "refuse" else job.decision.reason
        picks = "runs the schedule below" if launch.schedule else "picks each trial's values as it goes"
        lines = [f"a search in {launch.sweep_dir}: {launch.searched_by} {picks}; {verdict}"]
        if launch.schedule:
            lines.append(launch.schedule)
        return "\n".join([*lines, *([f"  {launch.note}"] if launch.note else [])])
    counts = {action: sum(job.decision.action == action for job in launch.jobs) for action in ("start", "continue", "skip", "refuse")}
    head = f"{len(launch.jobs)} job{'s' if len(launch.jobs) != 1 else ''}" + (f" in {launch.sweep_dir}" if launch.sweep_dir else "")
    head += ": " + ", ".join(f"{n} {action}" for action, n in counts.items() if n)
    seconds = [job.cost.seconds for job in launch.jobs if job.cost is not None and job.cost.seconds is not None]
    if seconds:
        head += f"; training ~{duration(sum(seconds))} in all (estimated: each job's rate below)"
    lines = [head]
    for job in launch.jobs:
        where = job.folder.name if launch.sweep_dir and job.folder and job.folder.parent == launch.sweep_dir else job.folder
        where = where or " ".join(job.overrides)  # a job refused before it had a folder: named by its overrides
        lines.append(f"  {job.decision.action:<9} {where}: {job.decision.reason}")
        if job.cost is not None:
            lines.append(f"            {job.cost}")
    return "\n".join([*lines, *([f"  {launch.note}"] if launch.note else [])])
