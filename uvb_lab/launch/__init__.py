"""`uvb-train` (= `python -m uvb_lab.launch`): plan the command's runs, then hand them to Hydra.

Hydra composes, sweeps and launches; before it may write anything, uvb-train works out every job of the
command (uvb_lab/launch/plan.py): its config, checked; its folder, named by the run's identity; and whether
it would start, continue, be skipped as finished, or be refused. A command with a refused job launches
nothing and exits 2 with the reason, so a bad value never leaves a folder behind. `--dry-run` prints the
plan and stops. After a sweep, one line says what this command did with each job (uvb_lab/launch/outcome.py).
A search that runs in waves (successive halving, tune-then-test) holds its folder's lock for the whole launch,
like a job its run folder (uvb_lab/run/lock.py): a second launch into it is refused, naming the process.

    uvb-train [--dry-run] [-m] [OVERRIDES]       any of Hydra's flags too: --help, --cfg job, -sc install=bash

Exit codes: 0 finished (or already finished; in a sweep, also a run another job held and trains; in a search, also
a trial that diverged, a result scored worst), 1 failed, 2 refused (bad input; in a search, also a trial refused or a
cell that chose nothing), 3 preempted, 130 interrupted.
This module imports no torch, matplotlib, wandb or tensorboard: --help, --cfg and TAB completion stay fast.
"""

import logging
import sys
from contextlib import ExitStack, contextmanager, nullcontext

import hydra
from omegaconf import DictConfig

from uvb_lab import compose  # noqa: F401 - stores the schema, registers the ${uvb_run_name:} resolver
from uvb_lab.hydra_internals import get_args_parser
from uvb_lab.paths import CONFIG_DIR
from uvb_lab.run.preemption import EXIT_CODE as PREEMPTED_EXIT_CODE
from uvb_lab.run.preemption import INTERRUPTED_EXIT_CODE

DRY_RUN = "--dry-run"


@hydra.main(version_base="1.3", config_path=CONFIG_DIR, config_name="config")
def _hydra_app(cfg: DictConfig) -> float:
    from uvb_lab.launch.job import run_job, sweeper_objective  # torch and the rest: only once a job runs

    compose.apply_model_settings(cfg)  # sizes.<model>.<key>, as the plan applied it (refused there if unknown)
    return sweeper_objective(run_job(cfg))


def _hydra(argv: list[str]) -> None:
    """Hydra's own command line, as if `uvb-train ARGV` had reached it directly."""
    saved, sys.argv = sys.argv, [sys.argv[0], *argv]
    try:
        _hydra_app()
    finally:
        sys.argv = saved


def show_config(args) -> None:
    """`--cfg job|hydra|all [--package KEY] [--resolve]`: the config a job of these overrides gets, as Hydra prints it.

    Composed as the plan and the job compose it (uvb_lab/compose.py, per-model settings applied), and with
    --resolve its run name resolved first: Hydra's own print resolved the config in place, key by key, so
    that by the time run.name was read, model.sigma: ${sigma} had become a plain 0.5, and the name listed it as
    an override (`...-model.sigma0.5`) where --dry-run and the folder do not.
    """
    from hydra.errors import HydraException
    from omegaconf import OmegaConf, open_dict, read_write
    from omegaconf.errors import OmegaConfBaseException

    if args.multirun:
        print("uvb-train: error: --cfg prints one job's config: drop -m and give each key one value (--dry-run -m lists a sweep's jobs)",
              file=sys.stderr)
        sys.exit(2)
    try:
        with compose.conf_dir():
            cfg = compose.compose_job(args.overrides)
            OmegaConf.set_readonly(cfg.hydra, None)  # as Hydra's print: the hydra node is resolved too
            if args.resolve:
                with read_write(cfg), open_dict(cfg):
                    cfg.run.name = cfg.run.name  # the name first, read from the config as composed
                    OmegaConf.resolve(cfg)
    except (HydraException, OmegaConfBaseException, compose.ModelSettingError) as error:
        print(f"uvb-train: error: {compose.one_line(error)}", file=sys.stderr)
        sys.exit(2)
    if args.cfg == "job":
        with read_write(cfg), open_dict(cfg):
            del cfg["hydra"]
    elif args.cfg == "hydra":
        cfg = OmegaConf.create({"hydra": cfg.hydra})
    package = None if args.package in (None, "_global_") else args.package
    shown = cfg if package is None else OmegaConf.select(cfg, package)
    if shown is None:
        print(f"uvb-train: error: package '{package}' not found in the config", file=sys.stderr)
        sys.exit(2)
    if package is not None:
        print(f"# @package {package}")
    print(OmegaConf.to_yaml(shown).rstrip("\n") if OmegaConf.is_config(shown) else shown)


@contextmanager
def _search_held(launch):
    """The search folder's lock for the whole launch (a wave search's; one launch per search); SystemExit(2) with one
    line, having written nothing, where another launch holds it."""
    from uvb_lab.launch.plan import search_busy
    from uvb_lab.run.lock import FolderBusy, hold

    launch.sweep_dir.mkdir(parents=True, exist_ok=True)
    with ExitStack() as held:
        try:
            held.enter_context(hold(launch.sweep_dir))  # released when the launch ends, or its process dies
        except FolderBusy:
            print(f"uvb-train: error: {search_busy(launch.sweep_dir) or f'{launch.sweep_dir} is in use by another launch'}", file=sys.stderr)
            sys.exit(2)
        yield


def main(argv: list[str] | None = None) -> None:
    argv = list(sys.argv[1:] if argv is None else argv)
    dry_run = DRY_RUN in argv
    argv = [arg for arg in argv if arg != DRY_RUN]
    args = get_args_parser().parse_args(argv)
    if args.help or args.hydra_help or args.info or args.shell_completion or args.experimental_rerun:
        _hydra(argv)  # Hydra's answers: help, completion; nothing runs
        return
    if args.cfg:
        show_config(args)
        return

    from uvb_lab.launch.plan import PlanError, describe, plan

    try:
        launch = plan(args.overrides, args.multirun, costs=dry_run)
    except PlanError as error:
        print(f"uvb-train: error: {error}", file=sys.stderr)
        sys.exit(2)
    if launch.multirun or dry_run:
        print(describe(launch), flush=True)
    if launch.refused:
        # A search has one planned job, its settings, and one reason (the plan above repeats it); a sweep's are above.
        reasons = launch.refused[0].decision.reason if launch.searched_by or not (launch.multirun or dry_run) else ""
        print(f"uvb-train: error: {reasons or f'{len(launch.refused)} of {len(launch.jobs)} jobs refused (above); nothing was launched'}", file=sys.stderr)
        sys.exit(2)
    if dry_run:
        return

    with _search_held(launch) if launch.closing else nullcontext():
        _launch(launch, argv)


def _launch(launch, argv: list[str]) -> None:
    from uvb_lab.launch.outcome import Notes, outcome
    from uvb_lab.launch.plan import record_search

    if launch.searched_by:  # the sweeper opens its storage (optuna.db) in the sweep folder before any job makes it
        record_search(launch)
        logging.getLogger("alembic").setLevel(logging.WARNING)  # Optuna's schema tool lists its plugins at INFO
    code = 0
    with Notes(launch.sweep_dir if launch.multirun else None) as notes:
        try:
            _hydra(argv + launch.hydra_overrides + notes.hydra_overrides)
        except SystemExit as exit_:
            code = exit_.code if isinstance(exit_.code, int) else 1
        except KeyboardInterrupt:
            code = INTERRUPTED_EXIT_CODE
        if launch.multirun:
            stopped_early = code in (PREEMPTED_EXIT_CODE, INTERRUPTED_EXIT_CODE)
            line, sweep_code = outcome(launch, notes.read(), stopped_early, notes.tally())
            print(f"uvb-train: sweep: {line}", file=sys.stderr)
            code = code or sweep_code
    if code:
        sys.exit(code)
