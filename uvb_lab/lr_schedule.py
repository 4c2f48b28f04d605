"""The learning-rate schedule is uvb_lab/training/lr_schedule.py; its names stay importable from here for code written before."""

from uvb_lab.training.lr_schedule import learning_rate, set_learning_rate

__all__ = ["learning_rate", "set_learning_rate"]
