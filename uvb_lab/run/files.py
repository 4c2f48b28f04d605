"""The files a run leaves in its folder, and nothing else: what the report and later tools read.

    config.yaml         the config as run, every interpolation resolved (Hydra's .hydra/ keeps them unresolved)
    .hydra/             Hydra's record: config, overrides, hydra settings
    metrics.jsonl       the curves: a training row every trainer.log_every_steps (step, epoch, train_loss,
                        samples_per_s) and an evaluation row (the test-set numbers; "eval" says why: epoch_end,
                        eval_every_steps, max_steps, preempted, interrupted, untrained) at every evaluation
    summary.json        the latest state of the run, rewritten after every epoch (status: a RunStatus below),
                        so a report can tell finished runs from the rest; its fields: uvb_lab/run/summary.py
    checkpoints/        last.pt and previous.pt, the states to continue from (uvb_lab/run/checkpoint.py)

Every file is written whole or not at all (write_atomic; a set of files that belong together, such as a run's figures
or a report, with written_together), so a full disk or a kill never leaves half a file or half a set.
"""

import enum
import json
import math
import os
import shutil
import tempfile
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from omegaconf import DictConfig, OmegaConf

from uvb_lab.run import records


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
    """Write through a temporary file and rename it over the target, so a kill never leaves half a file; an OSError
    (a full disk) names path."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")  # per process: parallel jobs may write one cache file
    try:
        write(tmp)
        with open(tmp, "rb") as f:
            os.fsync(f.fileno())  # on disk before the rename makes it the file: a power cut leaves old or new, never empty
        os.replace(tmp, path)
    except BaseException as error:  # a full disk: the file keeps its old contents, and no temporary is left beside it
        tmp.unlink(missing_ok=True)
        if isinstance(error, OSError) and error.filename in (None, str(tmp), tmp):  # a write's error names no file, or the temporary
            raise OSError(error.errno, error.strerror or str(error), str(path)) from error
        raise


@contextmanager
def written_together(folder: Path) -> Iterator[Path]:
    """A staging folder inside folder: the files written there replace folder's files of the same names once all of
    them are written, so a failure on the way (a full disk) leaves folder's earlier files, byte for byte, and no
    staging folder behind. For a set that belongs together: a run's figures, a report."""
    folder.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".staging-{os.getpid()}-", dir=folder))
    try:
        yield staging
        written = sorted(path for path in staging.rglob("*") if path.is_file())
        for path in written:
            with open(path, "rb") as f:
                os.fsync(f.fileno())  # on disk before the renames make them the files
        for path in written:  # renames only from here: they take no space, so a full disk cannot stop them halfway
            target = folder / path.relative_to(staging)
            target.parent.mkdir(parents=True, exist_ok=True)
            os.replace(path, target)
    finally:
        shutil.rmtree(staging, ignore_errors=True)


def write_config(run_dir: Path, cfg: DictConfig) -> None:
    text = OmegaConf.to_yaml(cfg, resolve=True)
    write_atomic(run_dir / CONFIG, lambda tmp: tmp.write_text(text))


def append_metrics(run_dir: Path, row: Mapping[str, Any]) -> None:
    with open(run_dir / METRICS, "a") as f:
        f.write(json.dumps({k: jsonable(v) for k, v in row.items()}) + "\n")


# What a metrics.jsonl row holds besides numbers: why an evaluation was made (a row without it is a training row, or
# an epoch end's in files of uvb-lab 0.1.0). Every other value is a number, or null where it was not finite.
ROW_TEXT = ("eval",)


def checked_row(row: Any, where: str) -> dict[str, Any]:
    """A metrics.jsonl row as readers rely on it, or records.RecordError naming where: an object with an integer "step"
    >= 0, a finite "epoch", "eval" as text and every other value a number or null; a number that is not finite reads
    as null (append_metrics writes it so)."""
    if not isinstance(row, dict):
        raise records.RecordError(f"{where} is {type(row).__name__} {records.shown(row)}, not a row (a JSON object)")
    if not records.is_count(row.get("step")):
        raise records.RecordError(f"{where}: 'step' is {records.shown(row.get('step'))}, not an integer >= 0")
    if not records.is_finite(row.get("epoch")):
        raise records.RecordError(f"{where}: 'epoch' is {records.shown(row.get('epoch'))}, not a finite number")
    for key, value in row.items():
        if key in ROW_TEXT and not isinstance(value, str):
            raise records.RecordError(f"{where}: {records.shown(key)} is {records.shown(value)}, not text")
        if key not in ROW_TEXT and value is not None and not records.is_number(value):
            raise records.RecordError(f"{where}: {records.shown(key)} is {records.shown(value)}, not a number")
    return {key: value if key in ROW_TEXT or key == "step" else records.measured(value) for key, value in row.items()}


def read_metrics(run_dir: Path) -> list[dict[str, Any]]:
    """The rows of metrics.jsonl, each checked (checked_row); the half-written last line of a killed run is left out.
    records.RecordError, naming the file, line and field, where a row is not one uvb-train writes."""
    path = Path(run_dir) / METRICS
    if not path.is_file():
        return []
    try:
        text = path.read_text()
    except (OSError, UnicodeDecodeError) as error:
        raise records.RecordError(f"cannot read {path} ({getattr(error, 'strerror', None) or error})") from None
    rows = []
    for number, line in enumerate(text.splitlines(), start=1):
        where = f"{path}, line {number}"
        try:
            row = json.loads(line)
        except RecursionError:
            raise records.RecordError(f"{where} nests its values deeper than a row of uvb-train can") from None
        except json.JSONDecodeError:
            continue  # a line cut short by a kill: the resumed run rewrites from its checkpoint's step on
        except ValueError as error:  # decoded, but not a value a row holds: an integer of thousands of digits
            raise records.RecordError(f"{where} is not a row of uvb-train ({error})") from None
        rows.append(checked_row(row, where))
    return rows


def truncate_metrics(run_dir: Path, step: int) -> None:
    """Keep the rows up to optimizer step `step`: a resumed run rewrites the later ones, never repeats them.

    Rows are appended in step order, so the rows kept are the file's first lines: it is cut in place, which takes no
    space (a run stopped by a full disk cuts its rows back to its last checkpoint's too). The cut is at the first row
    past `step` or the first line that is not a whole row (a kill's half-written last line).
    """
    path = Path(run_dir) / METRICS
    if not path.is_file():
        return
    kept = 0
    with open(path, "rb") as f:
        for line in f:
            try:
                row = json.loads(line)
            except ValueError:
                break
            if not line.endswith(b"\n") or not isinstance(row, dict) or not isinstance(row.get("step"), int) or row["step"] > step:
                break
            kept += len(line)
    if kept < path.stat().st_size:
        os.truncate(path, kept)


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
