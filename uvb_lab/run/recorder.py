"""Where a run's numbers go as it trains: metrics.jsonl, the tracker (W&B, TensorBoard) and summary.json."""

import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from uvb_lab.run import files as run_files
from uvb_lab.run import summary as run_summary
from uvb_lab.run.state import TrainState
from uvb_lab.run.summary import BEST_TEST_LOSS, SAMPLES_PER_S, STEPS_DONE, TEST_LOSS, TRAIN_LOSS, WALL_TIME_S
from uvb_lab.trackers import Tracker


class Recorder:
    """Writes a training state's curve rows, evaluations and summary; the run's wall clock continues across resumes."""

    def __init__(self, run_dir: Path, logger: Tracker, state: TrainState, batches_per_epoch: int):
        self.run_dir, self.logger, self.state = run_dir, logger, state
        self.batches_per_epoch = batches_per_epoch
        self.start = time.perf_counter() - state.summary[WALL_TIME_S]

    def wall_time(self) -> float:
        return time.perf_counter() - self.start

    def _row(self, row: dict[str, Any]) -> None:
        run_files.append_metrics(self.run_dir, row)
        self.logger.log({k: v for k, v in row.items() if k not in ("step", "eval")}, step=row["step"])

    def curve(self, samples: int, seconds: float, lr: float) -> None:
        """A training-curve row: the mean loss of the steps since the last row, their samples/s and the last step's rate."""
        step = self.state.step
        window = {TRAIN_LOSS: self.state.take_window(), SAMPLES_PER_S: samples / seconds, "lr": lr}
        self._row({"step": step, "epoch": step / self.batches_per_epoch, **window})

    def evaluation(self, why: str, numbers: dict[str, float], **extra: float) -> None:
        """An evaluation row (why: epoch_end, max_steps, eval_every_steps, preempted, ...) and the summary's test numbers."""
        step, summary = self.state.step, self.state.summary
        self._row({"step": step, "epoch": step / self.batches_per_epoch, "eval": why, **extra, **numbers})
        summary.update(numbers)
        summary.update({STEPS_DONE: step, WALL_TIME_S: self.wall_time()})
        # An evaluation made because the run was stopped is one an uninterrupted run never makes: not a candidate.
        best, test_loss = summary[BEST_TEST_LOSS], numbers.get(TEST_LOSS)  # none where trainer.evaluate_test=false
        if why not in run_files.STOP_EVALUATIONS and test_loss is not None and (best is None or test_loss < best):
            summary[BEST_TEST_LOSS] = test_loss

    def summary(self, changes: Mapping[str, Any] | None = None) -> None:
        """summary.json and the tracker's summary, with these fields (uvb_lab/run/summary.py) changed first."""
        self.state.summary.update(changes or {})
        run_summary.write(self.run_dir, self.state.summary)
        self.logger.log_summary(self.state.summary)
