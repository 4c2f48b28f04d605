"""Adam's learning rate at each optimizer step: the paper's constant rate (Sec. 3.1), or that rate halved every
trainer.lr_half_life_epochs epochs; either multiplied, over the first trainer.warmup_steps steps, by a linear warm-up.

A half-life rather than a schedule over trainer.epochs (cosine, linear to zero): the rate of a step depends on
the step alone, so asking a run for more epochs continues it along the same curve (the epochs are not part of a
run's identity), and a resumed run takes the rate it would have taken uninterrupted. The warm-up is a function of
the step too.
"""

import torch


def learning_rate(step: int, lr: float, half_life_steps: float | None, warmup_steps: int = 0) -> float:
    """The rate of optimizer step `step` (0 for the first): lr * 2^(-step / half_life_steps) (lr where None), times
    (step + 1) / warmup_steps during the warm-up: the rate rises on the line from 0 (at step -1) to its full value
    at step warmup_steps - 1, so every step of the warm-up trains. warmup_steps 0: no warm-up."""
    decayed = lr if half_life_steps is None else lr * 0.5 ** (step / half_life_steps)
    return decayed * min(1.0, (step + 1) / warmup_steps) if warmup_steps else decayed


def set_learning_rate(optimizer: torch.optim.Optimizer, lr: float) -> None:
    for group in optimizer.param_groups:
        group["lr"] = lr
