"""Checkpoints: everything a run needs to continue exactly where it stopped, and nothing that runs code. The one
place that says what a checkpoint holds (`KEYS`, `contents`, `restore`); older formats are upgraded as they are read
(uvb_lab/run/legacy.py).

    checkpoints/last.pt      the latest state
    checkpoints/previous.pt  the one before, kept in case last.pt turns out unreadable

A state holds the model, the optimizer (Adam's moments and step counts), every random generator the run
draws from: the global ones (torch CPU and CUDA, numpy, python: the model's init and z draws) under `rng`, and the
training stream's (the data order and the training noise, uvb_lab/training_stream.py) in the run's TrainState
(uvb_lab/run/state.py: also the position in the training set, the loss accumulators, the summary so far and the W&B
run id). With all of it restored, a resumed run on the CPU ends with the same numbers, to the last digit, as one
that was never stopped. A checkpoint from before the training stream (run-folder format <= 3) has none: its run
goes on drawing the data order and noise from the global generator, as it started (uvb_lab/run/legacy.py).

Writes are atomic (temporary file, fsync, rename), so a kill or a full disk at any moment leaves the previous
checkpoint whole and no partial file; a write that fails is an OSError naming the file, whatever torch raised; loads use torch.load(weights_only=True): tensors and plain values only, never pickled code.
"""

import errno
import logging
import os
import random
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np
import torch

from uvb_lab.run import legacy
from uvb_lab.run.state import SUMMARY_KEY, TrainState
from uvb_lab.training_stream import TrainingStream

log = logging.getLogger(__name__)

FOLDER = "checkpoints"
LAST = Path(FOLDER) / "last.pt"
PREVIOUS = Path(FOLDER) / "previous.pt"

# What a checkpoint holds: the model's weights, Adam's state, the global generators' states, then the TrainState's keys
# (the training stream's generator among them).
MODEL, OPTIMIZER, RNG = "model", "optimizer", "rng"
KEYS = (MODEL, OPTIMIZER, RNG, *TrainState(torch.device("cpu"), TrainingStream(None)).state_dict())


class CheckpointError(ValueError):
    """No readable checkpoint where one was asked for."""


def contents(model: torch.nn.Module, optimizer: torch.optim.Optimizer, state: TrainState) -> dict[str, Any]:
    """What a checkpoint of this moment holds (KEYS)."""
    return {MODEL: model.state_dict(), OPTIMIZER: optimizer.state_dict(), RNG: rng_state(), **state.state_dict()}


def restore(saved: Mapping[str, Any], model: torch.nn.Module, optimizer: torch.optim.Optimizer, state: TrainState, where: Path) -> None:
    """Put a checkpoint's contents back: weights, Adam, every generator and the TrainState (with the training stream);
    CheckpointError where the weights do not fit the model (where: the run folder, for the message)."""
    try:
        model.load_state_dict(weights(saved))
    except RuntimeError as error:
        raise CheckpointError(f"the checkpoint in {where} does not fit this model ({error})") from error
    optimizer.load_state_dict(saved[OPTIMIZER])
    set_rng_state(saved[RNG])
    state.load_state_dict(saved)


def weights(saved: Mapping[str, Any]) -> dict[str, torch.Tensor]:
    """The model's state_dict."""
    return saved[MODEL]


def summary(saved: Mapping[str, Any]) -> dict[str, Any]:
    """The run's summary as it was when the checkpoint was written."""
    return dict(saved[SUMMARY_KEY])


def learning_rate(saved: Mapping[str, Any]) -> float | None:
    """Adam's rate at the checkpoint's last step."""
    return saved[OPTIMIZER]["param_groups"][0].get("lr")


def rng_state() -> dict[str, Any]:
    """The state of every generator training draws from, as tensors, lists and numbers (weights_only-safe)."""
    kind, keys, pos, has_gauss, cached_gaussian = np.random.get_state()
    return {
        "torch": torch.get_rng_state(),
        "cuda": torch.cuda.get_rng_state_all() if torch.cuda.is_available() else [],
        "numpy": [kind, torch.from_numpy(keys.astype(np.int64)), pos, has_gauss, cached_gaussian],
        "python": random.getstate(),
    }


def set_rng_state(state: Mapping[str, Any]) -> None:
    # Generator states are CPU byte tensors whatever device the training runs on: torch refuses others.
    torch.set_rng_state(state["torch"].cpu())
    if state["cuda"] and torch.cuda.is_available():
        if len(state["cuda"]) != torch.cuda.device_count():
            log.warning("the checkpoint saw %d GPUs, this machine has %d: CUDA draws will differ", len(state["cuda"]), torch.cuda.device_count())
        torch.cuda.set_rng_state_all([s.cpu() for s in state["cuda"][: torch.cuda.device_count()]])
    kind, keys, pos, has_gauss, cached_gaussian = state["numpy"]
    np.random.set_state((kind, keys.cpu().numpy().astype(np.uint32), pos, has_gauss, cached_gaussian))
    random.setstate(state["python"])


def exists(run_dir: Path) -> bool:
    return (Path(run_dir) / LAST).is_file() or (Path(run_dir) / PREVIOUS).is_file()


def _fsync_write(path: Path, state: Mapping[str, Any]) -> None:
    with open(path, "wb") as f:
        torch.save(dict(state), f)
        f.flush()
        os.fsync(f.fileno())  # on disk before the rename below makes it the checkpoint


def write_failure(error: BaseException, path: Path) -> OSError | None:
    """The OSError behind a failed write of path, or None where error is no write's failure.

    torch's zip writer reports a short write (ENOSPC, EDQUOT, EIO) as "RuntimeError: ... unexpected pos N vs M", with
    the OSError only in the exception's context.
    """
    seen = error
    while seen is not None:
        if isinstance(seen, OSError):
            return OSError(seen.errno, seen.strerror or str(seen), str(path))
        seen = seen.__cause__ or seen.__context__
    if isinstance(error, RuntimeError) and "unexpected pos" in str(error):
        return OSError(errno.EIO, f"the write was cut short ({str(error).splitlines()[0]})", str(path))
    return None


def save(run_dir: Path, state: Mapping[str, Any], rotate: bool = True) -> Path:
    """Write state as last.pt; the former last.pt becomes previous.pt. A kill at any point leaves one whole file.

    rotate=False overwrites last.pt and keeps previous.pt: for a last.pt found damaged, which must not
    push the one good checkpoint out.
    """
    last, previous = Path(run_dir) / LAST, Path(run_dir) / PREVIOUS
    last.parent.mkdir(parents=True, exist_ok=True)
    tmp = last.with_name(f".{last.name}.{os.getpid()}.tmp")  # per process: never another job's half-written file
    try:
        _fsync_write(tmp, state)
    except BaseException as error:  # a full disk, a kill: the half-written file goes, last.pt and previous.pt stay as they were
        tmp.unlink(missing_ok=True)
        if isinstance(error, Exception) and (failure := write_failure(error, last)):
            raise failure from error
        raise
    if rotate and last.is_file():
        os.replace(last, previous)
    os.replace(tmp, last)
    directory = os.open(last.parent, os.O_RDONLY)
    try:
        os.fsync(directory)  # the renames themselves survive a power cut
    finally:
        os.close(directory)
    return last


def read(path: Path, map_location: str | torch.device = "cpu") -> dict[str, Any]:
    """One checkpoint file, checked; CheckpointError says what is wrong with it."""
    try:
        # weights_only: a checkpoint is tensors and plain values, never code to run.
        state = torch.load(path, map_location=map_location, weights_only=True)
    except Exception as error:  # noqa: BLE001 - truncation and corruption surface as many exception types
        raise CheckpointError(f"{path} is not a readable checkpoint ({type(error).__name__}: {str(error).splitlines()[0] if str(error) else error!r})") from error
    if not isinstance(state, Mapping):
        raise CheckpointError(f"{path} is not a checkpoint this version can continue (not a mapping)")
    state = legacy.upgrade_checkpoint(state)
    missing = [key for key in KEYS if key not in state]
    if missing:
        raise CheckpointError(f"{path} is not a checkpoint this version can continue (missing {', '.join(missing)})")
    return state


def load(run_dir: Path, map_location: str | torch.device = "cpu") -> dict[str, Any]:
    """The newest readable checkpoint of run_dir: last.pt, else previous.pt with a warning, else CheckpointError."""
    return load_newest(run_dir, map_location)[0]


def load_newest(run_dir: Path, map_location: str | torch.device = "cpu") -> tuple[dict[str, Any], Path]:
    """load(), and the file it read."""
    problems = []
    for name in (LAST, PREVIOUS):
        path = Path(run_dir) / name
        if not path.is_file():
            problems.append(f"{path} does not exist")
            continue
        try:
            state = read(path, map_location)
        except CheckpointError as error:
            problems.append(str(error))
            continue
        if problems:
            log.warning("%s; continuing from %s (step %d) instead", "; ".join(problems), path, state["step"])
        return state, path
    raise CheckpointError(f"no usable checkpoint in {run_dir}: " + "; ".join(problems))


def prune(run_dir: Path, keep: str) -> None:
    """After a run finished, trainer.keep_checkpoints: both | last (drop previous.pt) | none (drop both)."""
    drop = {"both": (), "last": (PREVIOUS,), "none": (PREVIOUS, LAST)}[keep]
    for name in drop:
        (Path(run_dir) / name).unlink(missing_ok=True)
    folder = Path(run_dir) / FOLDER
    if keep == "none" and folder.is_dir() and not any(folder.iterdir()):
        folder.rmdir()
