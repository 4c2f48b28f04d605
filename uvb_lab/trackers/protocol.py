"""What the training loop may call on a tracker. A tracker is a mirror of the run folder that may fail.

A tracker is built by Hydra with `_partial_: true` and started by the training loop with what only the
run knows: `make_logger(run_dir=..., name=run.name, config=<the nested resolved config>, run_id=<W&B id
from the checkpoint, or None>, copies=<the keys whose value is another key's, model.sigma: ${sigma}>)`.
Then, from the loop:

    logger.log(metrics, step)          a training or evaluation row; step = optimizer steps done
    logger.log_summary(summary)        whenever summary.json is written (start, each evaluation, the end)
    logger.log_images(images, step)    PNG files by key (the figures)
    logger.finish(exit_code)           0: the run finished
    logger.run_id                      the W&B run id to keep in checkpoints (None without W&B)

None of these may raise: a tracker that breaks warns once and turns itself off (trackers/guard.py), and
training goes on with complete local files.
"""

from collections.abc import Mapping
from pathlib import Path
from typing import Any, Protocol


class Tracker(Protocol):
    """WandbLogger, TensorBoardLogger, Loggers (several at once) and NoLogger all have this shape."""

    @property
    def run_id(self) -> str | None: ...

    def log(self, metrics: Mapping[str, Any], step: int) -> None: ...

    def log_summary(self, summary: Mapping[str, Any]) -> None: ...

    def log_images(self, images: Mapping[str, Path], step: int) -> None: ...

    def finish(self, exit_code: int = 0) -> None: ...
