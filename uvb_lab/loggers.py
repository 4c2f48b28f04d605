"""Experiment trackers. The run folder is the record; a tracker is a mirror of it that may fail.

A tracker is built by Hydra with `_partial_: true` and started by the training loop with what only the
run knows (its folder, name and config). Every call into W&B is guarded: a tracker that breaks warns
once and turns itself off, and training goes on with complete local files.
"""

import logging
import os
import warnings
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Literal

log = logging.getLogger(__name__)


class NoLogger:
    """logger=none: the run folder only."""

    def __init__(self, run_dir: Path, name: str, config: Mapping[str, Any], **_: Any):
        pass

    def log(self, metrics: Mapping[str, Any], step: int) -> None:
        pass

    def log_images(self, images: Mapping[str, Path], step: int) -> None:
        pass

    def log_summary(self, summary: Mapping[str, Any]) -> None:
        pass

    def finish(self, exit_code: int = 0) -> None:
        pass


class WandbLogger:
    """Weights & Biases, offline by default: no account, no network; `wandb sync RUN_DIR/wandb/offline-run-*` uploads later."""

    def __init__(
        self,
        run_dir: Path,
        name: str,
        config: Mapping[str, Any],
        project: str = "uvb-lab",
        entity: str | None = None,
        mode: Literal["online", "offline", "disabled"] = "offline",
        group: str | None = None,
        tags: list[str] | None = None,
        job_type: str = "train",
        run_id: str | None = None,
    ):
        if mode not in ("online", "offline", "disabled"):
            raise ValueError(f"logger.mode must be online, offline or disabled, got {mode!r}")
        if mode != "online":
            # Without a network, W&B's crash reporter would only stall trying to send.
            os.environ.setdefault("WANDB_ERROR_REPORTING", "false")
        self.run = None
        self._run_id = run_id  # kept after a failure, so a resumed run still continues under this id
        try:
            import wandb

            self.run = wandb.init(
                project=project,
                entity=entity,
                mode=mode,
                dir=str(run_dir),
                name=name,
                group=group,
                tags=list(tags or []),
                job_type=job_type,
                config=dict(config),
                id=run_id,
                resume="allow" if run_id else None,
                settings=wandb.Settings(silent=True, console="off"),
            )
            self._run_id = self.run.id
        except Exception as error:  # noqa: BLE001 - any tracker failure must leave training running
            self._disable(f"wandb.init failed ({error!r})")

    @property
    def run_id(self) -> str | None:
        return self._run_id

    def _disable(self, reason: str) -> None:
        warnings.warn(f"W&B logging is off for this run: {reason}. The run folder keeps every metric.", stacklevel=3)
        self.run = None

    def log(self, metrics: Mapping[str, Any], step: int) -> None:
        if self.run is None:
            return
        try:
            self.run.log(dict(metrics), step=step)
        except Exception as error:  # noqa: BLE001
            self._disable(f"wandb log failed ({error!r})")

    def log_images(self, images: Mapping[str, Path], step: int) -> None:
        if self.run is None:
            return
        try:
            import wandb

            self.run.log({key: wandb.Image(str(path)) for key, path in images.items()}, step=step)
        except Exception as error:  # noqa: BLE001
            self._disable(f"wandb image log failed ({error!r})")

    def log_summary(self, summary: Mapping[str, Any]) -> None:
        """The run's summary.json as W&B's run summary: status, num_params, final and best test loss."""
        if self.run is None:
            return
        try:
            self.run.summary.update({k: v for k, v in summary.items() if isinstance(v, int | float | str | type(None))})
        except Exception as error:  # noqa: BLE001
            self._disable(f"wandb summary update failed ({error!r})")

    def finish(self, exit_code: int = 0) -> None:
        if self.run is None:
            return
        try:
            self.run.finish(exit_code=exit_code)
        except Exception as error:  # noqa: BLE001
            log.warning("wandb.finish failed (%r); the run folder is complete", error)
        self.run = None
