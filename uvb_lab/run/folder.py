"""A run folder: what it holds, whether a command may train in it, and the record a launch leaves there.

`decide` reads a folder (never writes) and says what a command would do there:

    start     the folder holds no run, or only an earlier attempt of this run that got no checkpoint written (a
              full disk): its identity matches, no checkpoint, no metrics row past step 0, a summary at step 0
    continue  it holds this run (same identity) with a checkpoint, not yet as far as asked
    skip      it holds this run, already as far as asked
    refuse    anything else, with the reason and what to do instead: another run's folder, a changed
              identity, trainer.resume=null over a run, a checkpoint that is gone, files of ours without a run

`record` is the first write of a launch, made only after every check passed: identity.json (the run's
identity, once), config.yaml (this command's resolved config) and Hydra's record in .hydra/ (the first
launch) or .hydra/resumes/<time>/ (each later one).
"""

import json
import logging
import os
import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from omegaconf import DictConfig, OmegaConf

from uvb_lab.run import checkpoint, legacy, records, saved_config
from uvb_lab.run import identity as run_identity
from uvb_lab.run import summary as run_summary
from uvb_lab.run.files import CONFIG, METRICS, SUMMARY, RunStatus, read_metrics, unwritable, write_atomic, write_config
from uvb_lab.run.legacy import FORMAT_VERSION  # the run-folder format written; older ones are read by legacy.py
from uvb_lab.run.summary import DATASET, EPOCHS_DONE, MODEL, SIGMA, STATUS, STEPS_DONE

log = logging.getLogger(__name__)

IDENTITY = "identity.json"
LOG = "train.log"
# Names uvb-train writes into a run folder: a folder holding any of them but no run is not ours to write in.
WRITES = (IDENTITY, CONFIG, METRICS, SUMMARY, LOG, checkpoint.FOLDER, ".hydra", "figures", "wandb")
AUTO = "auto"


class RunRefused(ValueError):
    """The command may not train in this folder; the message says why and what to do instead."""


@dataclass(frozen=True)
class Decision:
    action: str  # start | continue | skip | refuse
    reason: str = ""
    summary: dict[str, Any] | None = None  # the run's summary so far, where there is one


def checked_identity(identity: dict[str, Any], path: Path) -> dict[str, Any]:
    """A recorded identity as readers rely on it (records.RecordError naming path and the key else): settings by
    dotted key, each a plain value (text, a finite number, true/false, null, or lists and mappings of them)."""
    for key, value in identity.items():
        if not isinstance(key, str):
            raise records.RecordError(f"{path}: the identity has a key {records.shown(key)} that is not text")
        pending = [value]
        while pending:  # iterative: the nesting is bounded by the parser's depth only
            inner = pending.pop()
            if isinstance(inner, list):
                pending += inner
            elif isinstance(inner, dict):
                pending += inner.values()
            elif records.is_number(inner) and not records.is_finite(inner):
                raise records.RecordError(f"{path}: {records.shown(key)} holds {records.shown(inner)}, not a finite number")
            elif not (inner is None or isinstance(inner, bool | str) or records.is_number(inner)):
                raise records.RecordError(f"{path}: {records.shown(key)} holds {records.shown(inner)}, not a plain value")
    return identity


def recorded_identity(run_dir: Path) -> dict[str, Any] | None:
    """The identity the folder's run was made with: identity.json, else (format 1) its resolved config.yaml; checked
    (checked_identity), records.RecordError where it cannot be read."""
    path = run_dir / IDENTITY
    if path.is_file():
        record = records.read_json(path)
        if not isinstance(record, dict) or not isinstance(record.get("identity"), dict):
            raise records.RecordError(f"{path} is not an identity record of uvb-lab (a JSON object whose 'identity' is one)")
        if not records.is_count(record.get("format_version", 0)):
            raise records.RecordError(f"{path}: 'format_version' is {records.shown(record['format_version'])}, not an integer >= 0")
        if record.get("format_version", 0) > FORMAT_VERSION:
            raise RunRefused(f"{run_dir} was made by a newer uvb-lab (format {record['format_version']}); update uvb-lab to continue it")
        identity = checked_identity(record["identity"], path)
        return legacy.upgrade_identity(identity) if record.get("format_version", 0) < FORMAT_VERSION else identity
    path = run_dir / CONFIG
    if path.is_file():  # plain values, resolvers off
        return checked_identity(run_identity.identity_of_saved_config(saved_config.read_plain(path)), path)
    return None


def edited_since_checkpoint(run_dir: Path, recorded: Mapping[str, Any]) -> list[tuple[str, Any, Any]]:
    """The settings of a format-1 folder's config.yaml (its only record of the identity) that its checkpoint contradicts.

    uvb-lab 0.1.0 trained at a constant rate, which Adam's state records, and its checkpoint's summary records
    the model, data and sigma: an edit of any of them would continue the run under mixed settings.
    """
    try:
        saved = checkpoint.load(run_dir)
    except checkpoint.CheckpointError:
        return []  # decide() refuses or restarts on the checkpoint's own grounds
    summary = checkpoint.summary(saved)
    trained = {
        "trainer.lr": checkpoint.learning_rate(saved),
        "sigma": summary.get(SIGMA),
        "run.model": summary.get(MODEL),
        "run.data": summary.get(DATASET),
    }
    return [(key, recorded.get(key), value) for key, value in trained.items() if value is not None and recorded.get(key) != value]


def read_summary_or_checkpoint(run_dir: Path) -> dict[str, Any] | None:
    """summary.json, checked (run/summary.py); where it is damaged, not a summary or missing, the summary inside the
    newest readable checkpoint, checked too; None where neither is."""
    try:
        return run_summary.read(run_dir)
    except FileNotFoundError:
        pass
    except records.RecordError as error:
        log.warning("%s; reading the checkpoint's summary instead", error)
    if not checkpoint.exists(run_dir):
        return None
    try:
        saved, path = checkpoint.load_newest(run_dir)
        return run_summary.checked(checkpoint.summary(saved), path)
    except (checkpoint.CheckpointError, TypeError, ValueError):  # ValueError: records.RecordError among them
        return None


def trained_rows(run_dir: Path) -> bool:
    """metrics.jsonl holds a row past step 0: the folder records training (trainer.epochs=0's evaluation is at step 0)."""
    return any(not isinstance(row, dict) or not isinstance(row.get("step"), int) or row["step"] > 0 for row in read_metrics(run_dir))


def holds_run(run_dir: Path) -> bool:
    return any((run_dir / name).exists() for name in (IDENTITY, CONFIG, SUMMARY, METRICS)) or checkpoint.exists(run_dir)


def is_finished(summary: Mapping[str, Any] | None, epochs: int, max_steps: int | None) -> bool:
    """The run got as far as asked: all epochs, or max_steps (finished, or unscored: trained, but with no finite loss)."""
    if not summary or summary.get(STATUS) not in (RunStatus.FINISHED, RunStatus.UNSCORED):
        return False
    steps_done, epochs_done = summary.get(STEPS_DONE) or 0, summary.get(EPOCHS_DONE) or 0
    return epochs_done >= epochs or (max_steps is not None and steps_done >= max_steps)


def decide(run_dir: Path, cfg: DictConfig, defaults: Mapping[str, Any]) -> Decision:
    """What this command would do in run_dir (see the module's docstring); reads only. defaults: the identity of the
    defaults of cfg's model, data and experiment (uvb_lab/compose.py), which a key the folder does not record keeps."""
    resume = cfg.trainer.resume
    if blocking := next((path for path in (run_dir, *run_dir.parents) if path.exists() and not path.is_dir()), None):
        return Decision("refuse", f"{blocking} is a file, so {run_dir} cannot be a run folder; choose another folder (hydra.run.dir=...)")
    if problem := unwritable(run_dir):
        return Decision("refuse", f"cannot write in {run_dir} ({problem}); choose a folder you can write (hydra.run.dir=...)")
    if not run_dir.exists() or not holds_run(run_dir):
        ours = [name for name in WRITES if (run_dir / name).exists()]
        if ours:
            return Decision("refuse", f"{run_dir} holds {', '.join(ours)} but no run of uvb-train; choose another folder (hydra.run.dir=...)")
        if resume not in (None, AUTO):
            return Decision("refuse", f"trainer.resume={resume}: {run_dir} holds no run to continue; give the folder of a run, or auto")
        return Decision("start", "new run")
    if resume is None:
        return Decision("refuse", f"trainer.resume=null but {run_dir} holds a run: choose another folder (hydra.run.dir=...) or delete that one yourself")
    try:
        recorded = recorded_identity(run_dir)
    except (OSError, ValueError) as error:
        return Decision("refuse", f"cannot read which run {run_dir} holds ({error}); choose another folder")
    if recorded is None:
        return Decision("refuse", f"{run_dir} holds files of a run but neither {IDENTITY} nor {CONFIG}: cannot tell which run; choose another folder")
    current = run_identity.identity(cfg)
    differ = run_identity.differences(recorded, current, defaults)
    if differ:
        listing = "; ".join(f"{key}: {old} in the folder, {new} now" for key, old, new in differ)
        return Decision(
            "refuse",
            f"{run_dir} holds another run ({listing}). A run's settings cannot change: drop hydra.run.dir/trainer.resume "
            "to get this run's own folder, or choose another folder",
        )
    if not (run_dir / IDENTITY).is_file() and checkpoint.exists(run_dir):
        if edited := edited_since_checkpoint(run_dir, recorded):
            listing = "; ".join(f"{key}: {saved} in {CONFIG}, {trained} in its checkpoint" for key, saved, trained in edited)
            return Decision(
                "refuse",
                f"{run_dir / CONFIG} was edited after the run trained ({listing}); a run's settings cannot change, so it "
                "does not continue: restore the file, or train these settings in another folder",
            )
    summary = read_summary_or_checkpoint(run_dir)
    max_steps = cfg.trainer.max_steps
    if is_finished(summary, cfg.trainer.epochs, max_steps):
        done = f"{summary.get(EPOCHS_DONE)} epochs, {summary.get(STEPS_DONE)} steps"
        if summary.get(STATUS) == RunStatus.UNSCORED:
            done += f"; {RunStatus.UNSCORED}: its last loss is not finite"
        return Decision("skip", f"already finished ({done})", summary)
    if checkpoint.exists(run_dir):
        try:  # the rows a continued run keeps (run/files.py truncate_metrics): checked before anything is written
            read_metrics(run_dir)
        except records.RecordError as error:
            return Decision("refuse", f"{error}; the run cannot continue a curve it cannot read: repair or move the file")
        at = f" at step {summary.get(STEPS_DONE)}, {summary.get(EPOCHS_DONE)} epochs done" if summary else ""
        return Decision("continue", f"from its checkpoint{at}", summary)
    # No checkpoint. Restarting rewrites only what an attempt of this run (the identity matched above) left before its
    # first checkpoint: no row past step 0 and a summary at step 0, as a run stopped by a write that failed leaves them
    # (uvb_lab/training/checkpointer.py puts its files back to its last checkpoint). Anything more is a run whose checkpoints are gone.
    if trained_rows(run_dir) or (summary and (summary.get(STEPS_DONE) or 0) > 0):
        return Decision(
            "refuse",
            f"{run_dir} holds a run that trained but its checkpoints are gone (deleted, or trainer.keep_checkpoints=none), "
            "so it cannot continue; to train it longer, start afresh in another folder (hydra.run.dir=...)",
            summary,
        )
    return Decision("start", "again: the earlier attempt saved no checkpoint", summary)


def write_json(path: Path, value: Any) -> None:
    text = json.dumps(value, indent=2) + "\n"
    write_atomic(path, lambda tmp: tmp.write_text(text))


def record(run_dir: Path, cfg: DictConfig, hydra_cfg: DictConfig | None) -> None:
    """The launch's first write into run_dir: identity (once), resolved config, Hydra's record."""
    run_dir.mkdir(parents=True, exist_ok=True)
    if not (run_dir / IDENTITY).is_file():
        current = run_identity.identity(cfg)
        write_json(run_dir / IDENTITY, {"format_version": FORMAT_VERSION, "digest": run_identity.digest(current), "identity": current})
    write_config(run_dir, cfg)
    if hydra_cfg is not None:
        first = not (run_dir / ".hydra" / "config.yaml").exists()
        later = f"{time.strftime('%Y-%m-%d_%H-%M-%S')}-{os.getpid()}"  # two launches in one second stay apart
        where = run_dir / ".hydra" if first else run_dir / ".hydra" / "resumes" / later
        where.mkdir(parents=True, exist_ok=True)
        for name, node in (("config.yaml", cfg), ("hydra.yaml", OmegaConf.create({"hydra": hydra_cfg})), ("overrides.yaml", hydra_cfg.overrides.task)):
            write_atomic(where / name, lambda tmp, node=node: OmegaConf.save(node, tmp))  # a full disk leaves no empty file


class RunLog(logging.Handler):
    """run_dir/train.log, opened only once the run has recorded itself there (identity.json, `record`): the
    records before that are held and written first. A start that is refused, fails to build or is killed before its
    first write leaves no file behind, so its folder is not mistaken later for one holding another's files."""

    def __init__(self, run_dir: Path):
        super().__init__()
        self.run_dir, self.held, self.file = run_dir, [], None
        self.setFormatter(logging.Formatter("[%(asctime)s][%(name)s][%(levelname)s] - %(message)s"))

    def emit(self, record: logging.LogRecord) -> None:
        if self.file is None and (self.run_dir / IDENTITY).is_file():
            self.file = logging.FileHandler(self.run_dir / LOG, mode="a")  # appended: a continued run's log goes on
            self.file.setFormatter(self.formatter)
            for held in self.held:
                self.file.emit(held)
            self.held = []
        if self.file is not None:
            self.file.emit(record)
        else:
            self.held.append(record)

    def close(self) -> None:
        if self.file is not None:
            self.file.close()
        super().close()


@contextmanager
def log_to_file(run_dir: Path) -> Iterator[None]:
    """The job's log also into run_dir/train.log from the run's first write on (RunLog), while inside."""
    handler = RunLog(run_dir)
    root = logging.getLogger()
    root.addHandler(handler)
    try:
        yield
    finally:
        root.removeHandler(handler)
        handler.close()
