"""When the loop saves a checkpoint: after checking the steps since the last were finite; and what it does after a
write that failed (a full disk): the run's files back to the last checkpoint. What a checkpoint holds is
uvb_lab/run/checkpoint.py and uvb_lab/run/state.py."""

from pathlib import Path

from uvb_lab.run import checkpoint
from uvb_lab.run import files as run_files
from uvb_lab.run import summary as field
from uvb_lab.run.files import RunStatus
from uvb_lab.run.state import TrainState
from uvb_lab.training.build import Parts
from uvb_lab.training.nonfinite import NonFinitePolicy
from uvb_lab.training.recorder import Recorder


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
