"""Run folders written by hand for the report's tests: summary.json, identity.json, metrics.jsonl, as uvb-train
leaves them, in milliseconds and without training anything."""

import json
import os
from pathlib import Path
from typing import Any

from uvb_lab.report.settings import SIGMA_TABLE_EXPERIMENTS, TABLES_4_5_EXPERIMENT, table_settings
from uvb_lab.run.identity import digest
from uvb_lab.run.legacy import FORMAT_VERSION


def table_identity(model: str, dataset: str, sigma: float, experiment: str | None = None, **changes: Any) -> dict[str, Any]:
    """The identity of the paper table's run of this model, dataset and sigma (or of `+experiment=experiment`'s run),
    with changes ({"trainer.lr": 0.001})."""
    experiment = experiment or (TABLES_4_5_EXPERIMENT if model in ("vae", "uvb_laplace") else SIGMA_TABLE_EXPERIMENTS[dataset])
    identity, _ = table_settings(experiment, model, sigma)
    return {**identity, **changes}


def write_run(root: Path, name: str, mtime: float, identity: dict[str, Any] | None | str = "table",
              metrics: list[dict[str, Any]] | None = None, **summary: Any) -> Path:
    """A run folder root/name whose summary.json was written at mtime; identity "table": the paper table's
    settings of its model, dataset and sigma; a dict: that identity; None: no identity.json.

    Like today's runs it records the fingerprint of its noisy test images, one per dataset and sigma (every model
    scored on the same images); test_noise_fingerprint=None makes a run from before paired evaluation, which has none."""
    folder = root / name
    folder.mkdir(parents=True)
    summary = {"status": "finished", "dataset": "mnist", "epochs": 400, "epochs_done": 400, **summary}
    summary.setdefault("test_noise_fingerprint", f"{summary['dataset']}-sigma{summary.get('sigma')}")
    if summary["test_noise_fingerprint"] is None:
        del summary["test_noise_fingerprint"]
    if identity == "table":
        identity = table_identity(summary["model"], summary["dataset"], summary["sigma"])
    if identity is not None:
        record = {"format_version": FORMAT_VERSION, "digest": digest(identity), "identity": identity}
        (folder / "identity.json").write_text(json.dumps(record))
    if metrics is not None:
        (folder / "metrics.jsonl").write_text("".join(json.dumps(row) + "\n" for row in metrics))
    (folder / "summary.json").write_text(json.dumps(summary))
    os.utime(folder / "summary.json", (mtime, mtime))
    return folder
