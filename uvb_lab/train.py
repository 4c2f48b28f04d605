"""Train one energy model on one dataset at one sigma: what `uvb-train`'s job (uvb_lab/launch/job.py) calls.

The edge between the config and the training (uvb_lab/training/): build everything from cfg (training/build.py), so
that a bad value fails before any file is written; continue the checkpoint if there is one; record the run folder
(identity, config, Hydra's record); start the tracker; then the loop on plain values (training/loop.py). What a
checkpoint holds is uvb_lab/run/state.py; the run folder's files are uvb_lab/run/files.py and folder.py.
"""

import logging
from pathlib import Path
from typing import Any

from omegaconf import DictConfig, OmegaConf

from uvb_lab.run import checkpoint
from uvb_lab.run import files as run_files
from uvb_lab.run import folder as run_folder
from uvb_lab.run import identity as run_identity
from uvb_lab.run import summary as field
from uvb_lab.run.state import TrainState
from uvb_lab.run.summary import RunSummary
from uvb_lab.trackers import Tracker

# The builder and the loop, importable from here as before they had a package (launch/plan.py: build, load_data).
from uvb_lab.training.build import Parts, build, build_parts, load_data
from uvb_lab.training.loop import run_training
from uvb_lab.training.scores import first_summary
from uvb_lab.training_stream import TrainingStream

__all__ = ["Parts", "build", "build_parts", "first_summary", "load_data", "train"]

log = logging.getLogger(__name__)


def train(cfg: DictConfig, run_dir: Path, hydra_record: DictConfig | None = None, job_num: int | None = None) -> dict[str, Any]:
    """Run the training described by cfg in run_dir, continuing its checkpoint if there is one; returns the summary.

    The caller has decided that cfg may train there (uvb_lab/run/folder.py: start or continue). hydra_record: Hydra's
    settings of the launch, kept in the folder's .hydra/; job_num: the job's number in a sweep (which GPU it takes).
    """
    # -- Build everything, so that a bad value fails here, before any step or file of the run.
    parts = build_parts(cfg, job_num)
    settings = parts.settings
    stream = TrainingStream.seeded(settings.seed, parts.device)  # the data order and the training noise
    state = TrainState(parts.device, stream, summary=RunSummary(first_summary(parts, stream)))
    log.info(
        "%s: %s parameters, %d train%s / %d test images on %s in %s", settings.name, f"{state.summary[field.NUM_PARAMS]:,}", len(parts.x_train),
        "" if parts.x_val is None else f" / {len(parts.x_val)} validation", len(parts.x_test), parts.device,
        parts.precision if parts.precision == settings.requested_precision else f"{parts.precision} (trainer.precision={settings.requested_precision})",
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
    logger: Tracker = parts.make_logger(run_dir=run_dir, name=settings.name, config=OmegaConf.to_container(cfg, resolve=True),
                                        run_id=state.wandb_run_id, copies=frozenset(run_identity.copies(cfg)))
    return run_training(parts, state, run_dir, logger, loaded_from)
