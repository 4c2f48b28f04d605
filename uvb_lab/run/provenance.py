"""Where a run's numbers came from: the code's commit, the packages, the arithmetic and the machine's share of it.

Recorded in summary.json, so a table of runs (uvb-report's runs.csv) can tell two runs' settings apart
from their software and hardware.
"""

import platform
import subprocess
from importlib import metadata
from pathlib import Path
from typing import Any

import torch

from uvb_lab.run.summary import DEVICE, DEVICE_NAME, GIT_COMMIT, PACKAGE_VERSIONS, PRECISION, PYTHON_VERSION, THREADS

PACKAGES = ("uvb-lab", "torch", "hydra-core", "omegaconf", "numpy", "wandb")


def git_commit() -> str | None:
    """The checkout's commit, with "+dirty" for uncommitted changes; None outside a git checkout."""
    repo = Path(__file__).resolve().parents[2]
    try:
        commit = subprocess.run(["git", "-C", str(repo), "rev-parse", "HEAD"], capture_output=True, text=True, timeout=10)
        if commit.returncode != 0:
            return None
        dirty = subprocess.run(["git", "-C", str(repo), "status", "--porcelain", "--untracked-files=no"], capture_output=True, text=True, timeout=10)
    except (OSError, subprocess.SubprocessError):
        return None
    return commit.stdout.strip() + ("+dirty" if dirty.stdout.strip() else "")


def package_versions() -> dict[str, str | None]:
    versions: dict[str, str | None] = {}
    for name in PACKAGES:
        try:
            versions[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            versions[name] = None
    return versions


def provenance(device: torch.device, precision: str) -> dict[str, Any]:
    """summary.json's provenance fields. precision: the arithmetic used (TF32 exists on CUDA only)."""
    used = "fp32" if precision == "tf32" and device.type != "cuda" else precision
    return {
        GIT_COMMIT: git_commit(),
        PACKAGE_VERSIONS: package_versions(),
        PYTHON_VERSION: platform.python_version(),
        PRECISION: used,
        THREADS: torch.get_num_threads(),
        DEVICE: str(device),
        DEVICE_NAME: torch.cuda.get_device_name(device) if device.type == "cuda" else platform.processor() or platform.machine(),
    }
