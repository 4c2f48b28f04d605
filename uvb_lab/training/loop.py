"""The training loop: pass after pass over the training set, each ending in an evaluation and a checkpoint, on the
plain values uvb_lab/training/build.py made of the config (no Hydra, no OmegaConf here).

It reads top to bottom: run_training (the passes, then the run's status, figures and pruning), train_one_pass (the
steps of one pass), end_pass (its evaluation and checkpoint). The caller (uvb_lab/train.py) has built the parts,
restored the checkpoint into the TrainState and recorded the run folder. The randomness comes from two streams
(uvb_lab/training_stream.py): the data order and the training noise from one seeded by trainer.seed alone, the same
for every model; the model's init and z draws from the global generator.
"""

import logging
import math
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tqdm import tqdm

from uvb_lab.figures.after_training import figures_of_finished_run
from uvb_lab.run import checkpoint
from uvb_lab.run import files as run_files
from uvb_lab.run import summary as field
from uvb_lab.run.files import RunStatus
from uvb_lab.run.preemption import Preemption
from uvb_lab.run.state import TrainState
from uvb_lab.trackers import Tracker
from uvb_lab.training.build import Parts
from uvb_lab.training.checkpointer import Checkpointer
from uvb_lab.training.lr_schedule import learning_rate, set_learning_rate
from uvb_lab.training.nonfinite import NonFinitePolicy
from uvb_lab.training.recorder import Recorder
from uvb_lab.training.scores import evaluate_splits

log = logging.getLogger(__name__)

# Steps between two updates of the progress bar's loss: each reads a number from the device (a GPU wait).
PROGRESS_BAR_EVERY_STEPS = 25


@dataclass(frozen=True)
class PassEnd:
    why: str  # epoch_end | max_steps: the pass is evaluated and checkpointed | stopped: a preemption did both already
    samples: int  # training images this process saw in the pass
    seconds: float


def run_training(parts: Parts, state: TrainState, run_dir: Path, logger: Tracker, loaded_from: Path | None) -> dict[str, Any]:
    """Train from where state is to trainer.epochs (or max_steps, or a preemption) in run_dir; returns the summary.

    loaded_from: the checkpoint state was restored from (None: a fresh start). The logger is finished on the way out.
    """
    settings, schedule = parts.settings, parts.settings.schedule
    recorder = Recorder(run_dir, logger, state, settings.batches_per_epoch)
    checkpointer = Checkpointer(run_dir, parts, NonFinitePolicy(settings.skip_nonfinite, run_dir, parts.device), recorder, loaded_from)

    # -- Pass after pass; SIGTERM etc. (preemption) and Ctrl-C finish the step, checkpoint and stop.
    status, unwritten, unscored = RunStatus.FAILED, False, []
    recorder.summary()
    try:
        with Preemption(settings.preemption_signals) as preemption:
            if settings.epochs == 0:  # build and evaluate only: the untrained model's numbers
                recorder.evaluation("untrained", evaluate_splits(parts))
                checkpointer.save(state)
            for epoch in range(state.epochs_done + 1, settings.epochs + 1):
                if state.step >= schedule.max_steps or preemption.requested:
                    break
                end = train_one_pass(parts, state, recorder, checkpointer, preemption, f"epoch {epoch}/{settings.epochs}")
                if end.why == "stopped":
                    break
                end_pass(parts, state, end, epoch, recorder, checkpointer)
                if state.step >= schedule.max_steps:
                    log.info("stopped at trainer.max_steps=%d after %d full epochs", state.step, state.summary[field.EPOCHS_DONE])
                    break
            status = preemption.reason if preemption.requested else RunStatus.FINISHED
        unscored = [key for key in (field.TEST_LOSS, field.VAL_LOSS) if isinstance(state.summary.get(key), float) and not math.isfinite(state.summary[key])]
        if status == RunStatus.FINISHED and unscored:  # skip_nonfinite kept it going, but its model does not denoise
            status = RunStatus.UNSCORED
        recorder.summary({field.STATUS: status.value})  # before the figures: a kill while drawing them costs no training

        # -- The paper's figures of the trained model into run_dir/figures/ and the tracker; a failure only warns.
        if settings.figures_after_training and status == RunStatus.FINISHED:
            figures_of_finished_run(run_dir, parts.model, parts.data, settings.name, settings.figures, logger, state.summary)
        if status in (RunStatus.FINISHED, RunStatus.UNSCORED):
            checkpoint.prune(run_dir, settings.keep_checkpoints)
    except KeyboardInterrupt:  # a second Ctrl-C: stop at once, with the last checkpoint saved
        status = RunStatus.INTERRUPTED
        raise
    except OSError:  # a file it could not write (a full disk, a read-only mount) while training: its files go back to the
        unwritten = status == RunStatus.FAILED  # last checkpoint; after training (the summary, pruning), they are complete
        raise
    finally:
        try:
            if unwritten:
                checkpointer.back_to_last_checkpoint(state)
            else:
                recorder.summary({field.STATUS: status.value, field.WALL_TIME_S: recorder.wall_time(), field.STEPS_DONE: state.step})
        except OSError as error:  # e.g. the disk that stopped the run is still full: the error on its way out says so
            log.warning("could not update %s (%s)", run_files.SUMMARY, error)
        logger.finish(exit_code=0 if status == RunStatus.FINISHED else 1)
    if status == RunStatus.UNSCORED:
        log.warning("%s trained to its end, but its %s is not finite: the model it ended with is not usable, and the run is "
                    "recorded as %s, with no score (trainer.skip_nonfinite=true skipped %d steps)", settings.name, " and ".join(unscored),
                    status.value, state.summary[field.NONFINITE_STEPS_SKIPPED])
    if status == RunStatus.PREEMPTED:
        log.warning("preempted at step %d; the same command continues from the checkpoint", state.step)
        preemption.hand_over()  # under submitit: its handler requeues the job and exits
    if status == RunStatus.INTERRUPTED:
        log.warning("interrupted at step %d; the same command continues from the checkpoint", state.step)
    return state.summary.as_dict()


def train_one_pass(parts: Parts, state: TrainState, recorder: Recorder, checkpointer: Checkpointer, preemption: Preemption,
                   description: str) -> PassEnd:
    """Train from where state is to the end of the epoch, to max_steps, or until a preemption; say how it ended."""
    parts.model.train()
    settings, schedule = parts.settings, parts.settings.schedule
    start = window_start = time.perf_counter()
    samples = window_samples = 0
    state.start_epoch(len(parts.x_train))
    # A bar only on a terminal: in a log file (SLURM, nohup) each of its redraws would be a line of \r updates.
    shown = schedule.progress and sys.stderr.isatty()
    bar = tqdm(state.order.split(settings.batch_size)[state.batches_done:], desc=description, leave=False, disable=not shown, dynamic_ncols=True)
    try:
        for indices in bar:
            # -- One step: the batch's noise from the training stream, loss, backward, the gradient clipped (if asked)
            # and Adam at this step's rate, in trainer.precision.
            set_learning_rate(parts.optimizer, learning_rate(state.step, schedule.lr, schedule.lr_half_life, schedule.warmup_steps))
            x = parts.x_train[indices]
            y = x + settings.sigma * state.stream.noise(x.shape, x.device)
            loss, finite = parts.train_step(x, y)
            if checkpointer.nonfinite.counts(finite, state.step + 1):
                state.add_loss(loss)
            else:
                state.summary.count(field.NONFINITE_STEPS_SKIPPED)
            state.batches_done += 1
            state.step += 1
            samples += len(indices)
            window_samples += len(indices)
            if shown and state.batches_done % PROGRESS_BAR_EVERY_STEPS == 0:  # .item(): a GPU wait, only if shown
                bar.set_postfix(loss=f"{state.loss_sum.item() / max(state.losses_summed, 1):.4g}")
            # -- The training curve: the mean loss of the last log_every steps.
            if state.step % schedule.log_every == 0:
                now = time.perf_counter()
                recorder.curve(window_samples, now - window_start, parts.optimizer.param_groups[0]["lr"])
                window_start, window_samples = now, 0
                # The row just read the loss off the device: reading the flag too costs no extra wait, and a diverged
                # run stops here instead of training to the epoch's end on NaN.
                checkpointer.nonfinite.stop_if_seen(state.step)
            # -- The pass ends here: its evaluation and checkpoint are the caller's.
            if state.step >= schedule.max_steps or state.batches_done == settings.batches_per_epoch:
                why = "epoch_end" if state.batches_done == settings.batches_per_epoch else "max_steps"
                return PassEnd(why, samples, time.perf_counter() - start)
            # -- Inside the pass: an evaluation every eval_every steps; a preemption evaluates, checkpoints and stops.
            if state.step % schedule.eval_every == 0 or preemption.requested:
                checkpointer.nonfinite.stop_if_seen(state.step)
                recorder.evaluation(preemption.reason.value if preemption.requested else "eval_every_steps", evaluate_splits(parts))
                recorder.summary()
            if state.step % schedule.checkpoint_every == 0 or preemption.requested:
                checkpointer.save(state)
            if preemption.requested:
                return PassEnd("stopped", samples, time.perf_counter() - start)
    finally:
        bar.close()
    raise AssertionError("a pass ends at the epoch's last batch")  # unreachable: the last batch returns above


def end_pass(parts: Parts, state: TrainState, end: PassEnd, epoch: int, recorder: Recorder, checkpointer: Checkpointer) -> None:
    """A pass that reached its epoch's end or max_steps: evaluate, record, checkpoint, log."""
    checkpointer.nonfinite.stop_if_seen(state.step)
    train_loss = state.epoch_loss()  # nan: every step skipped
    samples_per_s = end.samples / end.seconds
    recorder.evaluation(end.why, evaluate_splits(parts), train_loss=train_loss, samples_per_s=samples_per_s, epoch_time_s=end.seconds)
    finished_epoch = end.why == "epoch_end"
    epochs_done = epoch if finished_epoch else epoch - 1
    state.summary.update({field.EPOCHS_DONE: epochs_done, field.TRAIN_LOSS: train_loss, field.SAMPLES_PER_S: samples_per_s})
    if finished_epoch:
        state.epochs_done, state.batches_done = epoch, 0
    checkpointer.save(state)  # also mid-epoch at max_steps: resuming then finds nothing left to do
    summary = state.summary
    losses = (("val", field.VAL_LOSS), ("test", field.TEST_LOSS))
    scores = "".join(f"  {split} {summary[key]:.4f}" for split, key in losses if summary.get(key) is not None)
    log.info("epoch %d/%d  step %d  train %.4f%s  %.0f samples/s", epoch, summary[field.EPOCHS], state.step, train_loss, scores, samples_per_s)
    recorder.summary()
