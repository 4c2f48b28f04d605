"""Train one energy model on one dataset at one sigma: the loop that `uvb-train`'s job (uvb_lab/launch/job.py) runs.

The loop is plain PyTorch and reads top to bottom: build, restore, then pass after pass over the training
set, each ending in an evaluation and a checkpoint. What a checkpoint holds is uvb_lab/run/state.py; where
the numbers go is uvb_lab/run/recorder.py; the run folder's files are uvb_lab/run/files.py and folder.py. The
randomness comes from two streams (uvb_lab/training_stream.py): the data order and the training noise from one seeded
by trainer.seed alone, the same for every model; the model's init and z draws from the global generator.
"""

import json
import logging
import math
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from hydra.errors import InstantiationException
from hydra.utils import instantiate
from omegaconf import DictConfig, OmegaConf
from tqdm import tqdm

from uvb_lab.config import ConfigError, check_values
from uvb_lab.data import DataError, ImageData
from uvb_lab.empirical_prior import empirical_prior_loss
from uvb_lab.evaluate import evaluate_checked
from uvb_lab.figures.after_training import figures_of_finished_run
from uvb_lab.linear_baseline import linear_risk
from uvb_lab.loss import Loss, training_loss
from uvb_lab.lr_schedule import learning_rate, set_learning_rate
from uvb_lab.models.score import ScoreModel
from uvb_lab.paired_noise import noise_fingerprint
from uvb_lab.run import checkpoint, devices
from uvb_lab.run import files as run_files
from uvb_lab.run import folder as run_folder
from uvb_lab.run import identity as run_identity
from uvb_lab.run import summary as field
from uvb_lab.run.files import RunStatus
from uvb_lab.run.nonfinite import NonFinitePolicy
from uvb_lab.run.preemption import Preemption
from uvb_lab.run.provenance import provenance
from uvb_lab.run.state import TrainState
from uvb_lab.run.summary import RunSummary
from uvb_lab.trackers import Tracker
from uvb_lab.train_step import PRECISIONS, TrainStep, adam, make_train_step, resolve_precision
from uvb_lab.training.recorder import Recorder
from uvb_lab.training_stream import TrainingStream

log = logging.getLogger(__name__)

# Steps between two updates of the progress bar's loss: each reads a number from the device (a GPU wait).
PROGRESS_BAR_EVERY_STEPS = 25
# Fresh pairs of the Monte Carlo Bayes risk of data with a known distribution: a standard error near 1e-3 relative.
BAYES_RISK_SAMPLES = 100_000


def build(name: str, node: DictConfig) -> Any:
    """instantiate(), with the constructor's own complaint as the error instead of Hydra's wrapper."""
    try:
        return instantiate(node)
    except InstantiationException as error:
        cause = error.__cause__ or error
        if isinstance(cause, DataError):
            raise cause  # noqa: B904 - the data's own error, with its own cause, as the loader raised it
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


@dataclass
class Parts:
    """What a config builds, all of it before the run folder is touched: a bad value fails here."""

    device: torch.device
    precision: str
    data: ImageData
    model: ScoreModel
    loss_fn: Loss
    optimizer: torch.optim.Optimizer
    train_step: TrainStep  # one optimizer update in the chosen precision (uvb_lab/train_step.py)
    make_logger: Callable[..., Tracker]  # the tracker, started once the run folder is there
    x_train: torch.Tensor
    x_test: torch.Tensor
    x_val: torch.Tensor | None


def build_parts(cfg: DictConfig, job_num: int | None = None) -> Parts:
    check_values(cfg)
    try:
        device = devices.resolve_device(cfg.trainer.device, job_num)
    except devices.DeviceError as error:
        raise ConfigError(str(error)) from error
    # The model's stream: its init here and its z draws in training, from the global generator seeded by trainer.seed
    # itself (the data order and the training noise have a stream of their own: uvb_lab/training_stream.py).
    torch.manual_seed(cfg.trainer.seed)
    data = load_data(cfg.data)
    model = build("model", cfg.model).to(device)
    loss_fn = build("loss", cfg.loss)
    make_logger = build("logger", cfg.logger)
    optimizer = adam(model.parameters(), lr=cfg.trainer.lr, device=device)  # fused on CUDA
    precision = resolve_precision(cfg.trainer.precision, device)  # auto: bf16 on CPUs with native bf16, tf32 on CUDA
    try:
        # The step minimises the training loss (loss.target=posterior_mean: against E[x|y]); evaluation's loss_fn is against x.
        train_step = make_train_step(model, training_loss(loss_fn, model, data), optimizer, precision, cfg.trainer.compile,
                                     skip_nonfinite=cfg.trainer.skip_nonfinite,
                                     grad_clip=cfg.trainer.grad_clip)
    except ValueError as error:
        raise ConfigError(str(error)) from error
    x_val = data.validation.to(device) if data.validation is not None else None
    return Parts(device, precision, data, model, loss_fn, optimizer, train_step, make_logger, data.train.to(device), data.test.to(device), x_val)


def first_summary(cfg: DictConfig, parts: Parts, stream: TrainingStream) -> dict[str, Any]:
    """summary.json of a run about to start: what it is, no progress yet, which batches it trains on (stream: its
    training stream, not yet drawn from) and what it will be compared with."""
    return {
        **field.start(
            status=RunStatus.RUNNING.value,  # plain strings: the checkpoint holds the summary (weights_only loads)
            model=cfg.run.model,
            dataset=cfg.run.data,
            sigma=float(cfg.sigma),
            decoder=parts.model.likelihood.name if parts.model.has_decoder else None,
            num_params=sum(p.numel() for p in parts.model.parameters()),
            epochs=int(cfg.trainer.epochs),
        ),
        field.TRAIN_STREAM_FINGERPRINT: stream.fingerprint(len(parts.x_train), int(cfg.trainer.batch_size), tuple(parts.x_train.shape[1:]), parts.device),
        **bayes_risk_monte_carlo(parts.data, float(cfg.sigma)),
        **noise_fingerprints(parts, cfg),
        **linear_risks(parts, cfg),
        **empirical_prior_losses(parts, cfg),
        **provenance(parts.device, parts.precision),
    }


def evaluated_splits(parts: Parts, cfg: DictConfig) -> dict[str, torch.Tensor]:
    """The clean images of each split an evaluation scores, by split name: test (unless trainer.evaluate_test=false,
    as a search's trials run: the test set stays unseen until the chosen setting is scored), and val where one is held out."""
    test = {"test": parts.x_test} if cfg.trainer.evaluate_test else {}
    return test | ({"val": parts.x_val} if parts.x_val is not None else {})


def noise_fingerprints(parts: Parts, cfg: DictConfig) -> dict[str, str]:
    """test_noise_fingerprint (and val_...): which noisy images this run is scored on (uvb_lab/paired_noise.py)."""
    sigma, seed = float(cfg.sigma), int(cfg.trainer.eval_seed)
    return {field.for_split(split, field.TEST_NOISE_FINGERPRINT): noise_fingerprint(x, sigma, seed, split)
            for split, x in evaluated_splits(parts, cfg).items()}


def bayes_risk_monte_carlo(data: ImageData, sigma: float) -> dict[str, float]:
    """For data whose distribution is known: the Bayes risk at sigma by Monte Carlo (fresh pairs), with its standard
    error, beside the exact-denoiser risk on the test pairs that every evaluation records (test_bayes_risk)."""
    if data.ground_truth is None:
        return {}
    mean, standard_error = data.ground_truth.bayes_risk_monte_carlo(sigma, n=BAYES_RISK_SAMPLES, seed=0)
    return {field.BAYES_RISK_MONTE_CARLO: mean, field.BAYES_RISK_MONTE_CARLO_SE: standard_error}


def linear_risks(parts: Parts, cfg: DictConfig) -> dict[str, float]:
    """test_linear_risk (and val_...): the best linear denoiser of the training set on the same noisy images as the
    model (uvb_lab/linear_baseline.py), the row every report table shows beside the models."""
    sigma, seed, cache = float(cfg.sigma), int(cfg.trainer.eval_seed), cfg.figures.cache_dir
    return {field.for_split(split, field.TEST_LINEAR_RISK): linear_risk(parts.x_train, x, sigma, seed, split, cache)
            for split, x in evaluated_splits(parts, cfg).items()}


def empirical_prior_losses(parts: Parts, cfg: DictConfig) -> dict[str, float]:
    """test_empirical_prior_loss (and val_...): the Bayes denoiser whose prior is the training images the model trains
    on, on the same noisy images as the model (uvb_lab/empirical_prior.py), the report's "training-set prior" row."""
    sigma, seed, cache = float(cfg.sigma), int(cfg.trainer.eval_seed), cfg.figures.cache_dir
    return {field.for_split(split, field.TEST_EMPIRICAL_PRIOR_LOSS): empirical_prior_loss(parts.x_train, x, sigma, seed, split, cache)
            for split, x in evaluated_splits(parts, cfg).items()}


def evaluate_splits(parts: Parts, cfg: DictConfig) -> dict[str, float]:
    """test_loss, ... (uvb_lab/evaluate.py); also val_loss, ... where data.val_fraction holds out a validation split."""
    seed, batch_size, truth = cfg.trainer.eval_seed, cfg.trainer.eval_batch_size, parts.data.ground_truth
    numbers, autocast_dtype = {}, PRECISIONS[parts.precision].autocast_dtype  # the training's precision, where it agrees
    for split, x in evaluated_splits(parts, cfg).items():
        numbers |= evaluate_checked(parts.model, parts.loss_fn, x, seed, batch_size, split, truth, autocast_dtype)
    return numbers


class Checkpointer:
    """Saves model, Adam, RNGs and the TrainState, after checking the steps since the last save were finite; after a
    write that failed, puts the run's files back to the last checkpoint."""

    def __init__(self, run_dir: Path, parts: Parts, nonfinite: NonFinitePolicy, recorder: Recorder, loaded_from: Path | None):
        self.run_dir, self.parts, self.nonfinite, self.recorder = run_dir, parts, nonfinite, recorder
        # A damaged last.pt is overwritten, never rotated into previous.pt (which is then the only good one).
        self.rotate = loaded_from is None or loaded_from == run_dir / checkpoint.LAST
        # Where the same command would continue from: the checkpoint's step and summary (at the start: step 0).
        self.kept_step, self.kept_summary = recorder.state.step, recorder.state.summary.as_dict()

    def save(self, state: TrainState) -> None:
        self.nonfinite.stop_if_seen(state.step)  # keep the last good checkpoint: a NaN model is not worth continuing
        state.summary.update({field.STEPS_DONE: state.step, field.WALL_TIME_S: self.recorder.wall_time()})
        state.wandb_run_id = getattr(self.recorder.logger, "run_id", None)
        checkpoint.save(self.run_dir, checkpoint.contents(self.parts.model, self.parts.optimizer, state), rotate=self.rotate)
        self.rotate = True
        self.kept_step, self.kept_summary = state.step, state.summary.as_dict()

    def back_to_last_checkpoint(self, state: TrainState) -> None:
        """After a file could not be written (a full disk): metrics.jsonl cut back to the last checkpoint's step (in
        place, needing no space) and the summary as it was then, status failed. The same command continues from there
        as from any checkpoint; a run that never wrote one leaves no row past step 0, so it starts again
        (uvb_lab/run/folder.py)."""
        run_files.truncate_metrics(self.run_dir, self.kept_step)
        state.summary.reset_to(self.kept_summary)
        self.recorder.summary({field.STATUS: RunStatus.FAILED.value})


@dataclass(frozen=True)
class Schedule:
    """Every how many steps something happens inside a pass (math.inf: never), and the rate of each step."""

    max_steps: float
    log_every: float  # a training-curve row
    eval_every: float  # an evaluation besides the pass's own
    checkpoint_every: float  # a checkpoint besides the pass's own
    progress: bool  # a progress bar
    lr: float  # Adam's rate, before the decay and the warm-up
    lr_half_life: float | None  # steps in which the rate halves (None: constant, Sec. 3.1)
    warmup_steps: int  # steps of the rate's linear warm-up (0: none)

    @classmethod
    def of(cls, trainer: DictConfig, batches_per_epoch: int) -> "Schedule":
        max_steps = math.inf if trainer.max_steps is None else int(trainer.max_steps)  # 0 is a cap: build and evaluate only
        every = (trainer.log_every_steps, trainer.eval_every_steps, trainer.checkpoint_every_steps)  # null: never
        half_life = None if trainer.lr_half_life_epochs is None else float(trainer.lr_half_life_epochs) * batches_per_epoch
        return cls(max_steps, *(value or math.inf for value in every), bool(trainer.progress), float(trainer.lr), half_life, int(trainer.warmup_steps))


@dataclass(frozen=True)
class PassEnd:
    why: str  # epoch_end | max_steps: the pass is evaluated and checkpointed | stopped: a preemption did both already
    samples: int  # training images this process saw in the pass
    seconds: float


def train_one_pass(
    parts: Parts, cfg: DictConfig, state: TrainState, schedule: Schedule, recorder: Recorder,
    checkpointer: Checkpointer, preemption: Preemption, description: str,
) -> PassEnd:
    """Train from where state is to the end of the epoch, to max_steps, or until a preemption; say how it ended."""
    parts.model.train()
    sigma, batch_size = float(cfg.sigma), int(cfg.trainer.batch_size)
    batches_per_epoch = math.ceil(len(parts.x_train) / batch_size)
    start = window_start = time.perf_counter()
    samples = window_samples = 0
    state.start_epoch(len(parts.x_train))
    # A bar only on a terminal: in a log file (SLURM, nohup) each of its redraws would be a line of \r updates.
    shown = schedule.progress and sys.stderr.isatty()
    bar = tqdm(state.order.split(batch_size)[state.batches_done:], desc=description, leave=False, disable=not shown, dynamic_ncols=True)
    try:
        for indices in bar:
            # -- One step: the batch's noise from the training stream, loss, backward, the gradient clipped (if asked)
            # and Adam at this step's rate, in trainer.precision.
            set_learning_rate(parts.optimizer, learning_rate(state.step, schedule.lr, schedule.lr_half_life, schedule.warmup_steps))
            x = parts.x_train[indices]
            y = x + sigma * state.stream.noise(x.shape, x.device)
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
            if state.step >= schedule.max_steps or state.batches_done == batches_per_epoch:
                why = "epoch_end" if state.batches_done == batches_per_epoch else "max_steps"
                return PassEnd(why, samples, time.perf_counter() - start)
            # -- Inside the pass: an evaluation every eval_every steps; a preemption evaluates, checkpoints and stops.
            if state.step % schedule.eval_every == 0 or preemption.requested:
                checkpointer.nonfinite.stop_if_seen(state.step)
                recorder.evaluation(preemption.reason.value if preemption.requested else "eval_every_steps", evaluate_splits(parts, cfg))
                recorder.summary()
            if state.step % schedule.checkpoint_every == 0 or preemption.requested:
                checkpointer.save(state)
            if preemption.requested:
                return PassEnd("stopped", samples, time.perf_counter() - start)
    finally:
        bar.close()
    raise AssertionError("a pass ends at the epoch's last batch")  # unreachable: the last batch returns above


def end_pass(parts: Parts, cfg: DictConfig, state: TrainState, end: PassEnd, epoch: int, recorder: Recorder, checkpointer: Checkpointer) -> None:
    """A pass that reached its epoch's end or max_steps: evaluate, record, checkpoint, log."""
    checkpointer.nonfinite.stop_if_seen(state.step)
    train_loss = state.epoch_loss()  # nan: every step skipped
    samples_per_s = end.samples / end.seconds
    recorder.evaluation(end.why, evaluate_splits(parts, cfg), train_loss=train_loss, samples_per_s=samples_per_s, epoch_time_s=end.seconds)
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


def train(cfg: DictConfig, run_dir: Path, hydra_record: DictConfig | None = None, job_num: int | None = None) -> dict[str, Any]:
    """Run the training described by cfg in run_dir, continuing its checkpoint if there is one; returns the summary.

    The caller has decided that cfg may train there (uvb_lab/run/folder.py: start or continue). hydra_record: Hydra's
    settings of the launch, kept in the folder's .hydra/; job_num: the job's number in a sweep (which GPU it takes).
    """
    # -- Build everything, so that a bad value fails here, before any step or file of the run.
    parts = build_parts(cfg, job_num)
    stream = TrainingStream.seeded(cfg.trainer.seed, parts.device)  # the data order and the training noise
    state = TrainState(parts.device, stream, summary=RunSummary(first_summary(cfg, parts, stream)))
    log.info(
        "%s: %s parameters, %d train%s / %d test images on %s in %s", cfg.run.name, f"{state.summary[field.NUM_PARAMS]:,}", len(parts.x_train),
        "" if parts.x_val is None else f" / {len(parts.x_val)} validation", len(parts.x_test), parts.device,
        parts.precision if parts.precision == cfg.trainer.precision else f"{parts.precision} (trainer.precision={cfg.trainer.precision})",
    )

    # -- Continue exactly where the last checkpoint stopped: weights, Adam, every RNG, the TrainState and its stream.
    saved, loaded_from = checkpoint.load_newest(run_dir) if checkpoint.exists(run_dir) else (None, None)  # on the CPU
    if saved is not None:
        checkpoint.restore(saved, parts.model, parts.optimizer, state, run_dir)

    # -- Every check passed: the first write into the run folder (identity, config, Hydra's record, log).
    run_folder.record(run_dir, cfg, hydra_record)
    if saved is not None:
        log.info("resuming %s at step %d (epoch %d, batch %d)", run_dir, state.step, state.epochs_done + 1, state.batches_done)
        if not state.stream.own:
            log.info("its checkpoint predates the training stream: its data order and noise come from the global generator, "
                     "as when it started (uvb_lab/training_stream.py); it has no %s", field.TRAIN_STREAM_FINGERPRINT)
    run_files.truncate_metrics(run_dir, state.step)  # rows past the checkpoint are rewritten, not repeated
    logger: Tracker = parts.make_logger(run_dir=run_dir, name=cfg.run.name, config=OmegaConf.to_container(cfg, resolve=True),
                                        run_id=state.wandb_run_id, copies=frozenset(run_identity.copies(cfg)))
    batches_per_epoch = math.ceil(len(parts.x_train) / cfg.trainer.batch_size)
    recorder = Recorder(run_dir, logger, state, batches_per_epoch)
    checkpointer = Checkpointer(run_dir, parts, NonFinitePolicy(cfg.trainer.skip_nonfinite, run_dir, parts.device), recorder, loaded_from)
    schedule, epochs = Schedule.of(cfg.trainer, batches_per_epoch), int(cfg.trainer.epochs)

    # -- Pass after pass; SIGTERM etc. (preemption) and Ctrl-C finish the step, checkpoint and stop.
    status, unwritten = RunStatus.FAILED, False
    recorder.summary()
    try:
        with Preemption(cfg.trainer.preemption_signals) as preemption:
            if epochs == 0:  # build and evaluate only: the untrained model's numbers
                recorder.evaluation("untrained", evaluate_splits(parts, cfg))
                checkpointer.save(state)
            for epoch in range(state.epochs_done + 1, epochs + 1):
                if state.step >= schedule.max_steps or preemption.requested:
                    break
                end = train_one_pass(parts, cfg, state, schedule, recorder, checkpointer, preemption, f"epoch {epoch}/{epochs}")
                if end.why == "stopped":
                    break
                end_pass(parts, cfg, state, end, epoch, recorder, checkpointer)
                if state.step >= schedule.max_steps:
                    log.info("stopped at trainer.max_steps=%d after %d full epochs", state.step, state.summary[field.EPOCHS_DONE])
                    break
            status = preemption.reason if preemption.requested else RunStatus.FINISHED
        unscored = [key for key in (field.TEST_LOSS, field.VAL_LOSS) if isinstance(state.summary.get(key), float) and not math.isfinite(state.summary[key])]
        if status == RunStatus.FINISHED and unscored:  # skip_nonfinite kept it going, but its model does not denoise
            status = RunStatus.UNSCORED
        recorder.summary({field.STATUS: status.value})  # before the figures: a kill while drawing them costs no training

        # -- The paper's figures of the trained model into run_dir/figures/ and the tracker; a failure only warns.
        if cfg.figures.after_training and status == RunStatus.FINISHED:
            figures_of_finished_run(run_dir, parts.model, parts.data, cfg.run.name, cfg.figures, logger, state.summary)
        if status in (RunStatus.FINISHED, RunStatus.UNSCORED):
            checkpoint.prune(run_dir, cfg.trainer.keep_checkpoints)
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
                    "recorded as %s, with no score (trainer.skip_nonfinite=true skipped %d steps)", cfg.run.name, " and ".join(unscored),
                    status.value, state.summary[field.NONFINITE_STEPS_SKIPPED])
    if status == RunStatus.PREEMPTED:
        log.warning("preempted at step %d; the same command continues from the checkpoint", state.step)
        preemption.hand_over()  # under submitit: its handler requeues the job and exits
    if status == RunStatus.INTERRUPTED:
        log.warning("interrupted at step %d; the same command continues from the checkpoint", state.step)
    return state.summary.as_dict()
