"""trainer.resume: which folder a run writes into, and whether there is anything left to do there.

    auto     continue from the run folder's own checkpoint when it has one; a finished run is not trained
             again. Sweeps that write to fixed folders (multirun/<experiment>/<run.name>) therefore skip
             their finished runs and continue the others when the same command is launched again.
    RUN_DIR  continue the run in RUN_DIR, in that folder: the fresh folder Hydra made for this command is
             moved under RUN_DIR/.hydra/resumes/ (its config and overrides) and removed, and the log goes on
             in RUN_DIR.
    null     start afresh, even over a checkpoint in the run folder.
"""

import logging
import shutil
from pathlib import Path
from typing import Any

from uvb_lab import checkpoint, run_files

log = logging.getLogger(__name__)

AUTO = "auto"


def run_folder(resume: str | None, hydra_dir: Path) -> Path:
    """The folder this command writes into: hydra_dir, or the RUN_DIR that trainer.resume names."""
    if resume is None or resume == AUTO:
        return hydra_dir
    target = Path(resume).expanduser().resolve()
    if not checkpoint.exists(target):
        raise checkpoint.CheckpointError(
            f"trainer.resume={resume}: {target} holds no {checkpoint.LAST}; give the folder of a run that wrote one, or auto"
        )
    if target != hydra_dir.resolve():
        _leave(hydra_dir, target)
    return target


def _leave(hydra_dir: Path, target: Path) -> None:
    """Move this command's Hydra record (.hydra/, log) into target, so no stray folder is left behind."""
    if (hydra_dir / ".hydra").is_dir():
        resumes = target / ".hydra" / "resumes"
        resumes.mkdir(parents=True, exist_ok=True)
        shutil.move(str(hydra_dir / ".hydra"), str(resumes / hydra_dir.name))
    # Hydra's file log handler: reopen it, in append mode, on the log file of target.
    for handler in logging.getLogger().handlers:
        if isinstance(handler, logging.FileHandler) and Path(handler.baseFilename).parent == hydra_dir.resolve():
            handler.close()  # reopened on the next record, at the new path
            handler.baseFilename = str(target / Path(handler.baseFilename).name)
            handler.mode = "a"
    shutil.rmtree(hydra_dir, ignore_errors=True)
    log.info("continuing in %s (this command's config is in %s)", target, target / ".hydra" / "resumes" / hydra_dir.name)


def finished_summary(run_dir: Path, epochs: int, max_steps: float) -> dict[str, Any] | None:
    """The summary of a run in run_dir that already got as far as asked (all epochs, or max_steps), else None."""
    path = Path(run_dir) / run_files.SUMMARY
    if not path.is_file():
        return None
    summary = run_files.read_summary(run_dir)
    done = summary.get("status") == "finished" and (summary.get("epochs_done", 0) >= epochs or summary.get("steps_done", 0) >= max_steps)
    return summary if done else None
