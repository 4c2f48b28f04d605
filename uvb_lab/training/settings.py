"""The plain values a training reads, filled from the config by uvb_lab/training/build.py: the loop imports no Hydra
or OmegaConf, and every number it uses is named here once (sigma among them: training, evaluation and every baseline
read this one)."""

import math
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class Schedule:
    """Every how many steps something happens inside a pass (math.inf: never), and the rate of each step."""

    max_steps: float  # math.inf: no cap; 0 is a cap (build and evaluate only)
    log_every: float  # a training-curve row
    eval_every: float  # an evaluation besides the pass's own
    checkpoint_every: float  # a checkpoint besides the pass's own
    progress: bool  # a progress bar
    lr: float  # Adam's rate, before the decay and the warm-up
    lr_half_life: float | None  # steps in which the rate halves (None: constant, Sec. 3.1)
    warmup_steps: int  # steps of the rate's linear warm-up (0: none)


@dataclass(frozen=True)
class Settings:
    """One run's settings as plain values (trainer.*, run.*, sigma, figures.*)."""

    name: str  # run.name: the run's folder name and its name in the tracker
    model: str  # run.model: the conf/model/ option
    dataset: str  # run.data: the conf/data/ option
    sigma: float  # the noise's standard deviation: y = x + sigma eps in training, evaluation and the baselines
    seed: int  # trainer.seed: the training stream and the model's init
    epochs: int  # trainer.epochs: how far the run goes (0: build and evaluate only)
    batch_size: int
    batches_per_epoch: int
    schedule: Schedule
    eval_seed: int  # the paired test noise (uvb_lab/paired_noise.py)
    eval_batch_size: int
    evaluate_test: bool  # false in a search's trials: the test set stays unseen
    requested_precision: str  # trainer.precision as asked (auto, ...); Parts.precision is the one used
    skip_nonfinite: bool
    keep_checkpoints: str  # both | last | none, once finished
    preemption_signals: tuple[str, ...]
    figures_after_training: bool
    figures: dict[str, Any]  # the figures: settings of the end-of-run figures (uvb_lab/figures/paper_figures.py)
    cache_dir: str | None  # where the baselines' numbers are cached (figures.cache_dir)


def every(steps: int | None) -> float:
    """A period in steps from a config value: null (or 0) is never."""
    return steps or math.inf
