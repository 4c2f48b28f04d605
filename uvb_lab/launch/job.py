"""One job of `uvb-train`, as Hydra runs it: lock the folder Hydra chose, decide, train; the exit codes; the
number a sweeper minimises. The loop itself (uvb_lab/train.py) takes the config and the folder, and knows
nothing of Hydra's modes or launchers.
"""

import logging
import math
import sys
from pathlib import Path
from typing import Any

from hydra.types import RunMode
from omegaconf import DictConfig

from uvb_lab import compose
from uvb_lab.figures.after_training import figures_of_finished_run
from uvb_lab.hydra_internals import BASIC_LAUNCHER
from uvb_lab.launch import outcome
from uvb_lab.launch.refusals import REFUSALS
from uvb_lab.run import devices
from uvb_lab.run import folder as run_folder
from uvb_lab.run.files import RunStatus
from uvb_lab.run.lock import FolderBusy, hold
from uvb_lab.run.preemption import EXIT_CODE as PREEMPTED_EXIT_CODE
from uvb_lab.run.preemption import INTERRUPTED_EXIT_CODE
from uvb_lab.run.summary import FIGURES_DONE, STATUS, VAL_LOSS, RunSummary
from uvb_lab.trackers import NoLogger
from uvb_lab.train import train
from uvb_lab.trained_run import load_trained_run

log = logging.getLogger(__name__)


def sweeper_objective(summary: dict[str, Any] | None) -> float:
    """The number a job returns to Hydra's sweeper, which a search (Optuna's, conf/hparams_search/) minimises.

    The final validation loss, never a test number: a search needs data.val_fraction (uvb-train refuses one
    without it). A job without a finite validation loss (it failed, diverged, was refused, or held nothing out)
    gives inf: a search counts it as its worst trial and goes on. Successive halving and tune-then-test read each
    trial's loss at each budget from its own metrics.jsonl instead (uvb_lab/launch/trials.py).
    """
    value = (summary or {}).get(VAL_LOSS)
    return float(value) if isinstance(value, int | float) and math.isfinite(value) else math.inf


def draw_missing_figures(cfg: DictConfig, run_dir: Path, summary: dict[str, Any]) -> dict[str, Any]:
    """A finished run whose figures were interrupted (a kill while drawing them): draw them now, from its checkpoint, by
    the route of every finished run's figures (figures_of_finished_run), its summary.json changed through RunSummary."""
    log.info("%s: finished, but its figures were not all drawn; drawing them in %s", cfg.run.name, run_dir)
    recorded = RunSummary.as_recorded(summary)
    recorded.attach(run_dir)
    with run_folder.log_to_file(run_dir):
        # Reading the run back composes the default config (its figures: settings): the job's Hydra state is kept, and
        # the figures take the run's own name as its folder records it (cfg.run.name, resolved when read, had named
        # the defaults' run).
        with compose.hydra_state_kept():
            run = load_trained_run(run_dir, devices.resolve_device(cfg.trainer.device))
        figures_of_finished_run(run_dir, run.model, run.data, run.name, cfg.figures, NoLogger(run_dir, run.name, {}), recorded)
    return recorded.as_dict()


def run_job(cfg: DictConfig) -> dict[str, Any] | None:
    """One job of `uvb-train`, in the folder Hydra chose: lock it, decide, train; returns the summary.

    A single run ends the process with uvb-train's exit codes (2 refused, 1 failed, 3 preempted, 130
    interrupted); a sweep's job logs its error and returns, so the sweep goes on, and notes what it did for the
    launching process's closing line (uvb_lab/launch/outcome.py). A Ctrl-C stops the whole sweep once the job is saved.
    """
    hydra_cfg = compose.job_config()
    run_dir = Path(hydra_cfg.runtime.output_dir)
    single = hydra_cfg.mode != RunMode.MULTIRUN
    summary, code, did = None, 0, outcome.FAILED
    try:
        summary, did = _decide_and_train(cfg, run_dir, hydra_cfg)
    except FolderBusy as error:
        print(f"uvb-train: error: {error}", file=sys.stderr)
        code, did = 2, outcome.BUSY
    except REFUSALS as error:
        print(f"uvb-train: error: {error}", file=sys.stderr)
        code, did = 2, outcome.REFUSED
    except FloatingPointError as error:  # the non-finite guard: in a search, a result (the trial diverged)
        print(f"uvb-train: error: {error}", file=sys.stderr)
        code, did = 1, outcome.DIVERGED
    except OSError as error:  # a full disk, a read-only mount: the checkpoint before it stays whole (run/checkpoint.py)
        where = f" {error.filename}" if error.filename else ""
        print(
            f"uvb-train: error: cannot write{where}: {error.strerror or error}; nothing half-written was left, and the "
            "last checkpoint is intact: once it can be written, the same command continues",
            file=sys.stderr,
        )
        code = 2
    except KeyboardInterrupt:  # a second Ctrl-C: the last checkpoint is saved
        did = outcome.STOPPED
        raise
    finally:
        outcome.note(run_dir, did)  # also for a job that raises: the sweep's closing line counts it
    if summary is not None:
        code = {RunStatus.PREEMPTED: PREEMPTED_EXIT_CODE, RunStatus.INTERRUPTED: INTERRUPTED_EXIT_CODE, RunStatus.UNSCORED: 1}.get(summary[STATUS], 0)
        if summary[STATUS] == RunStatus.UNSCORED and single:  # a failed run: its model does not denoise, there is no score
            print(f"uvb-train: error: {run_dir} trained to its end but is {RunStatus.UNSCORED}: its last test or validation loss is "
                  "not finite (trainer.skip_nonfinite=true), so its model is not usable; try a smaller trainer.lr", file=sys.stderr)
        if code == INTERRUPTED_EXIT_CODE and not single:
            raise KeyboardInterrupt  # the job is saved; stop the sweep's other jobs too
        if code == PREEMPTED_EXIT_CODE and not single and hydra_cfg.launcher.get("_target_") == BASIC_LAUNCHER:
            # The signal was meant for this process, which runs every job of the sweep: stop it, not only this
            # job (a plain `kill`, or a SLURM allocation that runs a whole sweep). Under submitit each job is
            # its own process and hand_over() has requeued it already.
            raise SystemExit(PREEMPTED_EXIT_CODE)
    if single and code:
        sys.exit(code)
    return summary


def _decide_and_train(cfg: DictConfig, run_dir: Path, hydra_cfg: DictConfig) -> tuple[dict[str, Any] | None, str]:
    """Under the folder's lock: decide, then train (or skip); the summary, and what was done (an outcome note)."""
    with hold(run_dir):  # before any write; released when the job returns or the process dies
        decision = run_folder.decide(run_dir, cfg, compose.defaults_identity(compose.group_choices())[0])
        if decision.action == "refuse":
            raise run_folder.RunRefused(decision.reason)
        if decision.action == "skip":
            if cfg.figures.after_training and (decision.summary or {}).get(FIGURES_DONE) is False:
                return draw_missing_figures(cfg, run_dir, decision.summary), outcome.SKIPPED
            log.info("%s: %s in %s; nothing to do", cfg.run.name, decision.reason, run_dir)
            return decision.summary, outcome.SKIPPED
        with run_folder.log_to_file(run_dir):
            summary = train(cfg, run_dir, hydra_cfg, compose.multirun_job_num())
    if summary[STATUS] in (RunStatus.PREEMPTED, RunStatus.INTERRUPTED):
        return summary, outcome.STOPPED
    return summary, outcome.CONTINUED if decision.action == "continue" else outcome.TRAINED
