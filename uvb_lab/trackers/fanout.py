"""Several trackers as one: logger=default drives W&B and TensorBoard together."""

from collections.abc import Callable, Collection, Mapping
from pathlib import Path
from typing import Any

from uvb_lab.trackers.guard import tracker_guard
from uvb_lab.trackers.protocol import Tracker

LABELS = {"wandb": "W&B", "tensorboard": "TensorBoard"}


class Loggers:
    """Several trackers as one (logger=default: W&B and TensorBoard). Each fails on its own, the others go on.

    `wandb` and `tensorboard` are the trackers' partial constructors (null: leave that one out).
    """

    def __init__(
        self,
        run_dir: Path,
        name: str,
        config: Mapping[str, Any],
        run_id: str | None = None,  # not a setting: the W&B run a resumed run continues, given by train
        *,
        wandb: Callable[..., Tracker] | None,  # conf/logger/default.yaml's; None (logger.wandb=null): off
        tensorboard: Callable[..., Tracker] | None,
        copies: Collection[str] = (),  # not a setting: the config keys that only copy another (model.sigma), given by train
    ):
        self.trackers: list[Tracker] = []
        for key, make in (("wandb", wandb), ("tensorboard", tensorboard)):
            if make is None:
                continue
            # A tracker that cannot start leaves the others running (nothing of it to switch off).
            with tracker_guard(LABELS[key], "it could not start", off=lambda: None):
                self.trackers.append(make(run_dir=run_dir, name=name, config=config, run_id=run_id, copies=copies))

    @property
    def run_id(self) -> str | None:
        return next((tracker.run_id for tracker in self.trackers if getattr(tracker, "run_id", None)), None)

    def _each(self, method: str, *args: Any, **kwargs: Any) -> None:
        # The trackers guard themselves; this is for any that does not: it is dropped from the list.
        for tracker in list(self.trackers):
            label = type(tracker).__name__
            with tracker_guard(label, f"{label}.{method} failed", off=lambda tracker=tracker: self.trackers.remove(tracker)):
                getattr(tracker, method)(*args, **kwargs)

    def log(self, metrics: Mapping[str, Any], step: int) -> None:
        self._each("log", metrics, step=step)

    def log_summary(self, summary: Mapping[str, Any]) -> None:
        self._each("log_summary", summary)

    def log_images(self, images: Mapping[str, Path], step: int) -> None:
        self._each("log_images", images, step=step)

    def finish(self, exit_code: int = 0) -> None:
        self._each("finish", exit_code=exit_code)
