"""What a `uvb-train` command would do, worked out before anything is written: every job, its folder, its fate.

`plan(overrides, multirun)` composes each job's config exactly as Hydra will (the experiment's
`hydra.sweeper.params` and the command line's sweeps, expanded the way Hydra's basic sweeper expands
them), checks every value, builds each model on the meta device (no memory, no time) so its own checks
run, loads each distinct dataset once, checks the device and the folder's lock, and decides per job
(uvb_lab/run/folder.py): start, continue, skip, or refuse with a reason. A launch with a refused job
launches nothing. `uvb-train --dry-run` prints the plan and stops there; after a sweep,
uvb_lab/launch/outcome.py says how each job ended.

A search (a sweeper other than the basic one, e.g. Optuna in conf/hparams_search/) picks its jobs as it
goes, so its plan is the settings every trial shares: checked as above and compared with the record of the
study its folder already holds (search.json); each trial decides about its own folder when it runs. A sweeper
that knows its schedule before it starts (successive halving: its rungs and budgets) says it in the plan through
its `preview(sweeper_config, space, sweep_dir)`; the points a sampled search draws from its intervals are listed
below it (uvb_lab/launch/sampled_space.py, which the sweepers draw with too).
"""

import functools
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
from uvb_lab.config import ConfigError, check_values
from uvb_lab.launch import sampled_space
from uvb_lab.launch.hydra_internals import BASIC_SWEEPER
from uvb_lab.run import folder as run_folder
from uvb_lab.run import identity as run_identity
from uvb_lab.run import records
from uvb_lab.run.lock import FolderBusy, check_free, holder


class PlanError(ValueError):
    """The command cannot be planned at all (an override Hydra cannot parse or compose, ...)."""


@dataclass
class Job:
    overrides: list[str]  # this job's task overrides, as the launcher hands them to it
    folder: Path | None
    decision: run_folder.Decision


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


SAFE = re.compile(r"[^A-Za-z0-9._+-]")


# Where every ad-hoc `uvb-train -m` sweep puts its runs (an experiment has its own folder, hydra.sweep.dir any other).
ADHOC_SWEEPS = "sweeps"


def adhoc_sweep_name(sweeps: list[Any]) -> str:
    """An ad-hoc search's folder, named after what it searches: `lr0.001+0.003`, an interval `lr0.0001..0.03`."""
    parts = []
    for override in sweeps:
        key = override.get_key_element().lstrip("+~")
        if override.is_interval_sweep():
            values = f"{override.value().start:g}..{override.value().end:g}"
        else:
            values = "+".join(str(v) for v in override.sweep_string_iterator())
        parts.append(f"{key}_{values}" if key in run_identity.NAMED_GROUPS + run_identity.CHOSEN_GROUPS else f"{key.rsplit('.', 1)[-1]}{values}")
    name = "-".join(parts) or "sweep"
    if len(name) > run_identity.MAX_NAME or SAFE.search(name):
        name = "sweep-" + run_identity.digest({"sweep": [str(o.input_line) for o in sweeps]})[: run_identity.HASH_CHARS]
    return name


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


def _schedule(cfg: DictConfig, parser: OverridesParser, overrides: list[str], sweep_dir: Path) -> tuple[str | None, Callable | None]:
    """A search's schedule, from its sweeper's `preview` where it has one (successive halving: the rungs of its grid),
    and its `closing` (the launch's last line, from the search's record) where it has one."""
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


def _check_job(cfg: DictConfig, job_num: int | None) -> None:
    """Every check that needs no file written: values, device, the model's own constructor, the data."""
    import torch

    from uvb_lab.loss import training_loss
    from uvb_lab.run import devices
    from uvb_lab.train import build, load_data

    check_values(cfg)
    try:
        devices.resolve_device(cfg.trainer.device, job_num)
    except devices.DeviceError as error:
        raise ConfigError(str(error)) from error
    with torch.device("meta"):  # runs the constructor's checks; allocates nothing
        model = build("model", cfg.model)
    loss = build("loss", cfg.loss)
    build("logger", cfg.logger)
    try:  # the model has what the loss calls, and the data the target the loss is aimed at
        training_loss(loss, model, load_data(cfg.data))
    except ValueError as error:
        raise ConfigError(str(error)) from error


def _decide(job_folder: Path, cfg: DictConfig, choices: dict[str, str | None], job_num: int | None, seen: dict[Path, int], index: int) -> run_folder.Decision:
    from uvb_lab.launch.job import REFUSALS  # what a job refuses with, found here before the launch instead

    if job_folder in seen:
        return run_folder.Decision(
            "refuse", f"the same run as job {seen[job_folder]} ({job_folder}): the keys this sweep varies do not change a run's result"
        )
    seen[job_folder] = index
    try:
        _check_job(cfg, job_num)
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
    from uvb_lab.launch.job import REFUSALS

    if locked and (busy := search_busy(sweep_dir)):
        return Job(hydra_overrides, None, run_folder.Decision("refuse", busy)), {}
    task_cfg = _task_config(base)
    settings = {key: value for key, value in run_identity.identity(task_cfg).items() if key not in searched}
    try:
        _check_job(task_cfg, None)
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


def plan(overrides: list[str], multirun: bool) -> Launch:
    """The jobs of `uvb-train [-m] OVERRIDES`, each with its folder and its decision; PlanError if unplannable."""
    with compose.conf_dir():
        parser = OverridesParser.create()
        try:
            parsed = parser.parse_overrides(overrides)
            sweeps = [o for o in parsed if o.is_sweep_override()]
            base = compose.compose_job([o.input_line for o in parsed if not o.is_sweep_override()])
        except (HydraException, OmegaConfBaseException, compose.ModelSettingError) as error:
            hint = "; the Optuna sweeper is an extra: pip install 'uvb-lab[sweepers]'" if MISSING_SWEEPER in str(error) else ""
            raise PlanError(refusal_advice(one_line(error)) + hint) from error
        if sweeps and not multirun:
            raise PlanError(f"{', '.join(o.input_line for o in sweeps)} sweeps several values: add -m (--multirun) to launch one job per value")
        given = {o.get_key_element() for o in parsed}
        hydra_overrides = []
        resume = base.trainer.resume
        sweep_dir = None
        if multirun:
            if resume not in (None, run_folder.AUTO):
                raise PlanError(f"trainer.resume={resume} continues one run; a sweep finds its runs' folders itself (trainer.resume=auto)")
            sweep_dir = Path(base.hydra.sweep.dir)
            chosen = base.hydra.runtime.choices
            if "hydra.sweep.dir" not in given and not any(chosen.get(g) for g in run_identity.SETTINGS_GROUPS):
                # A plain sweep's runs are named by their identity, so they can share one folder whatever the
                # command: adding values, reordering them or splitting a sweep in two finds the runs that exist.
                # A search's folder holds its study, which is of one grid: it is named after what it searches.
                searching = base.hydra.sweeper._target_ != BASIC_SWEEPER
                sweep_dir = Path("multirun", adhoc_sweep_name(sweeps) if searching else ADHOC_SWEEPS)
                hydra_overrides.append(f"hydra.sweep.dir={sweep_dir}")
            if base.hydra.sweeper._target_ != BASIC_SWEEPER:
                searched_by = base.hydra.sweeper._target_.rsplit(".", 1)[-1]
                searched = {*(OmegaConf.select(base, "hydra.sweeper.params") or {}), *(o.get_key_element() for o in sweeps)}
                if not base.data.get("val_fraction") and "data.val_fraction" not in {key.lstrip("+~") for key in searched}:
                    raise PlanError("a search chooses on the validation loss, and data.val_fraction=0 holds none out: "
                                    "add data.val_fraction=0.1 (10% of the training set held out)")
                schedule, closing = _schedule(base, parser, overrides, sweep_dir.absolute())
                job, settings = _shared_settings(base, hydra_overrides, searched, sweep_dir.absolute(), closing is not None)
                return Launch(True, [job], hydra_overrides, sweep_dir.absolute(), searched_by, settings, schedule, closing)
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
        seen: dict[Path, int] = {}
        for index, job_overrides in enumerate(jobs_overrides):
            try:  # a single run without added overrides is the composition above
                cfg = base if not multirun and not hydra_overrides else compose.compose_job([*job_overrides, *hydra_overrides])
                if multirun:
                    job_folder = Path(cfg.hydra.sweep.dir, cfg.hydra.sweep.subdir).absolute()
                else:
                    job_folder = Path(cfg.hydra.run.dir).absolute()
            except (HydraException, OmegaConfBaseException, compose.ModelSettingError) as error:
                jobs.append(Job(job_overrides, None, run_folder.Decision("refuse", refusal_advice(one_line(error)))))
                continue
            decision = _decide(job_folder, _task_config(cfg), dict(cfg.hydra.runtime.choices), index if multirun else None, seen, index)
            jobs.append(Job(job_overrides, job_folder, decision))
        return Launch(multirun, jobs, hydra_overrides, sweep_dir.absolute() if sweep_dir else None)


def refusal_advice(reason: str) -> str:
    """A composition's refusal, with the way to do what a user setting one model's key in a sweep of several wants."""
    match = re.search(r"Could not override '(model\.[\w.]+)'", reason)
    if match is None:
        return reason
    key = match.group(1)
    name = key.split(".", 1)[1]
    return (f"{key} is not a setting of this job's model. To set a key for one model only, give it per model: "
            f"++sizes.<model>.{name}=VALUE (e.g. ++sizes.uvb.{name}=...)")


def describe(launch: Launch) -> str:
    """The plan as a table: one line per job, what it would do, in which folder, and why."""
    if launch.searched_by:
        (job,) = launch.jobs
        verdict = f"refused: {job.decision.reason}" if job.decision.action == "refuse" else job.decision.reason
        picks = "runs the schedule below" if launch.schedule else "picks each trial's values as it goes"
        lines = [f"a search in {launch.sweep_dir}: {launch.searched_by} {picks}; {verdict}"]
        if launch.schedule:
            lines.append(launch.schedule)
        return "\n".join(lines)
    counts = {action: sum(job.decision.action == action for job in launch.jobs) for action in ("start", "continue", "skip", "refuse")}
    head = f"{len(launch.jobs)} job{'s' if len(launch.jobs) != 1 else ''}" + (f" in {launch.sweep_dir}" if launch.sweep_dir else "")
    head += ": " + ", ".join(f"{n} {action}" for action, n in counts.items() if n)
    lines = [head]
    for job in launch.jobs:
        where = job.folder.name if launch.sweep_dir and job.folder and job.folder.parent == launch.sweep_dir else job.folder
        where = where or " ".join(job.overrides)  # a job refused before it had a folder: named by its overrides
        lines.append(f"  {job.decision.action:<9} {where}: {job.decision.reason}")
    return "\n".join(lines)
