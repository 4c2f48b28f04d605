"""What a planned run would cost, for `uvb-train --dry-run`: its epochs, its optimizer steps, its parameters and an
estimate of its training time.

The time is steps x batch size / a rate of samples per second, and says where its rate comes from:

- `measured`: the samples/s a run recorded (summary.json, its last pass) on the same kind of device: the job's own
  run where it has one (a run to continue), else a run beside it (the same sweep folder) of the same model, data,
  parameter count and batch size;
- `timed`: else, TIMED_STEPS steps of the job's own model, data and batch size timed here and now, after one
  warm-up step (the global random state is put back after). On a loaded machine, or for a first step that compiles,
  this is rough.

Either way it is the training alone: the evaluations, the figures and a machine's first computation of the
training-set prior come on top.
"""

import math
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from omegaconf import DictConfig

from uvb_lab.run import folder as run_folder
from uvb_lab.run import summary as run_summary
from uvb_lab.run.files import SUMMARY
from uvb_lab.run.records import RecordError

TIMED_STEPS = 3  # timed after one warm-up step


@dataclass(frozen=True)
class Cost:
    epochs: int
    steps: int  # optimizer steps in all (max_steps caps them)
    steps_to_go: int  # what is left to train (a run to continue has done some)
    params: int
    seconds: float | None  # the training still to do, at the rate below; None where nothing is left
    rate: str  # where the rate comes from

    def __str__(self) -> str:
        done = f" ({self.steps - self.steps_to_go} done)" if self.steps_to_go < self.steps else ""
        time_left = f", training ~{duration(self.seconds)} ({self.rate})" if self.seconds is not None else ""
        return f"{self.epochs} epoch{'s' * (self.epochs != 1)}, {self.steps:,} step{'s' * (self.steps != 1)}{done}, {self.params:,} parameters{time_left}"


def duration(seconds: float) -> str:
    """A rough duration: 40 s, 12 min, 3.5 h, 70 days."""
    if seconds < 90:
        return f"{max(seconds, 1):.0f} s"
    if seconds < 90 * 60:
        return f"{seconds / 60:.0f} min"
    if seconds < 48 * 3600:
        return f"{seconds / 3600:.1f} h"
    return f"{seconds / 86400:.0f} days"


def _recorded(run_dir: Path) -> tuple[dict[str, Any] | None, dict[str, Any] | None]:
    """A run folder's summary and identity, as readers rely on them; (None, None) where it has none it can."""
    try:
        return run_summary.read(run_dir), run_folder.recorded_identity(run_dir)
    except (OSError, ValueError, TypeError, RecordError):
        return None, None


def _measured_rate(cfg: DictConfig, device: torch.device, params: int, folder: Path | None) -> tuple[float, str] | None:
    """samples/s recorded by the job's own run, else by a run beside it of the same model, data, size and batch size."""
    if folder is None:
        return None
    candidates = [folder, *sorted(p for p in folder.parent.iterdir() if p.is_dir() and p != folder)] if folder.parent.is_dir() else [folder]
    for run_dir in candidates:
        summary, identity = _recorded(run_dir) if (run_dir / SUMMARY).is_file() else (None, None)
        if not summary or not identity:
            continue
        rate = summary.get(run_summary.SAMPLES_PER_S)
        same = (summary.get(run_summary.MODEL) == cfg.run.model and summary.get(run_summary.DATASET) == cfg.run.data
                and summary.get(run_summary.NUM_PARAMS) == params and identity.get("trainer.batch_size") == cfg.trainer.batch_size
                and str(summary.get(run_summary.DEVICE, "")).split(":")[0] == device.type)
        if same and isinstance(rate, int | float) and math.isfinite(rate) and rate > 0:
            return float(rate), f"measured: {rate:,.0f} samples/s by {'this run' if run_dir == folder else run_dir.name}"
    return None


_timed: dict[str, float] = {}  # samples/s by the settings timed, for the plan's other jobs of the same kind


def _timed_rate(cfg: DictConfig, device: torch.device, model_key: str) -> tuple[float, str]:
    """samples/s of TIMED_STEPS of the job's own training step, here and now (the global random state kept)."""
    from uvb_lab.loss import training_loss
    from uvb_lab.train import build, load_data
    from uvb_lab.train_step import adam, make_train_step, resolve_precision

    if model_key not in _timed:
        with torch.random.fork_rng(devices=[device] if device.type == "cuda" else []):
            data = load_data(cfg.data)
            model = build("model", cfg.model).to(device)
            loss = training_loss(build("loss", cfg.loss), model, data)
            step = make_train_step(model, loss, adam(model.parameters(), lr=float(cfg.trainer.lr), device=device),
                                   resolve_precision(cfg.trainer.precision, device), bool(cfg.trainer.compile))
            batch = min(int(cfg.trainer.batch_size), len(data.train))
            x = data.train[:batch].to(device)
            y = x + float(cfg.sigma) * torch.randn_like(x)
            step(x, y)  # the warm-up: first calls allocate (and compile, with trainer.compile)
            if device.type == "cuda":
                torch.cuda.synchronize(device)
            start = time.perf_counter()
            for _ in range(TIMED_STEPS):
                loss_value, _ = step(x, y)
            loss_value.item()  # waits for the device
            _timed[model_key] = TIMED_STEPS * batch / (time.perf_counter() - start)
    rate = _timed[model_key]
    return rate, f"timed: {rate:,.0f} samples/s over {TIMED_STEPS} steps here, just now"


def estimate(cfg: DictConfig, device: torch.device, folder: Path | None, steps_done: float) -> Cost:
    """The cost of the job of cfg (a task config, checked) in folder, on device, having done steps_done already
    (math.inf: a finished run, nothing to train)."""
    from uvb_lab.train import build, load_data

    with torch.device("meta"):
        params = sum(p.numel() for p in build("model", cfg.model).parameters())
    batches_per_epoch = math.ceil(len(load_data(cfg.data).train) / cfg.trainer.batch_size)
    epochs = int(cfg.trainer.epochs)
    steps = epochs * batches_per_epoch if cfg.trainer.max_steps is None else min(epochs * batches_per_epoch, int(cfg.trainer.max_steps))
    to_go = int(max(steps - steps_done, 0))
    if not to_go:
        return Cost(epochs, steps, 0, params, None, "")
    found = _measured_rate(cfg, device, params, folder)
    key = repr((cfg.model, cfg.loss, cfg.data, cfg.trainer.batch_size, cfg.trainer.precision, cfg.trainer.compile, str(device)))
    rate, source = found or _timed_rate(cfg, device, key)
    return Cost(epochs, steps, to_go, params, to_go * cfg.trainer.batch_size / rate, source)
