"""Train one energy model on one dataset at one sigma: `uvb-train` (= `python -m uvb_lab.train`).

The loop is plain PyTorch and reads top to bottom: build, then per epoch train / evaluate / record.
Everything the report needs ends up in the Hydra run folder (see uvb_lab/run_files.py).
"""

import logging
import math
import shutil
import sys
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import hydra
import torch
from hydra.core.hydra_config import HydraConfig
from hydra.errors import InstantiationException
from hydra.types import RunMode
from hydra.utils import instantiate
from omegaconf import DictConfig, OmegaConf
from tqdm import tqdm

from uvb_lab import CONFIG_DIR, checkpoint, devices, resume, run_files
from uvb_lab.data import DataError
from uvb_lab.evaluate import evaluate
from uvb_lab.figures import figures_after_training
from uvb_lab.models.uvb import UVB
from uvb_lab.preemption import EXIT_CODE as PREEMPTED_EXIT_CODE
from uvb_lab.preemption import Preemption, unknown_signals
from uvb_lab.train_step import adam, make_train_step

log = logging.getLogger(__name__)


# The summary fields a resumed run carries on from its checkpoint; the others describe this command's config.
PROGRESS = ("epochs_done", "steps_done", "train_loss", "wall_time_s", "nonfinite_steps_skipped", "samples_per_s")


class ConfigError(ValueError):
    """A config value that cannot work, found before any training."""


def check_config(cfg: DictConfig) -> None:
    t = cfg.trainer
    problems = []
    if not cfg.sigma > 0:
        problems.append(f"sigma must be > 0, got {cfg.sigma}")
    if not t.batch_size > 0:
        problems.append(f"trainer.batch_size must be > 0, got {t.batch_size}")
    if not t.eval_batch_size > 0:
        problems.append(f"trainer.eval_batch_size must be > 0, got {t.eval_batch_size}")
    if t.epochs < 0:
        problems.append(f"trainer.epochs must be >= 0, got {t.epochs}")
    if t.max_steps is not None and t.max_steps < 0:
        problems.append(f"trainer.max_steps must be >= 0 or null, got {t.max_steps}")
    if not t.lr > 0:
        problems.append(f"trainer.lr must be > 0, got {t.lr}")
    # checkpointing and preemption
    if t.checkpoint_every_steps is not None and not t.checkpoint_every_steps > 0:
        problems.append(f"trainer.checkpoint_every_steps must be > 0 or null, got {t.checkpoint_every_steps}")
    if unknown := unknown_signals(t.preemption_signals):
        problems.append(f"trainer.preemption_signals: unknown signal names {unknown} (e.g. SIGTERM, SIGUSR1)")
    if problems:
        raise ConfigError("; ".join(problems))


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


def flat_config(cfg: DictConfig) -> dict[str, Any]:
    """The resolved config as flat dotted keys ("model.latent_dim"), so a W&B table groups by any of them."""
    flat: dict[str, Any] = {}

    def walk(node: Mapping[str, Any], prefix: str) -> None:
        for key, value in node.items():
            if isinstance(value, Mapping):
                walk(value, f"{prefix}{key}.")
            else:
                flat[f"{prefix}{key}"] = value

    walk(OmegaConf.to_container(cfg, resolve=True), "")
    return flat


def train(cfg: DictConfig, run_dir: Path) -> dict[str, Any]:
    """Run the training described by cfg, writing into run_dir; returns the final summary."""
    # -- Build everything, so that a bad value fails here, before any step or file of the run.
    check_config(cfg)
    max_steps = math.inf if cfg.trainer.max_steps is None else int(cfg.trainer.max_steps)
    resuming = cfg.trainer.resume is not None  # continue run_dir's checkpoint, or skip a finished run
    if resuming and (done := resume.finished_summary(run_dir, int(cfg.trainer.epochs), max_steps)) is not None:
        log.info("%s: already finished in %s (%d epochs, %d steps); nothing to do", cfg.run.name, run_dir, done["epochs_done"], done["steps_done"])
        return done
    device = resolve_device(cfg.trainer.device)
    torch.manual_seed(cfg.trainer.seed)
    data = build("data", cfg.data)
    model = build("model", cfg.model).to(device)
    loss_fn = build("loss", cfg.loss)
    make_logger = build("logger", cfg.logger)  # started below, once the run folder is there
    optimizer = adam(model.parameters(), lr=cfg.trainer.lr, device=device)  # fused on CUDA
    try:  # one optimizer update per call, in trainer.precision, compiled if trainer.compile
        train_step = make_train_step(
            model, loss_fn, optimizer, cfg.trainer.precision, cfg.trainer.compile, skip_nonfinite=cfg.trainer.skip_nonfinite
        )
    except ValueError as error:
        raise ConfigError(str(error)) from error
    x_train, x_test = data.train.to(device), data.test.to(device)
    sigma, batch_size, epochs = float(cfg.sigma), int(cfg.trainer.batch_size), int(cfg.trainer.epochs)
    num_params = sum(p.numel() for p in model.parameters())
    log.info("%s: %s parameters, %d train / %d test images on %s", cfg.run.name, f"{num_params:,}", len(x_train), len(x_test), device)
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
        "wall_time_s": 0.0,
        "device": str(device),
        "nonfinite_steps_skipped": 0,
    }

    # -- Start afresh, or continue exactly where the last checkpoint stopped: weights, Adam, every RNG,
    # the position in the epoch and its loss accumulators (uvb_lab/checkpoint.py).
    step, epochs_done, batches_done, order = 0, 0, 0, None
    loss_sum, losses_summed = torch.zeros((), device=device), 0
    # Loaded on the CPU: load_state_dict copies weights and Adam's state to the device, RNG states stay CPU tensors.
    state = checkpoint.load(run_dir) if resuming and checkpoint.exists(run_dir) else None
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
        # Progress comes from the checkpoint; what the run is asked to do (epochs, ...) from this command's config.
        summary.update({key: value for key, value in state["summary"].items() if key not in summary or key in PROGRESS})
        log.info("resuming %s at step %d (epoch %d, batch %d)", run_dir, step, epochs_done + 1, batches_done)
    run_files.truncate_metrics(run_dir, epochs_done)  # rows past the checkpoint are rewritten, not repeated

    run_dir.mkdir(parents=True, exist_ok=True)
    run_files.write_config(run_dir, cfg)
    wandb_run_id = state.get("wandb_run_id") if state else None
    try:
        logger = make_logger(run_dir=run_dir, name=cfg.run.name, config=flat_config(cfg), run_id=wandb_run_id)
    except ValueError as error:  # a logger setting that cannot work (logger.mode=...): nothing is trained yet
        raise ConfigError(f"cannot start the logger: {error}") from error
    start = time.perf_counter() - summary["wall_time_s"]
    # The first step whose loss or gradient was not finite (-1: none). Kept on the device and read only when
    # checkpointing, so the default policy (stop) costs no GPU sync per step.
    first_nonfinite_step = torch.full((), -1, dtype=torch.long, device=device)

    def evaluate_test_set() -> dict[str, float]:
        return evaluate(model, loss_fn, x_test, cfg.trainer.eval_seed, cfg.trainer.eval_batch_size)

    def stop_if_nonfinite() -> None:
        bad_step = int(first_nonfinite_step.item())
        if bad_step >= 0:
            remedy = "trainer.skip_nonfinite=true or a smaller trainer.lr"
            where = (
                f"The last good checkpoint is in {run_dir / checkpoint.FOLDER}: continue it with {remedy}"
                if checkpoint.exists(run_dir)
                else f"No checkpoint was saved before it: run again with {remedy}"
            )
            raise FloatingPointError(f"the training loss was not finite at step {bad_step}; stopped at step {step}. {where}")

    def save_checkpoint() -> None:
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
            "summary": dict(summary),
            "wandb_run_id": getattr(logger, "run_id", None),
        }
        checkpoint.save(run_dir, state)

    preemption = Preemption(cfg.trainer.preemption_signals).install()  # SIGTERM etc. -> checkpoint, stop
    checkpoint_every = cfg.trainer.checkpoint_every_steps or math.inf
    batches_per_epoch = math.ceil(len(x_train) / batch_size)
    status = "failed"
    try:
        if epochs == 0:  # build and evaluate only: the untrained model's numbers
            summary.update(evaluate_test_set())
            save_checkpoint()
        for epoch in range(epochs_done + 1, epochs + 1):
            if step >= max_steps or preemption.requested:
                break
            # -- One pass over the training set in a fresh random order, with fresh noise every batch.
            model.train()
            epoch_start, samples_seen = time.perf_counter(), 0  # this process's share of the epoch, for samples/s
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
                    first_nonfinite_step = torch.where((first_nonfinite_step < 0) & ~finite, step + 1, first_nonfinite_step)
                batches_done += 1
                samples_seen += len(indices)
                step += 1
                if cfg.trainer.progress and batches_done % 25 == 0:  # .item() waits for the GPU: rarely, and only if shown
                    bar.set_postfix(loss=f"{loss_sum.item() / max(losses_summed, 1):.4g}")
                # At the end of a pass (epoch end or max_steps) the pass is evaluated, recorded and checkpointed
                # below, a preemption included; inside it, a preemption checkpoints and stops here.
                pass_ends = step >= max_steps or batches_done == batches_per_epoch
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

            # -- Evaluate on the test set, then record: metrics row, W&B, summary, checkpoint.
            finished_epoch = batches_done == batches_per_epoch
            test = evaluate_test_set()
            row = {
                "epoch": epoch,
                "step": step,
                "train_loss": train_loss,
                **test,
                "samples_per_s": samples_seen / epoch_time,
                "epoch_time_s": epoch_time,
            }
            summary.update(
                epochs_done=epoch if finished_epoch else epoch - 1,
                steps_done=step,
                train_loss=train_loss,
                wall_time_s=time.perf_counter() - start,
                samples_per_s=row["samples_per_s"],
                **test,
            )
            if finished_epoch:
                epochs_done, batches_done = epoch, 0
                run_files.append_metrics(run_dir, row)
                logger.log(row, step=step)
            save_checkpoint()  # also mid-epoch at max_steps: resuming then finds nothing left to do
            log.info(
                "epoch %d/%d  step %d  train %.4f  test %.4f  %.0f samples/s",
                epoch, epochs, step, train_loss, test["test_loss"], row["samples_per_s"],
            )
            run_files.write_summary(run_dir, summary)
            if step >= max_steps:
                log.info("stopped at trainer.max_steps=%d after %d full epochs", step, summary["epochs_done"])
                break
        status = "preempted" if preemption.requested else "finished"
        summary["status"] = status  # recorded before the figures: a kill while drawing them costs no training
        run_files.write_summary(run_dir, summary)
        # -- The paper's figures of the trained model into run_dir/figures/ and W&B; a failure only warns.
        if cfg.figures.after_training and status == "finished":
            figures_after_training(run_dir, model, data, cfg.run.name, cfg.figures, logger, step)
    finally:
        preemption.uninstall()
        summary["status"] = status
        summary["wall_time_s"] = time.perf_counter() - start
        summary["steps_done"] = step
        run_files.write_summary(run_dir, summary)
        logger.finish(exit_code=0 if status == "finished" else 1)
    if status == "preempted":
        log.warning("preempted at step %d; the same command continues from the checkpoint", step)
        preemption.hand_over()  # under submitit: its handler requeues the job and exits
    return summary


def discard_run_folder(run_dir: Path) -> None:
    """A run that failed before training leaves no folder behind (Hydra made it before we could check)."""
    if run_dir.is_dir() and not (run_dir / run_files.SUMMARY).exists() and not checkpoint.exists(run_dir):
        shutil.rmtree(run_dir, ignore_errors=True)


# An absolute config path keeps Hydra from looking for conf/ as a Python module.
@hydra.main(version_base="1.3", config_path=CONFIG_DIR, config_name="config")
def main(cfg: DictConfig) -> float | None:
    hydra_cfg = HydraConfig.get()
    run_dir = Path(hydra_cfg.runtime.output_dir)
    try:
        run_dir = resume.run_folder(cfg.trainer.resume, run_dir)  # trainer.resume=RUN_DIR writes there
        summary = train(cfg, run_dir)
    except (ConfigError, DataError, checkpoint.CheckpointError, FloatingPointError) as error:
        if not isinstance(error, FloatingPointError):
            discard_run_folder(run_dir)
        if hydra_cfg.mode == RunMode.MULTIRUN:
            raise  # let the launcher record this job as failed and go on with the sweep's other jobs
        print(f"uvb-train: error: {error}", file=sys.stderr)
        sys.exit(1 if isinstance(error, FloatingPointError) else 2)
    if summary["status"] == "preempted":  # checkpoint saved; the same command continues
        sys.exit(PREEMPTED_EXIT_CODE)
    return summary.get("test_loss")


if __name__ == "__main__":
    main()
