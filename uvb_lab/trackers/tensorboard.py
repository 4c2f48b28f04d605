"""TensorBoard as a tracker (logger=tensorboard, and half of logger=default)."""

import json
import logging
import math
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from uvb_lab.run.identity import is_identity_key
from uvb_lab.run.summary import BEST_TEST_LOSS, NUM_PARAMS, STEPS_DONE, WALL_TIME_S
from uvb_lab.trackers.guard import GuardedTracker, guarded

log = logging.getLogger(__name__)

TENSORBOARD_FOLDER = "tensorboard"  # RUN_DIR/tensorboard/: one TensorBoard run per run folder
# summary.json values that are no per-step metric: TensorBoard gets them as scalars (so the HPARAMS table shows them).
SUMMARY_SCALARS = (BEST_TEST_LOSS, NUM_PARAMS, WALL_TIME_S)


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


class TensorBoardLogger(GuardedTracker):
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
        with self._guard("starting the TensorBoard writer failed"):
            self._resumed = any(self.folder.glob("events.out.tfevents.*"))
            from torch.utils.tensorboard import SummaryWriter
            from torch.utils.tensorboard.summary import hparams

            self.writer = SummaryWriter(log_dir=str(self.folder))
            _, session_start, _ = hparams(identity_hparams(config), {})
            self.writer.file_writer.add_summary(session_start)
            self.writer.flush()

    @property
    def run_id(self) -> str | None:
        return None

    @property
    def on(self) -> bool:
        return self.writer is not None

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

    @guarded("writing scalars failed")
    def log(self, metrics: Mapping[str, Any], step: int) -> None:
        if self._resumed:
            from tensorboard.compat.proto.event_pb2 import Event, SessionLog

            self.writer.file_writer.add_event(Event(step=step, session_log=SessionLog(status=SessionLog.START)))
            self._resumed = False
        self._step = max(self._step, step)
        self._scalars(metrics, step)

    @guarded("writing the summary failed")
    def log_summary(self, summary: Mapping[str, Any]) -> None:
        """best_test_loss, num_params and wall_time_s as scalars at the run's step: columns of the HPARAMS table."""
        step = summary.get(STEPS_DONE)
        step = step if _is_number(step) else self._step
        self._scalars({key: summary[key] for key in SUMMARY_SCALARS if key in summary}, int(step))

    @guarded("writing images failed")
    def log_images(self, images: Mapping[str, Path], step: int) -> None:
        import numpy as np
        from PIL import Image

        for key, path in images.items():
            with Image.open(path) as image:
                pixels = np.asarray(image.convert("RGB"))
            self.writer.add_image(key, pixels, global_step=step, dataformats="HWC")
        self.writer.flush()

    def finish(self, exit_code: int = 0) -> None:
        """Closes the files; a finished run (exit code 0) is marked a success in the HPARAMS table."""
        if self.writer is None:
            return
        with self._guard("writing the run's end failed", at_end=True):
            if exit_code == 0:
                # Only a success is written: TensorBoard keeps a run's first session end, and a preempted
                # or failed run may yet be continued and finish.
                from torch.utils.tensorboard.summary import hparams

                _, _, session_end = hparams({}, {})
                self.writer.file_writer.add_summary(session_end)
        self._off()
