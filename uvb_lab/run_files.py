"""The files a run leaves in its folder, and nothing else: what the report and later tools read.

    .hydra/             the resolved config (Hydra)
    metrics.jsonl       one row per finished epoch
    summary.json        the latest state of the run, rewritten after every epoch (status: running,
                        finished or failed), so a report can tell finished runs from the rest
    checkpoints/last.pt the model and optimizer after the latest epoch
"""

import json
import math
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import torch

METRICS = "metrics.jsonl"
SUMMARY = "summary.json"
CHECKPOINT = Path("checkpoints") / "last.pt"


def _jsonable(value: Any) -> Any:
    # JSON has no NaN or infinity; a diverged loss is recorded as null rather than producing invalid JSON.
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value


def write_atomic(path: Path, write) -> None:
    """Write through a temporary file and rename it over the target, so a kill never leaves half a file."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp")
    write(tmp)
    os.replace(tmp, path)


def append_metrics(run_dir: Path, row: Mapping[str, Any]) -> None:
    with open(run_dir / METRICS, "a") as f:
        f.write(json.dumps({k: _jsonable(v) for k, v in row.items()}) + "\n")


def read_metrics(run_dir: Path) -> list[dict[str, Any]]:
    path = Path(run_dir) / METRICS
    if not path.is_file():
        return []
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


def write_summary(run_dir: Path, summary: Mapping[str, Any]) -> None:
    text = json.dumps({k: _jsonable(v) for k, v in summary.items()}, indent=2) + "\n"
    write_atomic(run_dir / SUMMARY, lambda tmp: tmp.write_text(text))


def read_summary(run_dir: Path) -> dict[str, Any]:
    return json.loads((Path(run_dir) / SUMMARY).read_text())


def save_checkpoint(run_dir: Path, state: Mapping[str, Any]) -> Path:
    path = run_dir / CHECKPOINT
    write_atomic(path, lambda tmp: torch.save(dict(state), tmp))
    return path


def load_checkpoint(path: Path, map_location: str | torch.device = "cpu") -> dict[str, Any]:
    # weights_only: a checkpoint is tensors and plain values, never code to run.
    return torch.load(path, map_location=map_location, weights_only=True)
