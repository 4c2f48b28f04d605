"""The ranges of the settings that a type cannot express (sigma > 0, chains >= 1, ...): the one place they are written.

uvb-train checks a composed config against them before anything is built (uvb_lab/config.py, check_values);
uvb-figures checks the `figures:` values a run folder brings and the options given; the figures and the walk-jump
sampler check the values they are called with. Plain Python, so that the samplers import it without Hydra.
"""

import signal
from collections.abc import Mapping
from typing import Any

PRECISIONS = ("auto", "fp32", "tf32", "bf16")
KEEP_CHECKPOINTS = ("both", "last", "none")
SAMPLERS = ("overdamped", "underdamped")  # the walk of walk-jump sampling (figures.sampler)


def _catchable(name: str) -> bool:
    return getattr(signal, name, None) in set(signal.Signals) - {signal.SIGKILL, signal.SIGSTOP}


# (key, holds, what it must be), by the config's dotted key.
RANGES: tuple[tuple[str, Any, str], ...] = (
    ("sigma", lambda v: 0 < v < float("inf"), "finite and > 0"),
    ("data.val_fraction", lambda v: v is not None and 0 <= v < 1, ">= 0 and < 1"),
    ("trainer.epochs", lambda v: v >= 0, ">= 0"),
    ("trainer.max_steps", lambda v: v is None or v >= 0, ">= 0 or null"),
    ("trainer.batch_size", lambda v: v > 0, "> 0"),
    ("trainer.eval_batch_size", lambda v: v > 0, "> 0"),
    ("trainer.lr", lambda v: v > 0, "> 0"),
    ("trainer.lr_half_life_epochs", lambda v: v is None or v > 0, "> 0 or null"),
    ("trainer.warmup_steps", lambda v: v >= 0, ">= 0"),
    ("trainer.grad_clip", lambda v: v is None or 0 < v < float("inf"), "finite and > 0, or null"),
    ("trainer.checkpoint_every_steps", lambda v: v is None or v > 0, "> 0 or null"),
    ("trainer.log_every_steps", lambda v: v is None or v > 0, "> 0 or null"),
    ("trainer.eval_every_steps", lambda v: v is None or v > 0, "> 0 or null"),
    ("trainer.keep_checkpoints", lambda v: v in KEEP_CHECKPOINTS, f"one of {', '.join(KEEP_CHECKPOINTS)}"),
    ("trainer.precision", lambda v: v in PRECISIONS, f"one of {', '.join(PRECISIONS)}"),
    ("trainer.preemption_signals", lambda v: all(_catchable(s) for s in v), "signal names a process can catch (SIGTERM, SIGUSR1, ...)"),
    ("figures.images", lambda v: v >= 1, ">= 1"),
    ("figures.prior_samples", lambda v: v >= 1, ">= 1"),
    ("figures.nebula_steps", lambda v: v >= 0, ">= 0"),
    ("figures.z_samples", lambda v: v >= 1, ">= 1"),
    ("figures.delta", lambda v: v > 0, "> 0"),
    ("figures.sampler", lambda v: v in SAMPLERS, f"one of {', '.join(SAMPLERS)}"),
    ("figures.friction", lambda v: v > 0, "> 0"),
    ("figures.steps_per_jump", lambda v: v >= 1, ">= 1"),
    ("figures.jumps", lambda v: v >= 1, ">= 1"),
    ("figures.chains", lambda v: v >= 1, ">= 1"),
    ("figures.classifier_epochs", lambda v: v >= 1, ">= 1"),
)


def problems(values: Mapping[str, Any], group: str = "") -> list[str]:
    """"key must be ..., got value" for each value outside its range. values: by dotted key, or, with group
    ("figures"), by the keys inside that group; a key without a range, or a range without a value, is not checked."""
    prefix = f"{group}." if group else ""
    found = []
    for key, holds, expected in RANGES:
        name = key.removeprefix(prefix) if key.startswith(prefix) else None
        if name is not None and name in values and not holds(values[name]):
            found.append(f"{key} must be {expected}, got {values[name]}")
    return found
