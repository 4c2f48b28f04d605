"""Train one energy model on one dataset at one sigma: the job that `uvb-train` (uvb_lab/launch.py) runs.

The loop is plain PyTorch and reads top to bottom: build, then per epoch train / evaluate / record.
Everything the report needs ends up in the run folder (uvb_lab/run_files.py, uvb_lab/run/folder.py).
"""

import json
import logging
import math
import sys
import time
from pathlib import Path
from typing import Any

import torch
from hydra.core.hydra_config import HydraConfig
from hydra.errors import InstantiationException
from hydra.types import RunMode
from hydra.utils import instantiate
from omegaconf import DictConfig, OmegaConf
from tqdm import tqdm

from uvb_lab import checkpoint, devices, run_files
from uvb_lab.checkpoint import CheckpointError
from uvb_lab.config import ConfigError, check_values
from uvb_lab.data import DataError, ImageData
from uvb_lab.evaluate import evaluate
from uvb_lab.figures import figures_after_training, trained_for
from uvb_lab.models.uvb import UVB
from uvb_lab.preemption import EXIT_CODE as PREEMPTED_EXIT_CODE
from uvb_lab.preemption import INTERRUPTED_EXIT_CODE, Preemption
from uvb_lab.run import folder as run_folder
from uvb_lab.run.lock import FolderBusy, hold
from uvb_lab.run.provenance import provenance
from uvb_lab.train_step import adam, make_train_step, resolve_precision

log = logging.getLogger(__name__)


# The summary fields a resumed run carries on from its checkpoint; the others describe this command's config.
PROGRESS = (
    "epochs_done", "steps_done", "train_loss", "test_loss", "best_test_loss", "wall_time_s", "nonfinite_steps_skipped", "samples_per_s",
)
# Steps between two updates of the progress bar's loss: each reads a number from the device (a GPU wait).
PROGRESS_EVERY = 25
# Refusals: the command cannot run as given; nothing was written (uvb-train exits 2).
REFUSALS = (ConfigError, DataError, CheckpointError, FolderBusy, run_folder.RunRefused)


def resolve_device(name: str) -> torch.device:
    """trainer.device as a torch.device; a parallel sweep's jobs take the GPUs in turn (uvb_lab/devices.py)."""
    try:
        return devices.resolve_device(name, devices.multirun_job_num())
    except devices.DeviceError as error:
        raise ConfigError(str(error)) from error


def build(name: str, node: DictConfig) -> Any:
    """instantiate(), with the constructor's own complaint as the error instead of Hydra's wrapper."""
    try:
        return instantiate(node)
    except InstantiationException as error:
        cause = error.__cause__ or error
        if isinstance(cause, DataError):
            raise cause
        raise ConfigError(f"cannot build {name} ({node.get('_target_')}): {cause}") from error


_loaded: dict[str, ImageData] = {}


def load_data(node: DictConfig) -> ImageData:
    """The dataset a data config describes; the last one is kept, so a plan and its jobs in one process load it once."""
    key = json.dumps(OmegaConf.to_container(node, resolve=True), sort_keys=True)
    if key not in _loaded:
        data = build("data", node)
        _loaded.clear()
        _loaded[key] = data
    return _loaded[key]


def train(cfg: DictConfig, run_dir: Path) -> dict[str, Any]:
    """Run the training described by cfg in run_dir, continuing its checkpoint if there is one; returns the summary.

    The caller has decided that cfg may train there (uvb_lab/run/folder.py: start or continue).
    """
    # -- Build everything, so that a bad value fails here, before any step or file of the run.
    check_values(cfg)
    max_steps = math.inf if cfg.trainer.max_steps is None else int(cfg.trainer.max_steps)
    device = resolve_device(cfg.trainer.device)
    torch.manual_seed(cfg.trainer.seed)
    data = load_data(cfg.data)
    model = build("model", cfg.model).to(device)
    loss_fn = build("loss", cfg.loss)
    make_logger = build("logger", cfg.logger)  # started below, once the run folder is there
    optimizer = adam(model.parameters(), lr=cfg.trainer.lr, device=device)  # fused on CUDA
    precision = resolve_precision(cfg.trainer.precision, device)  # auto: bf16 on CPUs with native bf16, tf32 on CUDA
    try:  # one optimizer update per call, in that precision, compiled if trainer.compile
        train_step = make_train_step(
            model, loss_fn, optimizer, precision, cfg.trainer.compile, skip_nonfinite=cfg.trainer.skip_nonfinite
        )
    except ValueError as error:
        raise ConfigError(str(error)) from error
    x_train, x_test = data.train.to(device), data.test.to(device)
    x_val = data.validation.to(device) if data.validation is not None else None
    sigma, batch_size, epochs = float(cfg.sigma), int(cfg.trainer.batch_size), int(cfg.trainer.epochs)
    num_params = sum(p.numel() for p in model.parameters())
    log.info(
        "%s: %s parameters, %d train%s / %d test images on %s in %s", cfg.run.name, f"{num_params:,}", len(x_train),
        "" if x_val is None else f" / {len(x_val)} validation", len(x_test), device,
        precision if precision == cfg.trainer.precision else f"{precision} (trainer.precision={cfg.trainer.precision})",
    )
    summary: dict[str, Any] = {
        "status": "running",
        "model": cfg.run.model,
        "dataset": cfg.run.data,
        "sigma": sigma,
        "decoder": model.decoder_kind if isinstance(model, UVB) else None,
        "num_params": num_params,
        "epochs": epochs,
        "epochs_done": 0,
        "steps_done": 0,
        "train_loss": None,
        "test_loss": None,
        "best_test_loss": None,
        "wall_time_s": 0.0,
        "nonfinite_steps_skipped": 0,
        **provenance(device, precision),
    }

    # -- Start afresh, or continue exactly where the last checkpoint stopped: weights, Adam, every RNG,
    # the position in the epoch and its loss accumulators (uvb_lab/checkpoint.py).
    step, epochs_done, batches_done, order = 0, 0, 0, None
    loss_sum, losses_summed = torch.zeros((), device=device), 0  # the epoch's mean training loss
    window_sum, window_count = torch.zeros((), device=device), 0  # the last trainer.log_every_steps steps' mean
    # Loaded on the CPU: load_state_dict copies weights and Adam's state to the device, RNG states stay CPU tensors.
    state, loaded_from = checkpoint.load_newest(run_dir) if checkpoint.exists(run_dir) else (None, None)
    # A damaged last.pt is overwritten, never rotated into previous.pt (which is then the only good one).
    rotate = loaded_from is None or loaded_from == run_dir / checkpoint.LAST
    if state is not None:
        try:
            model.load_state_dict(state["model"])
        except RuntimeError as error:
            raise checkpoint.CheckpointError(f"the checkpoint in {run_dir} does not fit this model ({error})") from error
        optimizer.load_state_dict(state["optimizer"])
        checkpoint.set_rng_state(state["rng"])
        step, epochs_done, batches_done = state["step"], state["epochs_done"], state["batches_done"]
        order = state["order"].to(device) if state["order"] is not None else None
        loss_sum, losses_summed = state["loss_sum"].to(device), state["losses_summed"]
        if "window_sum" in state:  # checkpoints of uvb-lab 0.1.0 have none: their window starts empty
            window_sum, window_count = state["window_sum"].to(device), state["window_count"]
        # Progress comes from the checkpoint; what the run is asked to do (epochs, ...) from this command's config.
        summary.update({key: value for key, value in state["summary"].items() if key not in summary or key in PROGRESS})

    # -- Every check passed: the first write into the run folder (identity, config, Hydra's record, log).
    run_folder.record(run_dir, cfg, HydraConfig.get() if HydraConfig.initialized() else None)
    if state is not None:
        log.info("resuming %s at step %d (epoch %d, batch %d)", run_dir, step, epochs_done + 1, batches_done)
    run_files.truncate_metrics(run_dir, step)  # rows past the checkpoint are rewritten, not repeated
    wandb_run_id = state.get("wandb_run_id") if state else None
    logger = make_logger(run_dir=run_dir, name=cfg.run.name, config=OmegaConf.to_container(cfg, resolve=True), run_id=wandb_run_id)
    start = time.perf_counter() - summary["wall_time_s"]
    log_every = cfg.trainer.log_every_steps or math.inf
    eval_every = cfg.trainer.eval_every_steps or math.inf
    # The first step whose loss or gradient was not finite (-1: none). Kept on the device and read only when
    # checkpointing, so the default policy (stop) costs no GPU sync per step.
    first_nonfinite_step = torch.full((), -1, dtype=torch.long, device=device)

    def evaluate_test_set() -> dict[str, float]:
        """test_loss, ...; also val_loss, ... where data.val_fraction holds out a validation split."""
        numbers = evaluate(model, loss_fn, x_test, cfg.trainer.eval_seed, cfg.trainer.eval_batch_size)
        if x_val is not None:
            numbers |= evaluate(model, loss_fn, x_val, cfg.trainer.eval_seed, cfg.trainer.eval_batch_size, split="val")
        return numbers

    def record_evaluation(why: str, **extra: float) -> dict[str, float]:
        """Evaluate on the test set and record it: a metrics row, the tracker, the summary (best test loss too)."""
        test = evaluate_test_set()
        row = {"step": step, "epoch": step / batches_per_epoch, "eval": why, **extra, **test}
        run_files.append_metrics(run_dir, row)
        logger.log({k: v for k, v in row.items() if k not in ("step", "eval")}, step=step)
        summary.update(test, steps_done=step, wall_time_s=time.perf_counter() - start)
        # An evaluation made because the run was stopped is one an uninterrupted run never makes: not a candidate.
        best = summary["best_test_loss"]
        if why not in run_files.STOP_EVALUATIONS and (best is None or test["test_loss"] < best):
            summary["best_test_loss"] = test["test_loss"]
        return test

    def write_summary() -> None:
        run_files.write_summary(run_dir, summary)
        logger.log_summary(summary)

    def stop_if_nonfinite() -> None:
        bad_step = int(first_nonfinite_step.item())
        if bad_step >= 0:
            # skip_nonfinite does not change which run this is; another lr is another run, in its own folder.
            where = (
                f"The last good checkpoint is in {run_dir / checkpoint.FOLDER}: continue it with trainer.skip_nonfinite=true, "
                "or start another run with a smaller trainer.lr"
                if checkpoint.exists(run_dir)
                else "No checkpoint was saved before it: run again with trainer.skip_nonfinite=true or a smaller trainer.lr"
            )
            raise FloatingPointError(f"the training loss was not finite at step {bad_step}; stopped at step {step}. {where}")

    def save_checkpoint() -> None:
        nonlocal rotate
        stop_if_nonfinite()  # keep the last good checkpoint: a NaN model is worth nothing to continue from
        summary.update(steps_done=step, wall_time_s=time.perf_counter() - start)
        state = {
            "model": model.state_dict(),
            "optimizer": optimizer.state_dict(),
            "rng": checkpoint.rng_state(),
            "step": step,
            "epochs_done": epochs_done,
            "batches_done": batches_done,
            "order": order if batches_done else None,
            "loss_sum": loss_sum,
            "losses_summed": losses_summed,
            "window_sum": window_sum,
            "window_count": window_count,
            "summary": dict(summary),
            "wandb_run_id": getattr(logger, "run_id", None),
        }
        checkpoint.save(run_dir, state, rotate=rotate)
        rotate = True

    # SIGTERM etc. (preemption) and Ctrl-C: finish the step, checkpoint, stop (uvb_lab/preemption.py).
    preemption = Preemption(cfg.trainer.preemption_signals).install()
    checkpoint_every = cfg.trainer.checkpoint_every_steps or math.inf
    batches_per_epoch = math.ceil(len(x_train) / batch_size)
    status = "failed"
    write_summary()
    try:
        if epochs == 0:  # build and evaluate only: the untrained model's numbers
            record_evaluation("untrained")
            save_checkpoint()
        for epoch in range(epochs_done + 1, epochs + 1):
            if step >= max_steps or preemption.requested:
                break
            # -- One pass over the training set in a fresh random order, with fresh noise every batch.
            model.train()
            epoch_start, samples_seen = time.perf_counter(), 0  # this process's share of the epoch, for samples/s
            window_start, window_samples = epoch_start, 0
            if batches_done == 0:
                order = torch.randperm(len(x_train), device=device)
                loss_sum, losses_summed = torch.zeros((), device=device), 0
            bar = tqdm(
                order.split(batch_size)[batches_done:],
                desc=f"epoch {epoch}/{epochs}",
                leave=False,
                disable=not cfg.trainer.progress,
                dynamic_ncols=True,
            )
            pass_ends = False
            for indices in bar:
                x = x_train[indices]
                y = x + sigma * torch.randn_like(x)
                loss, finite = train_step(x, y)  # loss, backward, Adam in trainer.precision (uvb_lab/train_step.py)
                # -- Non-finite loss or gradient: the step skipped the update (trainer.skip_nonfinite), or note the
                # step and stop at the next checkpoint, read without waiting for the GPU here.
                if cfg.trainer.skip_nonfinite and not finite.item():  # a CPU tensor here: no second wait
                    summary["nonfinite_steps_skipped"] += 1
                    log.warning("step %d: non-finite loss or gradient, step skipped (trainer.skip_nonfinite)", step + 1)
                else:
                    loss_sum += loss
                    losses_summed += 1
                    window_sum += loss
                    window_count += 1
                    first_nonfinite_step = torch.where((first_nonfinite_step < 0) & ~finite, step + 1, first_nonfinite_step)
                batches_done += 1
                samples_seen += len(indices)
                window_samples += len(indices)
                step += 1
                if cfg.trainer.progress and batches_done % PROGRESS_EVERY == 0:  # .item() waits for the GPU: rarely, only if shown
                    bar.set_postfix(loss=f"{loss_sum.item() / max(losses_summed, 1):.4g}")
                # -- The training curve: the mean loss of the last log_every steps (one wait for the GPU each time).
                if step % log_every == 0:
                    now = time.perf_counter()
                    train_loss = window_sum.item() / window_count if window_count else math.nan
                    row = {"step": step, "epoch": step / batches_per_epoch, "train_loss": train_loss, "samples_per_s": window_samples / (now - window_start)}
                    run_files.append_metrics(run_dir, row)
                    logger.log({k: v for k, v in row.items() if k != "step"}, step=step)
                    window_sum, window_count, window_start, window_samples = torch.zeros((), device=device), 0, now, 0
                # At the end of a pass (epoch end or max_steps) the pass is evaluated, recorded and checkpointed
                # below, a preemption included; inside it, an evaluation every eval_every steps, and a preemption
                # evaluates, checkpoints and stops here.
                pass_ends = step >= max_steps or batches_done == batches_per_epoch
                if not pass_ends and (step % eval_every == 0 or preemption.requested):
                    stop_if_nonfinite()
                    record_evaluation(preemption.reason if preemption.requested else "eval_every_steps")
                    write_summary()
                if not pass_ends and (step % checkpoint_every == 0 or preemption.requested):
                    save_checkpoint()
                if pass_ends or preemption.requested:
                    break
            bar.close()
            if preemption.requested and not pass_ends:
                break
            stop_if_nonfinite()
            epoch_time = time.perf_counter() - epoch_start
            train_loss = loss_sum.item() / losses_summed if losses_summed else math.nan  # nan: every step skipped

            # -- Evaluate on the test set, then record: metrics row, tracker, summary, checkpoint.
            finished_epoch = batches_done == batches_per_epoch
            samples_per_s = samples_seen / epoch_time
            why = "epoch_end" if finished_epoch else "max_steps"  # a pass ends at one of the two, preempted or not
            test = record_evaluation(why, train_loss=train_loss, samples_per_s=samples_per_s, epoch_time_s=epoch_time)
            summary.update(epochs_done=epoch if finished_epoch else epoch - 1, train_loss=train_loss, samples_per_s=samples_per_s)
            if finished_epoch:
                epochs_done, batches_done = epoch, 0
            save_checkpoint()  # also mid-epoch at max_steps: resuming then finds nothing left to do
            log.info(
                "epoch %d/%d  step %d  train %.4f%s  test %.4f  %.0f samples/s", epoch, epochs, step, train_loss,
                f"  val {test['val_loss']:.4f}" if "val_loss" in test else "", test["test_loss"], samples_per_s,
            )
            write_summary()
            if step >= max_steps:
                log.info("stopped at trainer.max_steps=%d after %d full epochs", step, summary["epochs_done"])
                break
        status = "interrupted" if preemption.interrupted else "preempted" if preemption.requested else "finished"
        summary["status"] = status  # recorded before the figures: a kill while drawing them costs no training
        write_summary()
        # -- The paper's figures of the trained model into run_dir/figures/ and W&B; a failure only warns.
        if cfg.figures.after_training and status == "finished":
            figures_after_training(run_dir, model, data, cfg.run.name, cfg.figures, logger, step, trained_for(summary))
        if status == "finished":
            checkpoint.prune(run_dir, cfg.trainer.keep_checkpoints)
    except KeyboardInterrupt:  # a second Ctrl-C: stop at once, with the last checkpoint saved
        status = "interrupted"
        raise
    finally:
        preemption.uninstall()
        summary["status"] = status
        summary["wall_time_s"] = time.perf_counter() - start
        summary["steps_done"] = step
        write_summary()
        logger.finish(exit_code=0 if status == "finished" else 1)
    if status == "preempted":
        log.warning("preempted at step %d; the same command continues from the checkpoint", step)
        preemption.hand_over()  # under submitit: its handler requeues the job and exits
    if status == "interrupted":
        log.warning("interrupted at step %d; the same command continues from the checkpoint", step)
    return summary


def sweeper_objective(summary: dict[str, Any] | None) -> float:
    """The number a job returns to Hydra's sweeper, which a search (conf/hparams_search/) minimises.

    The final validation loss where data.val_fraction holds one out, else the final test loss. A job that
    failed or was refused gives inf: a search counts a diverging lr as its worst trial and goes on.
    """
    summary = summary or {}
    value = summary.get("val_loss", summary.get("test_loss"))
    return float(value) if value is not None and math.isfinite(value) else math.inf


def run_job(cfg: DictConfig) -> dict[str, Any] | None:
    """One job of `uvb-train`, in the folder Hydra chose: lock it, decide, train; returns the summary.

    A single run ends the process with uvb-train's exit codes (2 refused, 1 failed, 3 preempted, 130
    interrupted); a sweep's job logs its error and returns, so the sweep goes on, and the launching
    process counts the jobs from their folders. A Ctrl-C stops the whole sweep once the job is saved.
    """
    hydra_cfg = HydraConfig.get()
    run_dir = Path(hydra_cfg.runtime.output_dir)
    single = hydra_cfg.mode != RunMode.MULTIRUN
    summary, code = None, 0
    try:
        with hold(run_dir):  # before any write; released when the job returns or the process dies
            decision = run_folder.decide(run_dir, cfg)
            if decision.action == "refuse":
                raise run_folder.RunRefused(decision.reason)
            if decision.action == "skip":
                log.info("%s: %s in %s; nothing to do", cfg.run.name, decision.reason, run_dir)
                return decision.summary
            with run_folder.log_to_file(run_dir):
                summary = train(cfg, run_dir)
    except REFUSALS as error:
        print(f"uvb-train: error: {error}", file=sys.stderr)
        code = 2
    except FloatingPointError as error:
        print(f"uvb-train: error: {error}", file=sys.stderr)
        code = 1
    if summary is not None:
        code = {"preempted": PREEMPTED_EXIT_CODE, "interrupted": INTERRUPTED_EXIT_CODE}.get(summary["status"], 0)
        if code == INTERRUPTED_EXIT_CODE and not single:
            raise KeyboardInterrupt  # the job is saved; stop the sweep's other jobs too
        if code == PREEMPTED_EXIT_CODE and not single and "BasicLauncher" in str(hydra_cfg.launcher.get("_target_")):
            # The signal was meant for this process, which runs every job of the sweep: stop it, not only this
            # job (a plain `kill`, or a SLURM allocation that runs a whole sweep). Under submitit each job is
            # its own process and hand_over() has requeued it already.
            raise SystemExit(PREEMPTED_EXIT_CODE)
    if single and code:
        sys.exit(code)
    return summary
