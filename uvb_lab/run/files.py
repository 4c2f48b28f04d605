"""The files a run leaves in its folder, and nothing else: what the report and later tools read.

    config.yaml         the config as run, every interpolation resolved (Hydra's .hydra/ keeps them unresolved)
    .hydra/             Hydra's record: config, overrides, hydra settings
    metrics.jsonl       the curves: a training row every trainer.log_every_steps (step, epoch, train_loss,
                        samples_per_s) and an evaluation row (the test-set numbers; "eval" says why: epoch_end,
                        eval_every_steps, max_steps, preempted, interrupted, untrained) at every evaluation
    summary.json        the latest state of the run, rewritten after every epoch (status: a RunStatus below),
                        so a report can tell finished runs from the rest; its fields: uvb_lab/run/summary.py
    checkpoints/        last.pt and previous.pt, the states to continue from (uvb_lab/run/checkpoint.py)
"""

import enum
import json
import math
import os
import tempfile
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from omegaconf import DictConfig, OmegaConf


class RunStatus(str, enum.Enum):
    """summary.json's "status": where the run stands. The values are the file's strings."""

    RUNNING = "running"  # training; or killed without a word (SIGKILL, a lost machine): the same command continues
    FINISHED = "finished"
    PREEMPTED = "preempted"  # stopped by one of trainer.preemption_signals, checkpointed: the same command continues
    INTERRUPTED = "interrupted"  # Ctrl-C, checkpointed: the same command continues
    FAILED = "failed"  # stopped by an error (a non-finite loss, a file it could not write); its files as of its last checkpoint
    # Trained as far as asked (trainer.skip_nonfinite=true kept it going), but its last test or validation loss is not
    # finite: a model that does not denoise, with no score to report. Like finished, the same command skips it.
    UNSCORED = "unscored"

    def __str__(self) -> str:  # as enum.StrEnum (Python 3.11) prints; requires-python is 3.10
        return self.value

CONFIG = "config.yaml"
METRICS = "metrics.jsonl"
SUMMARY = "summary.json"


def jsonable(value: Any) -> Any:
    # JSON has no NaN or infinity; a diverged loss is recorded as null rather than producing invalid JSON.
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value


def unwritable(folder: Path) -> str | None:
    """Why nothing can be written into folder (created where missing), or None: checked before a command's first write."""
    existing = next((p for p in (folder, *folder.parents) if p.exists()), None)
    if existing is None:
        return None
    if not existing.is_dir():
        return f"{existing} is a file"
    try:  # os.access says yes to root on a read-only mount: only a write tells
        with tempfile.TemporaryFile(dir=existing):
            pass
    except OSError as error:
        return f"{existing}: {error.strerror or error}"
    return None


def write_atomic(path: Path, write) -> None:
    """Write through a temporary file and rename it over the target, so a kill never leaves half a file."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")  # per process: parallel jobs may write one cache file
    try:
        write(tmp)
        with open(tmp, "rb") as f:
            os.fsync(f.fileno())  # on disk before the rename makes it the file: a power cut leaves old or new, never empty
        os.replace(tmp, path)
    except BaseException:  # a full disk: the file keeps its old contents, and no temporary is left beside it
        tmp.unlink(missing_ok=True)
        raise


def write_config(run_dir: Path, cfg: DictConfig) -> None:
    text = OmegaConf.to_yaml(cfg, resolve=True)
    write_atomic(run_dir / CONFIG, lambda tmp: tmp.write_text(text))


def append_metrics(run_dir: Path, row: Mapping[str, Any]) -> None:
    with open(run_dir / METRICS, "a") as f:
        f.write(json.dumps({k: jsonable(v) for k, v in row.items()}) + "\n")


def read_metrics(run_dir: Path) -> list[dict[str, Any]]:
    """The rows of metrics.jsonl; the half-written last line of a killed run is left out."""
    path = Path(run_dir) / METRICS
    if not path.is_file():
        return []
    rows = []
    for line in path.read_text().splitlines():
        try:
            rows.append(json.loads(line))
        except json.JSONDecodeError:
            continue
    return rows


def truncate_metrics(run_dir: Path, step: int) -> None:
    """Keep the rows up to optimizer step `step`: a resumed run rewrites the later ones, never repeats them."""
    path = Path(run_dir) / METRICS
    if not path.is_file():
        return
    text = "".join(json.dumps(row) + "\n" for row in read_metrics(run_dir) if row["step"] <= step)
    write_atomic(path, lambda tmp: tmp.write_text(text))


def evaluations(rows: list[dict[str, Any]], *why: str) -> list[dict[str, Any]]:
    """The evaluation rows (test and/or validation numbers); with reasons (epoch_end, max_steps, ...), only those evaluated for one.

    Rows written by uvb-lab 0.1.0 carry no "eval": each was an epoch end's.
    """
    found = [row for row in rows if "test_loss" in row or "val_loss" in row]  # a search's trial scores val only
    return [row for row in found if row.get("eval", "epoch_end") in why] if why else found


# Why an evaluation was made, where it was made only because the run was stopped (an uninterrupted run has none).
STOP_EVALUATIONS = (RunStatus.PREEMPTED, RunStatus.INTERRUPTED)


def without_stops(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The rows an uninterrupted run also writes: less the evaluations made because the run was stopped."""
    return [row for row in rows if row.get("eval") not in STOP_EVALUATIONS]
