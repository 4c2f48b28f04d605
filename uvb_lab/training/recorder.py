"""Where a run's numbers go as it trains: metrics.jsonl, the tracker (W&B, TensorBoard) and summary.json."""

import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from uvb_lab.run import files as run_files
from uvb_lab.run.state import TrainState
from uvb_lab.run.summary import SAMPLES_PER_S, TRAIN_LOSS, WALL_TIME_S
from uvb_lab.trackers import Tracker


class Recorder:
    """Writes a training state's curve rows, evaluations and summary; the run's wall clock continues across resumes."""

    def __init__(self, run_dir: Path, logger: Tracker, state: TrainState, batches_per_epoch: int):
        self.run_dir, self.logger, self.state = run_dir, logger, state
        self.batches_per_epoch = batches_per_epoch
        self.start = time.perf_counter() - state.summary[WALL_TIME_S]
        state.summary.attach(run_dir, logger.log_summary)

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
        step = self.state.step
        self._row({"step": step, "epoch": step / self.batches_per_epoch, "eval": why, **extra, **numbers})
        # An evaluation made because the run was stopped is one an uninterrupted run never makes: not a candidate.
        self.state.summary.evaluated(numbers, step, self.wall_time(), candidate=why not in run_files.STOP_EVALUATIONS)

    def summary(self, changes: Mapping[str, Any] | None = None) -> None:
        """summary.json and the tracker's summary, with these fields (uvb_lab/run/summary.py) changed first."""
        self.state.summary.write(changes)
