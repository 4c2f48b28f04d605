"""summary.json: the one place that names its fields, their JSON types, which carry across a resume, and how the
file is read and written.

A run rewrites its summary after every evaluation (uvb_lab/run/recorder.py); the launcher (skip, continue, exit
code), uvb-report (its tables and runs.csv), the figures' titles and the trackers read it. The values are plain
JSON values, never enum members or objects: the checkpoint holds the summary too, and torch.load(weights_only=True)
reads plain values only. A field added since a summary was written is absent from it (None where read with .get).
Read back, a summary is data (a folder may be anyone's): `read` and `checked` hold it to TYPES before any reader uses it.
"""

import json
from collections.abc import Mapping
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
}
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
