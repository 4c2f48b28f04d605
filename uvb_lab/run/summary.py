"""summary.json: the one place that names its fields, their JSON types, which carry across a resume, and how the
file is read and written.

A run changes its summary through one RunSummary (below), which the training writes after every evaluation; the launcher (skip, continue, exit
code), uvb-report (its tables and runs.csv), the figures' titles and the trackers read it. The values are plain
JSON values, never enum members or objects: the checkpoint holds the summary too, and torch.load(weights_only=True)
reads plain values only. A field added since a summary was written is absent from it (None where read with .get).
Read back, a summary is data (a folder may be anyone's): `read` and `checked` hold it to TYPES before any reader uses it.
"""

import json
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from uvb_lab.run import records
from uvb_lab.run.files import SUMMARY, RunStatus, jsonable, write_atomic

# -- Which run this is: this command's settings (a resumed run writes them from its own config).
STATUS = "status"  # a uvb_lab.run.files.RunStatus value: running, finished, unscored (no finite last loss), failed, ...
MODEL = "model"  # run.model: the conf/model/ option
DATASET = "dataset"  # run.data: the conf/data/ option
SIGMA = "sigma"  # the noise's standard deviation
DECODER = "decoder"  # the likelihood's name of a model with a decoder (gaussian, laplace); None for DEEN
NUM_PARAMS = "num_params"
EPOCHS = "epochs"  # trainer.epochs: how far the run was asked to go

# -- How far it got: a resumed run carries these on from its checkpoint (uvb_lab/run/state.py).
EPOCHS_DONE = "epochs_done"
STEPS_DONE = "steps_done"
TRAIN_LOSS = "train_loss"  # the mean training loss of the last pass
TEST_LOSS = "test_loss"  # of the last evaluation; val_loss likewise where a validation split is held out
BEST_TEST_LOSS = "best_test_loss"  # the least test_loss of the evaluations an uninterrupted run also makes
WALL_TIME_S = "wall_time_s"  # seconds of training over every attempt
NONFINITE_STEPS_SKIPPED = "nonfinite_steps_skipped"
SAMPLES_PER_S = "samples_per_s"  # of the last pass
PROGRESS = (EPOCHS_DONE, STEPS_DONE, TRAIN_LOSS, TEST_LOSS, BEST_TEST_LOSS, WALL_TIME_S, NONFINITE_STEPS_SKIPPED, SAMPLES_PER_S)
FIGURES_DONE = "figures_done"  # False while the figures of a finished run are drawn; absent in runs made before it

# -- An evaluation's numbers (uvb_lab/evaluate.py), for the test split; val_... likewise.
VAL_LOSS = "val_loss"
TEST_DENOISING_LOSS = "test_denoising_loss"
TEST_KL_ON_Y, TEST_RECON_ON_Y = "test_kl_on_y", "test_recon_on_y"  # a VAE's or UVB's ELBO terms on the noisy y
TEST_KL_ON_X, TEST_RECON_ON_X = "test_kl_on_x", "test_recon_on_x"  # the same on the clean x
TEST_BAYES_RISK = "test_bayes_risk"  # the exact denoiser's loss on the same pairs, where the distribution is known
TEST_RISK_RATIO = "test_risk_ratio"  # test_denoising_loss / test_bayes_risk (1 is optimal), where that is known
TEST_DECODER_DENOISING_LOSS = "test_decoder_denoising_loss"  # a decoder's ||x - mu_y(z ~ q(z|y))||^2 (UVB, the VAE)
TEST_PRECISION_CHECK = "test_precision_check"  # a bf16 evaluation's relative difference from fp32 on its first images

# -- What the run is compared with, written at its start.
TEST_LINEAR_RISK = "test_linear_risk"  # the Wiener filter's on the same noisy images (uvb_lab/linear_baseline.py)
# The training set's Bayes denoiser's ||x - x_hat(y)||^2 on the same noisy images (uvb_lab/empirical_prior.py)
TEST_EMPIRICAL_PRIOR_LOSS = "test_empirical_prior_loss"
TEST_NOISE_FINGERPRINT = "test_noise_fingerprint"  # which noisy test images it was scored on (uvb_lab/paired_noise.py)
# Which training batches it saw: a digest of the first batches' indices and noise (uvb_lab/training_stream.py); equal
# for every model at one seed, dataset and batch size. None for a run continued from a checkpoint older than the stream.
TRAIN_STREAM_FINGERPRINT = "train_stream_fingerprint"
AT_START = (TRAIN_STREAM_FINGERPRINT,)  # written at the run's start and carried on by a resumed run (None if it has none)
BAYES_RISK_MONTE_CARLO, BAYES_RISK_MONTE_CARLO_SE = "bayes_risk_monte_carlo", "bayes_risk_monte_carlo_se"

# -- Where its numbers came from (uvb_lab/run/provenance.py).
GIT_COMMIT = "git_commit"
PACKAGE_VERSIONS = "package_versions"  # {package: version or None}
PYTHON_VERSION = "python_version"
PRECISION = "precision"  # the arithmetic used: fp32, tf32, bf16, ...
THREADS = "threads"
DEVICE = "device"
DEVICE_NAME = "device_name"


def for_split(split: str, field: str) -> str:
    """A test_... field's name for another split: for_split("val", TEST_LOSS) is "val_loss"."""
    return f"{split}_{field.removeprefix('test_')}"


# The JSON types a reader may rely on, by field; None where a value was not measured or is not recorded (the
# provenance fields are absent from summaries written before uvb-lab recorded them).
NUMBER = (int, float)
OPTIONAL_NUMBER = (*NUMBER, type(None))
TYPES: dict[str, tuple[type, ...]] = {
    MODEL: (str,),
    DATASET: (str,),
    SIGMA: NUMBER,
    STATUS: (str,),
    DECODER: (str, type(None)),
    EPOCHS: (int, type(None)),
    EPOCHS_DONE: (int, type(None)),
    STEPS_DONE: (int, type(None)),
    NUM_PARAMS: (int, type(None)),
    TRAIN_LOSS: OPTIONAL_NUMBER,
    TEST_LOSS: OPTIONAL_NUMBER,
    BEST_TEST_LOSS: OPTIONAL_NUMBER,
    TEST_DENOISING_LOSS: OPTIONAL_NUMBER,
    TEST_KL_ON_Y: OPTIONAL_NUMBER,
    TEST_KL_ON_X: OPTIONAL_NUMBER,
    TEST_RECON_ON_Y: OPTIONAL_NUMBER,
    TEST_RECON_ON_X: OPTIONAL_NUMBER,
    TEST_LINEAR_RISK: OPTIONAL_NUMBER,
    TEST_EMPIRICAL_PRIOR_LOSS: OPTIONAL_NUMBER,
    TEST_BAYES_RISK: OPTIONAL_NUMBER,
    TEST_NOISE_FINGERPRINT: (str, type(None)),
    TRAIN_STREAM_FINGERPRINT: (str, type(None)),
    WALL_TIME_S: OPTIONAL_NUMBER,
    SAMPLES_PER_S: OPTIONAL_NUMBER,
    NONFINITE_STEPS_SKIPPED: (int, type(None)),
    GIT_COMMIT: (str, type(None)),
    PACKAGE_VERSIONS: (dict, type(None)),
    PYTHON_VERSION: (str, type(None)),
    PRECISION: (str, type(None)),
    THREADS: (int, type(None)),
    DEVICE: (str, type(None)),
    DEVICE_NAME: (str, type(None)),
    VAL_LOSS: OPTIONAL_NUMBER,
    BAYES_RISK_MONTE_CARLO: OPTIONAL_NUMBER,
    BAYES_RISK_MONTE_CARLO_SE: OPTIONAL_NUMBER,
    FIGURES_DONE: (bool, type(None)),
    TEST_RISK_RATIO: OPTIONAL_NUMBER,
    TEST_DECODER_DENOISING_LOSS: OPTIONAL_NUMBER,
    TEST_PRECISION_CHECK: OPTIONAL_NUMBER,
}
# Every test_... field has its val_... twin, measured the same way where data.val_fraction holds a validation split out.
TYPES |= {for_split("val", key): types for key, types in TYPES.items() if key.startswith("test_")}
REQUIRED = (MODEL, DATASET, SIGMA)  # a summary without them names no run
COUNTS = (EPOCHS, EPOCHS_DONE, STEPS_DONE, NUM_PARAMS, NONFINITE_STEPS_SKIPPED, THREADS)  # integers >= 0 where present


def start(status: str, model: str, dataset: str, sigma: float, decoder: str | None, num_params: int, epochs: int) -> dict[str, Any]:
    """The summary of a run about to start: which run it is, and no progress yet."""
    return {
        STATUS: status,
        MODEL: model,
        DATASET: dataset,
        SIGMA: sigma,
        DECODER: decoder,
        NUM_PARAMS: num_params,
        EPOCHS: epochs,
        EPOCHS_DONE: 0,
        STEPS_DONE: 0,
        TRAIN_LOSS: None,
        TEST_LOSS: None,
        BEST_TEST_LOSS: None,
        WALL_TIME_S: 0.0,
        NONFINITE_STEPS_SKIPPED: 0,
    }


class RunSummary:
    """The summary of the run in progress: the one object through which summary.json changes.

    A field it sets is one of TYPES (a KeyError otherwise: a new field is declared above first); `write` puts the
    whole summary into run_dir's summary.json and hands it to the listeners (the tracker's summary). What a resumed
    run carries on from its checkpoint's summary is `carry_on`'s rule. The fields are plain JSON values, so the
    checkpoint holds them as they are (as_dict).
    """

    def __init__(self, fields: Mapping[str, Any]):
        self._fields: dict[str, Any] = {}
        self.update(fields)
        self._run_dir: Path | None = None
        self._listeners: list[Callable[[dict[str, Any]], None]] = []

    @classmethod
    def as_recorded(cls, fields: Mapping[str, Any]) -> "RunSummary":
        """A run's summary as its folder holds it (summary.json, or its checkpoint's), to change a finished run's: taken
        as it is, the run's own record, fields an older uvb-lab wrote included (as carry_on takes a checkpoint's)."""
        summary = cls({})
        summary.reset_to(fields)
        return summary

    def __getitem__(self, key: str) -> Any:
        return self._fields[key]

    def __contains__(self, key: object) -> bool:
        return key in self._fields

    def get(self, key: str, default: Any = None) -> Any:
        return self._fields.get(key, default)

    def as_dict(self) -> dict[str, Any]:
        """A copy of the fields: what the checkpoint holds and uvb_lab.train.train returns."""
        return dict(self._fields)

    def update(self, changes: Mapping[str, Any], measured: tuple[str, ...] = ()) -> None:
        """These fields set, in memory (`write` writes them). measured: prefixes under which an undeclared field is
        taken as a measured number (an evaluation's test_... of a user's own model's test_terms)."""
        unknown = [key for key, value in changes.items()
                   if key not in TYPES and not (key.startswith(measured) and records.is_number(value))]
        if unknown:
            raise KeyError(f"summary.json has no field {', '.join(map(repr, unknown))}: declare it in uvb_lab/run/summary.py's TYPES")
        self._fields.update(changes)

    def count(self, key: str) -> None:
        """One more of a counting field (NONFINITE_STEPS_SKIPPED)."""
        self.update({key: self._fields[key] + 1})

    def evaluated(self, numbers: Mapping[str, float], step: int, wall_time_s: float, candidate: bool) -> None:
        """An evaluation's numbers at step; candidate: an evaluation an uninterrupted run also makes, whose test loss
        may be the best so far (one made because the run was stopped is not)."""
        # uvb-lab's models' numbers are declared above; a model of a user's own may add test terms of its own.
        self.update({**numbers, STEPS_DONE: step, WALL_TIME_S: wall_time_s}, measured=("test_", "val_"))
        best, test_loss = self._fields.get(BEST_TEST_LOSS), numbers.get(TEST_LOSS)  # none where trainer.evaluate_test=false
        if candidate and test_loss is not None and (best is None or test_loss < best):
            self._fields[BEST_TEST_LOSS] = test_loss

    def carry_on(self, saved: Mapping[str, Any]) -> None:
        """Continue from a checkpoint's summary: this command's settings stay, the progress (PROGRESS) and what the run
        started with (AT_START, None where it predates a field) come from saved, as does any field this one lacks
        (taken as it was saved: a checkpoint's summary is the run's own record)."""
        self._fields.update({k: v for k, v in saved.items() if k not in self._fields or k in PROGRESS})
        self._fields.update({k: saved.get(k) for k in AT_START})

    def reset_to(self, fields: Mapping[str, Any]) -> None:
        """The summary as it was (at the last checkpoint), after a write that failed."""
        self._fields = dict(fields)

    def attach(self, run_dir: Path, *listeners: Callable[[dict[str, Any]], None]) -> None:
        """From now on `write` writes run_dir's summary.json and calls each listener with the fields."""
        self._run_dir, self._listeners = Path(run_dir), list(listeners)

    def write(self, changes: Mapping[str, Any] | None = None) -> None:
        """summary.json and the listeners, with these fields changed first."""
        self.update(changes or {})
        if self._run_dir is None:
            raise RuntimeError("RunSummary.write before attach: it has no run folder yet")
        write(self._run_dir, self._fields)
        for listener in self._listeners:
            listener(self.as_dict())


def checked(summary: Any, path: Path) -> dict[str, Any]:
    """A summary.json's value as readers may rely on it; records.RecordError naming path and the first field that is not.

    Each field of TYPES holds its type; the run is named (REQUIRED), its status is a RunStatus, sigma is a finite number
    > 0 and the COUNTS integers >= 0: a summary otherwise names no run a report could place. A measured number (a
    loss, a risk, a time, also in a field added later) may be null where it was not measured or diverged, and a
    number that is not finite (NaN, inf, or beyond float32's range) is read as null too: what uvb-train writes for
    a diverged loss (run/files.py), so a diverged run is shown as one rather than refused.
    """
    if not isinstance(summary, dict):
        raise records.RecordError(f"{path} is not a summary (a JSON object of fields)")
    for key in REQUIRED:
        if key not in summary:
            raise records.RecordError(f"{path} has no {key!r}: it names no run")

    def refuse(key: str, expected: str) -> records.RecordError:
        return records.RecordError(f"{path}: {key!r} is {records.shown(summary[key])}, not {expected}")

    for key, types in TYPES.items():
        value = summary.get(key)
        if key in summary and (not isinstance(value, types) or (isinstance(value, bool) and bool not in types)):
            raise refuse(key, f"a {' or '.join(t.__name__ for t in types)}")
    if summary.get(STATUS) is not None and summary[STATUS] not in {status.value for status in RunStatus}:
        raise refuse(STATUS, f"one of {', '.join(status.value for status in RunStatus)}")
    if not (records.is_finite(summary[SIGMA]) and summary[SIGMA] > 0):
        raise refuse(SIGMA, "a finite number > 0")
    for key in COUNTS:
        if summary.get(key) is not None and not records.is_count(summary[key]):
            raise refuse(key, f"an integer from 0 to {records.LARGEST_COUNT}")
    for name, version in (summary.get(PACKAGE_VERSIONS) or {}).items():
        if not isinstance(version, str | None):
            raise records.RecordError(f"{path}: {PACKAGE_VERSIONS!r} gives {records.shown(name)} as {records.shown(version)}, not a version string")
    return {key: records.measured(value) if records.is_number(value) and key != SIGMA and key not in COUNTS else value
            for key, value in summary.items()}


def write(run_dir: Path, summary: Mapping[str, Any]) -> None:
    """summary.json, atomically (a kill leaves the old file or the new one)."""
    text = json.dumps({k: jsonable(v) for k, v in summary.items()}, indent=2) + "\n"
    write_atomic(Path(run_dir) / SUMMARY, lambda tmp: tmp.write_text(text))


def read(run_dir: Path) -> dict[str, Any]:
    """summary.json, checked; FileNotFoundError where there is none, records.RecordError where it is not a summary
    (run/folder.py's read_summary_or_checkpoint falls back to a checkpoint's instead)."""
    path = Path(run_dir) / SUMMARY
    return checked(records.read_json(path), path)
