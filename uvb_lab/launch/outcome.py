"""After a sweep, one line: what this `uvb-train -m` did with each of its jobs, and the exit code that follows.

A run folder tells how its run stands, not who got it there. Two sweeps into one folder each train a run
once, but while one trains a run, the other reads it "running", and a run the other refused (its folder was
locked) reads "finished" once the first is done. So each job notes what it did in the launching process's
Notes, a folder `<sweep dir>/.uvb-train-notes-<host>-<pid>/` that the launching process reads for the closing
line and then removes. Its path reaches each job in the environment, as UVB_TRAIN_NOTES set through Hydra's
hydra.job.env_set, which every launcher applies around the job (basic, joblib's reused workers, submitit). A job
with no note (one that crashed) is read from its folder, as it stands now.

What a job did (the note):

    trained     started and finished here
    continued   continued from its checkpoint and finished here
    skipped     already finished: nothing to train (figures a kill had left undrawn are drawn)
    busy        another uvb-train job held its folder (another sweep trains it there); left alone
    refused     refused with a reason (printed by the job); nothing written
    diverged    stopped by the non-finite guard (FloatingPointError); its last good checkpoint is kept
    failed      could not write, or crashed
    stopped     preempted or interrupted, checkpointed: the same command continues it

The closing line of every sweep, basic or a search, begins alike: `trained 4, continued 0, found 6 finished, failed 0`
(what this launch trained from nothing, continued, and found already done). Two jobs of one run folder (a sweep of
another model's sizes) count once, as what the first did.

Exit code: 1 if a job failed or diverged, else 2 if one was refused, else 3 if one was stopped, else 0. A busy job
is not a failure: the other process trains the run, and running this command again after it skips it.

A search that runs in waves (successive halving, tune-then-test) reads its jobs' notes after each wave
(`take_notes`, which keeps a tally of them for the closing line): a diverged trial is a result there, scored worst.
The trials it takes from its record without launching them count as found (`note_found`). The rest of its closing
line and its exit code are its record's (the sweeper's `closing`): 1 if a trial or seed failed, else 2 if one was
refused or a cell chose nothing, else 0. A search that picks trials as it goes (Optuna) adds the runs its folder holds.
"""

import hashlib
import json
import logging
import os
import socket
from collections import Counter
from pathlib import Path

from uvb_lab.launch.plan import quoted
from uvb_lab.run import folder as run_folder
from uvb_lab.run.files import RunStatus
from uvb_lab.run.lock import FolderBusy, check_free

log = logging.getLogger(__name__)

ENV = "UVB_TRAIN_NOTES"
TRAINED, CONTINUED, SKIPPED, BUSY, REFUSED, FAILED, STOPPED = "trained", "continued", "skipped", "busy", "refused", "failed", "stopped"
DIVERGED = "diverged"
FOUND = "found"  # a search's trial or seed whose result its record held: not launched
TALLY = "tally.jsonl"  # in the Notes folder: the notes a search took after each wave, and what it found in its record


def note(run_dir: Path, did: str) -> None:
    """A job's note of what it did in run_dir, for its sweep's closing line; nothing outside a sweep's Notes."""
    folder = os.environ.get(ENV)
    if not folder or not Path(folder).is_dir():  # not in a sweep; or its launch has ended: never make the folder again
        return
    path = Path(folder) / _file_name(run_dir)
    if did == SKIPPED and path.is_file():  # a second job of one run (another model's sizes): what the first did stands
        return
    try:
        run_folder.write_json(path, {"folder": str(run_dir), "did": did})
    except OSError as error:  # the closing line reads the run's folder instead
        log.warning("could not note what this job did (%s)", error)


def _file_name(run_dir: Path) -> str:
    return hashlib.sha256(_key(run_dir).encode()).hexdigest()[:16] + ".json"


def _key(folder: Path) -> str:
    return os.path.abspath(folder)  # as Hydra makes a job's output_dir: the plan's `..` resolved


class Notes:
    """The launching process's folder of notes, for the length of one sweep (`with Notes(sweep_dir) as notes:`);
    Notes(None) keeps none (a single run: its own lines say what it did)."""

    def __init__(self, sweep_dir: Path | None) -> None:
        self.folder = sweep_dir / f".uvb-train-notes-{socket.gethostname()}-{os.getpid()}" if sweep_dir else None

    def __enter__(self) -> "Notes":
        if self.folder is None:
            return self
        try:
            self.folder.mkdir(parents=True)
        except OSError as error:  # already there (a killed launch of this pid), or the sweep folder is not writable
            log.warning("cannot keep the jobs' notes in %s (%s); the closing line reads the runs' folders", self.folder, error)
            self.folder = None
            return self
        return self

    @property
    def hydra_overrides(self) -> list[str]:
        """What the launch adds to Hydra's command line so that each job finds the notes."""
        return [f"++hydra.job.env_set.{ENV}={quoted(str(self.folder))}"] if self.folder else []

    def __exit__(self, *exc) -> None:
        if self.folder is None:
            return
        for path in [*self.folder.glob("*.json"), self.folder / TALLY]:  # the notes this launch's jobs wrote; the folder is this launch's
            path.unlink(missing_ok=True)
        try:
            self.folder.rmdir()
        except OSError as error:
            log.warning("could not remove %s (%s)", self.folder, error)

    def read(self) -> dict[str, str]:
        """What each job noted, by its folder (absolute, normalised)."""
        return _read(self.folder)

    def tally(self) -> Counter:
        """How many jobs did what over the whole launch (a search's waves' notes too), and how many results a search
        found in its record (FOUND)."""
        count: Counter = Counter(self.read().values())
        try:
            lines = (self.folder / TALLY).read_text().splitlines() if self.folder and (self.folder / TALLY).is_file() else []
        except OSError:
            lines = []
        for line in lines:
            try:
                entry = json.loads(line)
                count[str(entry["did"])] += int(entry.get("count", 1))
            except (ValueError, KeyError, TypeError, AttributeError):
                continue  # a line cut short
        return count


def _read(folder: Path | None, remove: bool = False) -> dict[str, str]:
    notes = {}
    for path in sorted(folder.glob("*.json")) if folder else []:
        try:
            record = json.loads(path.read_text())
            notes[_key(Path(record["folder"]))] = str(record["did"])
        except (OSError, ValueError, KeyError, TypeError):
            continue  # a note cut short: the job is read from its folder
        finally:
            if remove:
                path.unlink(missing_ok=True)
    return notes


def _add_to_tally(folder: Path, entries: list[dict]) -> None:
    try:
        with (folder / TALLY).open("a") as tally:
            tally.writelines(json.dumps(entry) + "\n" for entry in entries)
    except OSError as error:  # the closing line then counts fewer jobs; the search's record is whole
        log.warning("could not keep the tally of this launch's jobs (%s)", error)


def take_notes(env_set: dict[str, str]) -> dict[str, str]:
    """For a sweeper after one wave: what each of its jobs noted, by folder (absolute), the notes then removed so that
    the next wave's are its own (and kept in the tally for the closing line). env_set: the launch's
    hydra.job.env_set, which names the Notes folder."""
    folder = env_set.get(ENV)
    if not folder or not Path(folder).is_dir():
        return {}
    notes = _read(Path(folder), remove=True)
    if notes:
        _add_to_tally(Path(folder), [{"did": did} for did in notes.values()])
    return notes


def note_found(env_set: dict[str, str], count: int) -> None:
    """For a sweeper: `count` trials or seeds whose result its record already held, so it launched none of them."""
    folder = env_set.get(ENV)
    if count and folder and Path(folder).is_dir():
        _add_to_tally(Path(folder), [{"did": FOUND, "count": count}])


def counts_line(tally: Counter, extras: bool = True) -> str:
    """`trained 4, continued 0, found 6 finished, failed 0`, then (extras) the jobs that were busy, refused or stopped."""
    line = (f"trained {tally[TRAINED]}, continued {tally[CONTINUED]}, found {tally[SKIPPED] + tally[FOUND]} finished, "
            f"failed {tally[FAILED]}")
    if extras and tally[BUSY]:
        line += f", {tally[BUSY]} busy (another uvb-train job holds the folder and trains the run there)"
    if extras and tally[REFUSED]:
        line += f", {tally[REFUSED]} refused"
    if extras and tally[STOPPED]:
        line += f", {tally[STOPPED]} stopped"
    if extras and tally[None]:
        line += f", {tally[None]} not started (the same command runs them)"
    return line


def noted(notes: dict[str, str], folder: Path | None) -> str | None:
    """What the job in folder noted, or None."""
    return notes.get(_key(folder)) if folder is not None else None


def _from_folder(folder: Path | None, action: str, stopped_early: bool) -> str | None:
    """What a job that left no note did, as far as its folder tells now; None: never started (the sweep stopped first)."""
    if action == "skip":
        return SKIPPED
    summary = run_folder.read_summary_or_checkpoint(folder) if folder and folder.is_dir() else None
    status = (summary or {}).get("status")
    if status == RunStatus.FINISHED:
        return CONTINUED if action == "continue" else TRAINED
    if status in (RunStatus.PREEMPTED, RunStatus.INTERRUPTED):
        return STOPPED
    if folder is not None:
        try:
            check_free(folder)
        except FolderBusy:
            return BUSY
    return None if status is None and stopped_early else FAILED


def outcome(launch, notes: dict[str, str], stopped_early: bool = False, tally: Counter | None = None) -> tuple[str, int]:
    """After a sweep: how each of its jobs ended (notes, else folders), as one line plus one per job not done, and the exit code.

    launch: the plan (uvb_lab/launch/plan.py). stopped_early: the sweep was stopped (Ctrl-C, a stop signal), so a
    job that left no trace was never launched. tally: a search's count of what its jobs did (Notes.tally).
    """
    if launch.searched_by:
        return _search_outcome(launch, tally or Counter())
    runs = {}  # one entry per run folder: two jobs of one run count as the first
    for job in launch.jobs:
        if job.folder is None or _key(job.folder) not in runs:
            did = (job.folder and notes.get(_key(job.folder))) or _from_folder(job.folder, job.decision.action, stopped_early)
            runs[_key(job.folder) if job.folder else id(job)] = (job.folder, FAILED if did == DIVERGED else did)  # outside a search, a diverged run failed
    did = list(runs.values())
    count = Counter(d for _, d in did)
    details = [f"  {what}: {folder}" for what in (FAILED, REFUSED, STOPPED, BUSY) for folder, d in did if d == what]
    code = 1 if count[FAILED] else 2 if count[REFUSED] else 3 if count[STOPPED] else 0
    return "\n".join([counts_line(count), *details]), code


def _search_outcome(launch, tally: Counter) -> tuple[str, int]:
    """After a search: what this launch's jobs did, then the sweeper's own account where it gives one (successive
    halving, tune-then-test: its record's trials and their outcomes); else the runs its folder holds (this launch's and
    earlier ones'), by status, and where the best is (Optuna's optimization_results.yaml)."""
    done = counts_line(tally, extras=False)
    if launch.closing is not None:
        line, code = launch.closing()
        return f"{done}; {line}", code
    statuses = [
        (run_folder.read_summary_or_checkpoint(path) or {}).get("status", "did not start")
        for path in sorted(launch.sweep_dir.iterdir()) if (path / run_folder.IDENTITY).is_file()
    ] if launch.sweep_dir.is_dir() else []
    counts = {status: statuses.count(status) for status in dict.fromkeys(statuses)}
    line = f"{done}; {len(statuses)} runs in {launch.sweep_dir} (" + ", ".join(f"{n} {status}" for status, n in counts.items()) + ")"
    best = launch.sweep_dir / "optimization_results.yaml"  # Optuna's
    if best.is_file():
        line += f"; the best val_loss: {best}"
    return line, 0
