"""TensorBoard as a tracker (logger=tensorboard, and half of logger=default)."""

import json
import logging
import math
from collections.abc import Collection, Mapping
from pathlib import Path
from typing import Any

from uvb_lab.run.identity import is_identity_key
from uvb_lab.run.summary import BEST_TEST_LOSS, NUM_PARAMS, STEPS_DONE, TEST_LOSS, TRAIN_LOSS, VAL_LOSS, WALL_TIME_S
from uvb_lab.trackers.guard import GuardedTracker, guarded

log = logging.getLogger(__name__)

TENSORBOARD_FOLDER = "tensorboard"  # RUN_DIR/tensorboard/: one TensorBoard run per run folder
# RUN_DIR/tensorboard/hparams/: the run's row of the HPARAMS table (its session), apart from the curves. TensorBoard
# makes every scalar of a session's run and of the runs below it a metric column, sorted by name, and shows the
# first five: beside the curves (best_test_loss, epoch, epoch_time_s, lr, num_params) test_loss was not among them.
HPARAMS_FOLDER = "hparams"
# summary.json values that are no per-step metric: TensorBoard gets them as scalars (SCALARS shows them).
SUMMARY_SCALARS = (BEST_TEST_LOSS, NUM_PARAMS, WALL_TIME_S)
# The HPARAMS table's metric columns: the run's results from summary.json. Sorted as TensorBoard sorts them, the
# first five (shown by default) hold test_loss, and val_loss where a split is held out.
RESULTS = (BEST_TEST_LOSS, NUM_PARAMS, TEST_LOSS, TRAIN_LOSS, VAL_LOSS, WALL_TIME_S)


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


def identity_hparams(config: Mapping[str, Any], copies: Collection[str] = ()) -> dict[str, str | int | float]:
    """The run's identity keys (uvb_lab/run/identity.py) as TensorBoard hyperparameters, by flat dotted key.

    TensorBoard's hparams take numbers, strings and booleans only (a list is refused, None is dropped), so
    numbers stay numbers and the rest is written as JSON text: "[4, 8]", "null", "true" (torch would make a
    boolean 1.0). The config may be nested (as the loop passes it) or already flat. copies: keys whose value is
    an interpolation of another key (model.sigma: ${sigma}), left out: the same number in two columns.
    """
    hparams: dict[str, str | int | float] = {}
    for key, value in flatten(config).items():
        if key.split(".")[0] == "hydra" or key in NOT_HPARAMS or key.endswith("._partial_") or key in copies:
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

    `tensorboard --logdir multirun/<sweep>` shows every run of the sweep: SCALARS (each metric at its step, in
    the run `<run folder>/tensorboard`) and HPARAMS (one row per run, named by the run: its identity keys,
    filterable, beside its results, RESULTS, from RUN_DIR/tensorboard/hparams/). The hyperparameters are written
    when the run starts, so a run killed before its end still has its row; the results fill in as summary.json
    is written. No experiment summary is written: TensorBoard would take the first run's for every run (its
    hyperparameters only: a DEEN run's would hide UVB's latent_dim); without one it gathers those of all runs.
    A resumed run appends a new event file to the same folders, and its first logged step hides what the
    stopped process had logged from that step on (a SessionLog START, as SummaryWriter's purge_step writes):
    the steps done again after the checkpoint are not drawn twice.
    """

    label = "TensorBoard"

    def __init__(self, run_dir: Path, name: str, config: Mapping[str, Any], run_id: str | None = None, copies: Collection[str] = ()):
        self.writer = self.results = None
        self.folder = Path(run_dir) / TENSORBOARD_FOLDER
        self._step = 0
        self._resumed: set[str] = set()  # the writers yet to mark, at their first step, that a stopped run goes on
        with self._guard("starting the TensorBoard writer failed"):
            from tensorboard.plugins.hparams import plugin_data_pb2
            from torch.utils.tensorboard import SummaryWriter
            from torch.utils.tensorboard.summary import hparams

            for writer, folder in (("writer", self.folder), ("results", self.folder / HPARAMS_FOLDER)):
                if any(folder.glob("events.out.tfevents.*")):
                    self._resumed.add(writer)
                setattr(self, writer, SummaryWriter(log_dir=str(folder)))
            _, session_start, _ = hparams(identity_hparams(config, copies), {})
            # group_name: the HPARAMS row is named by the run (not `<run folder>/tensorboard/hparams`, cut short)
            plugin = session_start.value[0].metadata.plugin_data
            content = plugin_data_pb2.HParamsPluginData.FromString(plugin.content)
            content.session_start_info.group_name = name
            plugin.content = content.SerializeToString()
            self.results.file_writer.add_summary(session_start)
            self.results.flush()

    @property
    def run_id(self) -> str | None:
        return None

    @property
    def on(self) -> bool:
        return self.writer is not None

    def _off(self) -> None:
        writers, self.writer, self.results = (self.writer, self.results), None, None
        for writer in writers:
            if writer is not None:
                try:
                    writer.close()
                except Exception:  # noqa: BLE001 - already off
                    pass

    def _scalars(self, which: str, values: Mapping[str, Any], step: int, resumes: bool = True) -> None:
        writer = getattr(self, which)
        if resumes and which in self._resumed:
            from tensorboard.compat.proto.event_pb2 import Event, SessionLog

            writer.file_writer.add_event(Event(step=step, session_log=SessionLog(status=SessionLog.START)))
            self._resumed.discard(which)
        for key, value in values.items():
            if key != "step" and _is_number(value) and math.isfinite(value):
                writer.add_scalar(key, float(value), global_step=step)
        writer.flush()  # every row on disk at once: a killed run keeps what it logged

    @guarded("writing scalars failed")
    def log(self, metrics: Mapping[str, Any], step: int) -> None:
        self._step = max(self._step, step)
        self._scalars("writer", metrics, step)

    @guarded("writing the summary failed")
    def log_summary(self, summary: Mapping[str, Any]) -> None:
        """best_test_loss, num_params and wall_time_s as scalars at the run's step; RESULTS as the HPARAMS columns."""
        step = summary.get(STEPS_DONE)
        step = int(step if _is_number(step) else self._step)
        if any(key in summary for key in SUMMARY_SCALARS):
            # before the first log() of a resumed run these sit at its checkpoint's step: the curves go on from the next
            self._scalars("writer", {key: summary[key] for key in SUMMARY_SCALARS if key in summary}, step, resumes=False)
        self._scalars("results", {key: summary[key] for key in RESULTS if key in summary}, step)

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
                self.results.file_writer.add_summary(session_end)
        self._off()
