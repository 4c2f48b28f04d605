"""Experiment trackers. The run folder is the record; a tracker is a mirror of it that may fail.

A tracker is built by Hydra with `_partial_: true` and started by the training loop with what only the
run knows: `make_logger(run_dir=..., name=run.name, config=<the nested resolved config>, run_id=<W&B id
from the checkpoint, or None>)`. Then, from the loop:

    logger.log(metrics, step)          a training or evaluation row; step = optimizer steps done
    logger.log_summary(summary)        whenever summary.json is written (start, each evaluation, the end)
    logger.log_images(images, step)    PNG files by key (the figures)
    logger.finish(exit_code)           0: the run finished
    logger.run_id                      the W&B run id to keep in checkpoints (None without W&B)

Every call is guarded: a tracker that breaks warns once and turns itself off, and training goes on with
complete local files. `Loggers` (logger=default) drives several trackers, each failing on its own.
`link_offline_runs` gathers the offline W&B runs of many run folders into one folder of links.
"""

import json
import logging
import math
import os
import warnings
from collections.abc import Callable, Iterable, Mapping
from pathlib import Path
from typing import Any, Literal

from uvb_lab.run.identity import is_identity_key

log = logging.getLogger(__name__)

TENSORBOARD_FOLDER = "tensorboard"  # RUN_DIR/tensorboard/: one TensorBoard run per run folder
# summary.json values that are no per-step metric: TensorBoard gets them as scalars (so the HPARAMS table shows them).
SUMMARY_SCALARS = ("best_test_loss", "num_params", "wall_time_s")
# Metric rows from the loop: W&B keeps their history and computes their summary (define_metric), so the
# summary.json values of these keys are not written over them.
HISTORY_PREFIXES = ("train_", "test_")
HISTORY_KEYS = ("epoch", "step", "samples_per_s", "epoch_time_s")


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def flatten(config: Mapping[str, Any], prefix: str = "") -> dict[str, Any]:
    """A nested config as flat dotted keys ("model.latent_dim"); an already flat one stays as it is."""
    flat: dict[str, Any] = {}
    for key, value in config.items():
        if isinstance(value, Mapping):
            flat.update(flatten(value, f"{prefix}{key}."))
        else:
            flat[f"{prefix}{key}"] = value
    return flat


# Identity keys left out of the hyperparameters: Hydra's build flags, and the classes that run.model and run.data
# already name (more precisely: uvb and uvb_laplace are both uvb_lab.models.UVB).
NOT_HPARAMS = ("model._target_", "data._target_")


def identity_hparams(config: Mapping[str, Any]) -> dict[str, str | int | float]:
    """The run's identity keys (uvb_lab/run/identity.py) as TensorBoard hyperparameters, by flat dotted key.

    TensorBoard's hparams take numbers, strings and booleans only (a list is refused, None is dropped), so
    numbers stay numbers and the rest is written as JSON text: "[4, 8]", "null", "true" (torch would make a
    boolean 1.0). The config may be nested (as the loop passes it) or already flat.
    """
    hparams: dict[str, str | int | float] = {}
    for key, value in flatten(config).items():
        if key.split(".")[0] == "hydra" or key in NOT_HPARAMS or key.endswith("._partial_"):
            continue
        if not (is_identity_key(key) or key in ("run.model", "run.data")):
            continue
        if _is_number(value) or isinstance(value, str):
            hparams[key] = value
        else:
            hparams[key] = json.dumps(value, default=str)
    return dict(sorted(hparams.items()))


class _Tracker:
    """What every tracker does when it fails: warn once, turn itself off."""

    label = "tracker"

    def _disable(self, reason: str) -> None:
        warnings.warn(f"{self.label} logging is off for this run: {reason}. The run folder keeps every metric.", stacklevel=3)
        self._off()

    def _off(self) -> None:
        raise NotImplementedError


class NoLogger:
    """logger=none: the run folder only."""

    def __init__(self, run_dir: Path, name: str, config: Mapping[str, Any], **_: Any):
        pass

    @property
    def run_id(self) -> str | None:
        return None

    def log(self, metrics: Mapping[str, Any], step: int) -> None:
        pass

    def log_summary(self, summary: Mapping[str, Any]) -> None:
        pass

    def log_images(self, images: Mapping[str, Path], step: int) -> None:
        pass

    def finish(self, exit_code: int = 0) -> None:
        pass


class WandbLogger(_Tracker):
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
        self._history: set[str] = set()  # keys logged with log(): their summary is W&B's (define_metric)
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
            return
        try:
            self._define_metrics()
        except Exception as error:  # noqa: BLE001 - only the charts' defaults; the run logs on
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

    def _off(self) -> None:
        self.run = None

    def _is_history(self, key: str) -> bool:
        return key in self._history or key in HISTORY_KEYS or key.startswith(HISTORY_PREFIXES)

    def log(self, metrics: Mapping[str, Any], step: int) -> None:
        if self.run is None:
            return
        try:
            self._history.update(metrics)
            self.run.log(dict(metrics), step=step)
        except Exception as error:  # noqa: BLE001
            self._disable(f"wandb log failed ({error!r})")

    def log_summary(self, summary: Mapping[str, Any]) -> None:
        """summary.json's single values (status, num_params, best_test_loss, ...) into the run's summary; not its
        nested ones (provenance, package versions: one column each would flood the runs table), nor the metrics
        whose summary W&B computes from their history (test_loss.last, test_loss.min, train_loss, ...)."""
        if self.run is None:
            return
        try:
            single = {key: value for key, value in summary.items() if isinstance(value, int | float | str | type(None))}
            self.run.summary.update({key: value for key, value in single.items() if not self._is_history(key)})
        except Exception as error:  # noqa: BLE001
            self._disable(f"wandb summary update failed ({error!r})")

    def log_images(self, images: Mapping[str, Path], step: int) -> None:
        if self.run is None:
            return
        try:
            import wandb

            self.run.log({key: wandb.Image(str(path)) for key, path in images.items()}, step=step)
        except Exception as error:  # noqa: BLE001
            self._disable(f"wandb image log failed ({error!r})")

    def finish(self, exit_code: int = 0) -> None:
        if self.run is None:
            return
        try:
            self.run.finish(exit_code=exit_code)
        except Exception as error:  # noqa: BLE001
            log.warning("wandb.finish failed (%r); the run folder is complete", error)
        self.run = None


class TensorBoardLogger(_Tracker):
    """TensorBoard event files in RUN_DIR/tensorboard/: no account, no network.

    `tensorboard --logdir multirun/<sweep>` shows every run of the sweep: SCALARS (each metric at its step)
    and HPARAMS (one row per run: its identity keys, filterable, beside its last value of every metric).
    The hyperparameters are written when the run starts, so a run killed before its end still has its row;
    metric values fill in as they are logged. No experiment summary is written: TensorBoard would take the
    first run's for every run; without one it gathers the hyperparameters and metrics of all runs. A resumed
    run appends a new event file to the same folder, and its first logged step hides what the stopped process
    had logged from that step on (a SessionLog START, as SummaryWriter's purge_step writes): the steps done
    again after the checkpoint are not drawn twice.
    """

    label = "TensorBoard"

    def __init__(self, run_dir: Path, name: str, config: Mapping[str, Any], run_id: str | None = None):
        self.writer = None
        self.folder = Path(run_dir) / TENSORBOARD_FOLDER
        self._step = 0
        self._resumed = False  # True until the first log() of a run that continues this folder's events
        try:
            self._resumed = any(self.folder.glob("events.out.tfevents.*"))
            from torch.utils.tensorboard import SummaryWriter
            from torch.utils.tensorboard.summary import hparams

            self.writer = SummaryWriter(log_dir=str(self.folder))
            _, session_start, _ = hparams(identity_hparams(config), {})
            self.writer.file_writer.add_summary(session_start)
            self.writer.flush()
        except Exception as error:  # noqa: BLE001 - any tracker failure must leave training running
            self._disable(f"starting the TensorBoard writer failed ({error!r})")

    @property
    def run_id(self) -> str | None:
        return None

    def _off(self) -> None:
        writer, self.writer = self.writer, None
        if writer is not None:
            try:
                writer.close()
            except Exception:  # noqa: BLE001 - already off
                pass

    def _scalars(self, values: Mapping[str, Any], step: int) -> None:
        for key, value in values.items():
            if key != "step" and _is_number(value) and math.isfinite(value):
                self.writer.add_scalar(key, float(value), global_step=step)
        self.writer.flush()  # every row on disk at once: a killed run keeps what it logged

    def log(self, metrics: Mapping[str, Any], step: int) -> None:
        if self.writer is None:
            return
        try:
            if self._resumed:
                from tensorboard.compat.proto.event_pb2 import Event, SessionLog

                self.writer.file_writer.add_event(Event(step=step, session_log=SessionLog(status=SessionLog.START)))
                self._resumed = False
            self._step = max(self._step, step)
            self._scalars(metrics, step)
        except Exception as error:  # noqa: BLE001
            self._disable(f"writing scalars failed ({error!r})")

    def log_summary(self, summary: Mapping[str, Any]) -> None:
        """best_test_loss, num_params and wall_time_s as scalars at the run's step: columns of the HPARAMS table."""
        if self.writer is None:
            return
        try:
            step = summary.get("steps_done")
            step = step if _is_number(step) else self._step
            self._scalars({key: summary[key] for key in SUMMARY_SCALARS if key in summary}, int(step))
        except Exception as error:  # noqa: BLE001
            self._disable(f"writing the summary failed ({error!r})")

    def log_images(self, images: Mapping[str, Path], step: int) -> None:
        if self.writer is None:
            return
        try:
            import numpy as np
            from PIL import Image

            for key, path in images.items():
                with Image.open(path) as image:
                    pixels = np.asarray(image.convert("RGB"))
                self.writer.add_image(key, pixels, global_step=step, dataformats="HWC")
            self.writer.flush()
        except Exception as error:  # noqa: BLE001
            self._disable(f"writing images failed ({error!r})")

    def finish(self, exit_code: int = 0) -> None:
        """Closes the files; a finished run (exit code 0) is marked a success in the HPARAMS table."""
        if self.writer is None:
            return
        try:
            if exit_code == 0:
                # Only a success is written: TensorBoard keeps a run's first session end, and a preempted
                # or failed run may yet be continued and finish.
                from torch.utils.tensorboard.summary import hparams

                _, _, session_end = hparams({}, {})
                self.writer.file_writer.add_summary(session_end)
        except Exception as error:  # noqa: BLE001
            log.warning("TensorBoard: writing the run's end failed (%r); its scalars are on disk", error)
        self._off()


class Loggers:
    """Several trackers as one (logger=default: W&B and TensorBoard). Each fails on its own, the others go on.

    `wandb` and `tensorboard` are the trackers' partial constructors (null: leave that one out).
    """

    def __init__(
        self,
        run_dir: Path,
        name: str,
        config: Mapping[str, Any],
        run_id: str | None = None,
        wandb: Callable[..., Any] | None = None,
        tensorboard: Callable[..., Any] | None = None,
    ):
        self.trackers: list[Any] = []
        for label, make in (("W&B", wandb), ("TensorBoard", tensorboard)):
            if make is None:
                continue
            try:
                self.trackers.append(make(run_dir=run_dir, name=name, config=config, run_id=run_id))
            except Exception as error:  # noqa: BLE001 - a tracker that cannot start leaves the others running
                warnings.warn(f"{label} logging is off for this run: it could not start ({error!r}). The run folder keeps every metric.", stacklevel=2)

    @property
    def run_id(self) -> str | None:
        return next((tracker.run_id for tracker in self.trackers if getattr(tracker, "run_id", None)), None)

    def _each(self, method: str, *args: Any, **kwargs: Any) -> None:
        for tracker in list(self.trackers):
            try:
                getattr(tracker, method)(*args, **kwargs)
            except Exception as error:  # noqa: BLE001 - the trackers guard themselves; this is for any that does not
                warnings.warn(f"{type(tracker).__name__}.{method} failed ({error!r}); that tracker is off for this run.", stacklevel=3)
                self.trackers.remove(tracker)

    def log(self, metrics: Mapping[str, Any], step: int) -> None:
        self._each("log", metrics, step=step)

    def log_summary(self, summary: Mapping[str, Any]) -> None:
        self._each("log_summary", summary)

    def log_images(self, images: Mapping[str, Path], step: int) -> None:
        self._each("log_images", images, step=step)

    def finish(self, exit_code: int = 0) -> None:
        self._each("finish", exit_code=exit_code)


def link_offline_runs(run_dirs: Iterable[Path], out_dir: Path) -> list[Path]:
    """A folder of symlinks to every offline W&B run under the given run folders (RUN_DIR/wandb/offline-run-*).

    `wandb sync OUT_DIR/*` then uploads them all and `wandb leet OUT_DIR` browses them, a whole sweep at once.
    Each link keeps its offline run's folder name (offline-run-<time>-<W&B id>: unique per run and per resume,
    and the name `wandb leet` looks for). Only where that name is taken in OUT_DIR by something else (a copied
    run folder) does the link get `~2`, `~3`, ... appended. A link already there to the same run is kept, and a
    broken one (its run folder moved) is replaced; nothing else in OUT_DIR is touched.
    Returns the links to the runs found, in the order of run_dirs.
    """
    out_dir = Path(out_dir)
    targets: list[Path] = []
    for run_dir in run_dirs:
        for offline in sorted((Path(run_dir) / "wandb").glob("offline-run-*")):
            if offline.is_dir() and offline.resolve() not in targets:
                targets.append(offline.resolve())
    if targets:  # no offline run, no folder
        out_dir.mkdir(parents=True, exist_ok=True)
    links = []
    for target in targets:
        name, copy = target.name, 1
        while True:
            link = out_dir / name
            if link.is_symlink() and link.exists() and link.resolve() == target:
                break  # made by an earlier call
            if link.is_symlink() and not link.exists():
                link.unlink()  # broken: its run folder moved or is gone
            if not link.is_symlink() and not link.exists():
                link.symlink_to(target, target_is_directory=True)
                break
            copy += 1
            name = f"{target.name}~{copy}"
        links.append(link)
    return links
