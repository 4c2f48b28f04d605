"""runs.csv and runs.jsonl: one row per run folder read, for pandas, a spreadsheet or `uvb_lab.load_runs`.

Columns: the folder, its status, model, dataset and sigma; every identity key whose value differs between the
runs read (keys all runs share say nothing about the differences and are left out); how far each run got and
how much its test loss still changed over its last epoch (uvb_lab/report/convergence.py); its final metrics; the
fingerprint of its noisy test images (runs with equal ones are paired: uvb_lab/paired_noise.py); time and speed;
where its numbers came from (commit, package versions as version_<package>, precision, threads, device); and digests to group by: of its identity, and of its identity less trainer.seed.
Numbers are numbers; a value a run does not have is an empty CSV cell (null in JSON lines).
"""

import csv
import io
import json
from collections.abc import Iterable, Sequence
from typing import Any

from uvb_lab.report.convergence import SUFFIX, last_epoch_change
from uvb_lab.report.runs import Run
from uvb_lab.report.settings import without_seed
from uvb_lab.run import identity as run_identity
from uvb_lab.run import summary as field

FIRST = ("folder", field.STATUS, field.MODEL, field.DATASET, field.SIGMA)
# Identity keys that repeat a FIRST column (run.model is the model, model.sigma follows sigma): left out where
# they equal it in every run.
REPEATS = {"run.model": field.MODEL, "run.data": field.DATASET, "sigma": field.SIGMA, "model.sigma": field.SIGMA}
PROGRESS = (field.NUM_PARAMS, field.EPOCHS, field.EPOCHS_DONE, field.STEPS_DONE)
CONVERGENCE = tuple(f"{metric}{SUFFIX}" for metric in (field.TEST_LOSS, field.TEST_DENOISING_LOSS))  # a VAE's test_loss is its ELBO
METRICS = (field.TRAIN_LOSS, field.TEST_LOSS, field.BEST_TEST_LOSS, field.TEST_DENOISING_LOSS, field.TEST_KL_ON_Y, field.TEST_RECON_ON_Y,
           field.TEST_KL_ON_X, field.TEST_RECON_ON_X)
NOISE = (field.TEST_NOISE_FINGERPRINT,)  # which noisy test images the run was scored on: equal ones are paired (paired_noise.py)
SPEED = (field.WALL_TIME_S, field.SAMPLES_PER_S, field.NONFINITE_STEPS_SKIPPED)
PROVENANCE = (field.GIT_COMMIT, field.PRECISION, field.THREADS, field.DEVICE, field.DEVICE_NAME, field.PYTHON_VERSION)
VERSIONS = ("torch", "hydra-core", "numpy", "uvb-lab")  # columns even where no run records them
DIGESTS = ("identity_digest", "settings_digest")


def _text(value: Any) -> str:
    return json.dumps(value, sort_keys=True)


def differing_keys(runs: Sequence[Run]) -> list[str]:
    """The identity keys whose value (or absence) is not the same in every run that records an identity."""
    known = [run.identity for run in runs if run.identity is not None]
    differing = []
    for key in sorted(set().union(*known)):
        if key.endswith("._partial_"):  # how Hydra builds a node (a likelihood for a sigma), not a setting
            continue
        if len({_text(identity[key]) if key in identity else None for identity in known}) == 1:
            continue
        if key in REPEATS and all(run.identity.get(key) == run.summary.get(REPEATS[key]) for run in runs if run.identity):
            continue
        differing.append(key)
    return differing


def extra_metrics(runs: Iterable[Run]) -> list[str]:
    """Final metrics of the summaries beyond METRICS (a metric added later still gets its column)."""
    found = {key for run in runs for key, value in run.summary.items()
             if key.startswith(("train_", "test_", "val_")) and isinstance(value, int | float | None)}
    return sorted(found - set(METRICS))


def columns(runs: Sequence[Run]) -> list[str]:
    versions = sorted(set(VERSIONS) | {name for run in runs for name in (run.summary.get(field.PACKAGE_VERSIONS) or {})},
                      key=lambda name: (name not in VERSIONS, VERSIONS.index(name) if name in VERSIONS else 0, name))
    return [*FIRST, *differing_keys(runs), *PROGRESS, *CONVERGENCE, *METRICS, *extra_metrics(runs), *NOISE, *SPEED, *PROVENANCE,
            *(f"version_{name}" for name in versions), *DIGESTS]


def row(run: Run, keys: Sequence[str]) -> dict[str, Any]:
    """One run's row: every column of `keys`, None where the run has no such value."""
    s = run.summary
    values: dict[str, Any] = {"folder": str(run.folder), **{key: s.get(key) for key in FIRST[1:]}}
    versions = s.get(field.PACKAGE_VERSIONS) or {}
    for key in keys:
        if key in values:
            continue
        if key.startswith("version_"):
            values[key] = versions.get(key.removeprefix("version_"))
        elif key in CONVERGENCE:
            values[key] = last_epoch_change(run.folder, key.removesuffix(SUFFIX))
        elif key in DIGESTS:
            identity = run.identity if key == "identity_digest" else run.identity and without_seed(run.identity)
            values[key] = None if identity is None else run_identity.digest(identity)
        elif run.identity is not None and key in run.identity:
            values[key] = run.identity[key]
        else:
            values[key] = s.get(key)
    return {key: values[key] for key in keys}


def runs_rows(runs: Sequence[Run]) -> list[dict[str, Any]]:
    """The rows of runs.csv, sorted by dataset, model, sigma, then the differing settings and the folder."""
    keys = columns(runs)
    differing = differing_keys(runs)
    rows = [row(run, keys) for run in runs]
    return sorted(rows, key=lambda r: (r[field.DATASET], r[field.MODEL], r[field.SIGMA], json.dumps([r[k] for k in differing], default=str),
                                       r["folder"]))


def csv_cell(value: Any) -> Any:
    """A number or text as it is; None as an empty cell; lists and booleans as JSON ([4, 8], true)."""
    if value is None:
        return ""
    if isinstance(value, bool | list | dict):
        return json.dumps(value)
    return value


def runs_csv(rows: Sequence[dict[str, Any]]) -> str:
    if not rows:
        return ""
    out = io.StringIO()
    writer = csv.DictWriter(out, list(rows[0]), lineterminator="\n")
    writer.writeheader()
    writer.writerows({key: csv_cell(value) for key, value in r.items()} for r in rows)
    return out.getvalue()


def runs_jsonl(rows: Sequence[dict[str, Any]]) -> str:
    return "".join(json.dumps(r) + "\n" for r in rows)
