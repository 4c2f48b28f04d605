"""What a run carries across a resume besides the model, Adam and the global random generators: the TrainState.

A checkpoint (uvb_lab/run/checkpoint.py, which says what it holds) is the model's weights, Adam's state and every
global random generator, plus a TrainState's state_dict: the training stream (the data order and the training noise,
uvb_lab/training_stream.py), where in the training set the run is, the loss accumulators of its epoch and of its
current training-curve window, the summary so far, and the W&B run id. Restored, a run continues to the last digit
as if it had never stopped.
"""

from dataclasses import dataclass, field
from typing import Any

import torch

from uvb_lab.run.summary import RunSummary
from uvb_lab.training_stream import TrainingStream

SUMMARY_KEY = "summary"  # the run's summary so far, in state_dict() and so in a checkpoint
TRAIN_STREAM_KEY = "train_stream"  # the training stream's generator; None in checkpoints from before it (legacy.py)


def _zero(device: torch.device | str) -> torch.Tensor:
    return torch.zeros((), device=device)


@dataclass
class TrainState:
    device: torch.device
    stream: TrainingStream  # the data order and the training noise
    step: int = 0  # optimizer steps done
    epochs_done: int = 0
    batches_done: int = 0  # of the current epoch
    order: torch.Tensor | None = None  # the current epoch's order of the training images
    loss_sum: torch.Tensor = None  # the current epoch's training losses, summed on the device (no GPU wait per step)
    losses_summed: int = 0
    window_sum: torch.Tensor = None  # the same for the steps since the last training-curve row
    window_count: int = 0
    summary: RunSummary = field(default_factory=lambda: RunSummary({}))  # summary.json's fields, changed only through it
    wandb_run_id: str | None = None

    def __post_init__(self) -> None:
        self.loss_sum = _zero(self.device) if self.loss_sum is None else self.loss_sum
        self.window_sum = _zero(self.device) if self.window_sum is None else self.window_sum

    def start_epoch(self, num_images: int) -> None:
        """A fresh random order of the training set, and fresh epoch accumulators; a resumed epoch keeps its own."""
        if self.batches_done == 0:
            self.order = self.stream.order(num_images, self.device)
            self.loss_sum, self.losses_summed = _zero(self.device), 0

    def add_loss(self, loss: torch.Tensor) -> None:
        self.loss_sum += loss
        self.losses_summed += 1
        self.window_sum += loss
        self.window_count += 1

    def take_window(self) -> float:
        """The mean training loss since the last call (nan if every step was skipped), and a new window."""
        mean = self.window_sum.item() / self.window_count if self.window_count else float("nan")
        self.window_sum, self.window_count = _zero(self.device), 0
        return mean

    def epoch_loss(self) -> float:
        """The current epoch's mean training loss; nan where every step was skipped."""
        return self.loss_sum.item() / self.losses_summed if self.losses_summed else float("nan")

    def state_dict(self) -> dict[str, Any]:
        return {
            TRAIN_STREAM_KEY: self.stream.state_dict(),
            "step": self.step,
            "epochs_done": self.epochs_done,
            "batches_done": self.batches_done,
            "order": self.order if self.batches_done else None,
            "loss_sum": self.loss_sum,
            "losses_summed": self.losses_summed,
            "window_sum": self.window_sum,
            "window_count": self.window_count,
            SUMMARY_KEY: self.summary.as_dict(),
            "wandb_run_id": self.wandb_run_id,
        }

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Continue from a checkpoint's state (older formats upgraded on reading: uvb_lab/run/legacy.py); the summary
        keeps this command's settings, takes the progress and what the run started with (None where it predates a field)."""
        self.stream.load_state_dict(state[TRAIN_STREAM_KEY])
        self.step, self.epochs_done, self.batches_done = state["step"], state["epochs_done"], state["batches_done"]
        self.order = state["order"].to(self.device) if state["order"] is not None else None
        self.loss_sum, self.losses_summed = state["loss_sum"].to(self.device), state["losses_summed"]
        self.window_sum, self.window_count = state["window_sum"].to(self.device), state["window_count"]
        self.summary.carry_on(state[SUMMARY_KEY])
        self.wandb_run_id = state["wandb_run_id"]
