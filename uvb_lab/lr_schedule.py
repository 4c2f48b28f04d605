"""Adam's learning rate at each optimizer step: the paper's constant rate (Sec. 3.1), or that rate halved every
trainer.lr_half_life_epochs epochs.

A half-life rather than a schedule over trainer.epochs (cosine, linear to zero): the rate of a step depends on
the step alone, so asking a run for more epochs continues it along the same curve (the epochs are not part of a
run's identity), and a resumed run takes the rate it would have taken uninterrupted.
"""

import torch


def learning_rate(step: int, lr: float, half_life_steps: float | None) -> float:
    """The rate of optimizer step `step` (0 for the first): lr * 2^(-step / half_life_steps); lr where None."""
    if half_life_steps is None:
        return lr
    return lr * 0.5 ** (step / half_life_steps)


def set_learning_rate(optimizer: torch.optim.Optimizer, lr: float) -> None:
    for group in optimizer.param_groups:
        group["lr"] = lr
