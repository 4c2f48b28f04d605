"""The training step is uvb_lab/training/train_step.py; its names stay importable from here for code written before."""

from uvb_lab.training.train_step import (
    AUTO,
    NATIVE_BF16_FLAGS,
    PRECISIONS,
    Precision,
    TrainStep,
    adam,
    cpu_flags,
    make_train_step,
    resolve_precision,
    tf32_allowed,
)

__all__ = ["AUTO", "NATIVE_BF16_FLAGS", "PRECISIONS", "Precision", "TrainStep", "adam", "cpu_flags", "make_train_step",
           "resolve_precision", "tf32_allowed"]
