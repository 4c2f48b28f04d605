"""Weights & Biases as a tracker (logger=wandb, and half of logger=default)."""

import logging
import os
from collections.abc import Collection, Mapping
from pathlib import Path
from typing import Any, Literal

from uvb_lab.trackers.guard import GuardedTracker, guarded

log = logging.getLogger(__name__)

# Metric rows from the loop: W&B keeps their history and computes their summary (define_metric), so the
# summary.json values of these keys are not written over them.
HISTORY_PREFIXES = ("train_", "test_")
HISTORY_KEYS = ("epoch", "step", "samples_per_s", "epoch_time_s")


class WandbLogger(GuardedTracker):
    """Weights & Biases, offline by default: no account, no network; `wandb sync RUN_DIR/wandb/offline-run-*` uploads later.

    The config is logged as given (nested: W&B shows model.latent_dim, trainer.lr, ... and filters by them).
    Metrics are logged at W&B step = optimizer steps; test metrics are drawn against epoch, and the run's
    summary holds the last value of each metric, test_loss also its minimum (test_loss.min), and
    summary.json's other values (status, num_params, best_test_loss, ...).
    """

    label = "W&B"

    def __init__(
        self,
        run_dir: Path,
        name: str,
        config: Mapping[str, Any],
        *,
        project: str,
        entity: str | None,
        mode: Literal["online", "offline", "disabled"],
        group: str | None,
        tags: list[str] | None,
        job_type: str,
        run_id: str | None = None,  # not a setting: the W&B run a resumed run continues (the checkpoint's), given by train
        copies: Collection[str] = (),  # W&B keeps the whole config, interpolated copies (model.sigma) included
    ):
        if mode not in ("online", "offline", "disabled"):
            raise ValueError(f"logger.mode must be online, offline or disabled, got {mode!r}")
        if mode != "online":
            # Without a network, W&B's crash reporter would only stall trying to send.
            os.environ.setdefault("WANDB_ERROR_REPORTING", "false")
        self.run = None
        self._run_id = run_id  # kept after a failure, so a resumed run still continues under this id
        self._history: set[str] = set()  # keys logged with log(): their summary is W&B's (define_metric)
        with self._guard("wandb.init failed"):
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
        if self.run is None:
            return
        try:
            self._define_metrics()
        except Exception as error:  # noqa: BLE001 - only the charts' defaults; the run logs on (not a tracker failure)
            log.warning("W&B: define_metric failed (%r); metrics are logged against W&B's step", error)

    def _define_metrics(self) -> None:
        # Training rows are drawn against W&B's Step (= optimizer steps: log() passes step), evaluations against
        # epoch (they happen at epoch ends; "epoch" is in every row). A summary is the last value, but test_loss
        # keeps its last and its least: test_loss.last (final) and test_loss.min (best) in the runs table.
        define = self.run.define_metric
        define("epoch")
        define("test_*", step_metric="epoch")
        define("test_loss", step_metric="epoch", summary="min,last")

    @property
    def run_id(self) -> str | None:
        return self._run_id

    @property
    def on(self) -> bool:
        return self.run is not None

    def _off(self) -> None:
        self.run = None

    def _is_history(self, key: str) -> bool:
        return key in self._history or key in HISTORY_KEYS or key.startswith(HISTORY_PREFIXES)

    @guarded("wandb log failed")
    def log(self, metrics: Mapping[str, Any], step: int) -> None:
        self._history.update(metrics)
        self.run.log(dict(metrics), step=step)

    @guarded("wandb summary update failed")
    def log_summary(self, summary: Mapping[str, Any]) -> None:
        """summary.json's single values (status, num_params, best_test_loss, ...) into the run's summary; not its
        nested ones (provenance, package versions: one column each would flood the runs table), nor the metrics
        whose summary W&B computes from their history (test_loss.last, test_loss.min, train_loss, ...)."""
        single = {key: value for key, value in summary.items() if isinstance(value, int | float | str | type(None))}
        self.run.summary.update({key: value for key, value in single.items() if not self._is_history(key)})

    @guarded("wandb image log failed")
    def log_images(self, images: Mapping[str, Path], step: int) -> None:
        import wandb

        self.run.log({key: wandb.Image(str(path)) for key, path in images.items()}, step=step)

    def finish(self, exit_code: int = 0) -> None:
        if self.run is None:
            return
        with self._guard("wandb.finish failed", at_end=True):
            self.run.finish(exit_code=exit_code)
        self._off()
