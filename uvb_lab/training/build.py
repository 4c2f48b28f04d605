"""The one place a config becomes objects and plain values: device, precision, data, model, loss, optimizer, train
step, tracker factory and the Settings the loop reads.

Every check of a config happens here (or in uvb_lab/ranges.py, through config.check_values), before any file of the
run is touched: a bad value fails in build_parts. on_meta builds the same on PyTorch's meta device, allocating no
weights, so a launch can check every job of a sweep before the first one runs.
"""

import contextlib
import json
import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import torch
from hydra.errors import InstantiationException
from hydra.utils import instantiate
from omegaconf import DictConfig, OmegaConf

from uvb_lab.config import ConfigError, check_values
from uvb_lab.data import DataError, ImageData
from uvb_lab.loss import Loss, training_loss
from uvb_lab.models.score import ScoreModel
from uvb_lab.run import devices
from uvb_lab.trackers import Tracker
from uvb_lab.training.settings import Schedule, Settings, every
from uvb_lab.training.train_step import TrainStep, adam, make_train_step, resolve_precision

META = torch.device("meta")


def build(name: str, node: DictConfig) -> Any:
    """instantiate(), with the constructor's own complaint as the error instead of Hydra's wrapper."""
    try:
        return instantiate(node)
    except InstantiationException as error:
        cause = error.__cause__ or error
        if isinstance(cause, DataError):
            raise cause  # noqa: B904 - the data's own error, with its own cause, as the loader raised it
        raise ConfigError(f"cannot build {name} ({node.get('_target_')}): {cause}") from error


_loaded: dict[str, ImageData] = {}


def load_data(node: DictConfig) -> ImageData:
    """The dataset a data config describes; the last one is kept, so a plan and its jobs in one process load it once."""
    key = json.dumps(OmegaConf.to_container(node, resolve=True), sort_keys=True)
    if key not in _loaded:
        data = build("data", node)
        _loaded.clear()
        _loaded[key] = data
    return _loaded[key]


@dataclass
class Parts:
    """What a config builds, all of it before the run folder is touched: a bad value fails here."""

    device: torch.device
    precision: str
    data: ImageData
    model: ScoreModel
    loss_fn: Loss
    optimizer: torch.optim.Optimizer
    train_step: TrainStep  # one optimizer update in the chosen precision (uvb_lab/training/train_step.py)
    make_logger: Callable[..., Tracker]  # the tracker, started once the run folder is there
    x_train: torch.Tensor
    x_test: torch.Tensor
    x_val: torch.Tensor | None
    settings: Settings


def build_parts(cfg: DictConfig, job_num: int | None = None, on_meta: bool = False) -> Parts:
    """cfg built: a ConfigError (or the data's DataError) where it cannot be. job_num: the job's number in a sweep (which
    GPU it takes). on_meta: the model and the tensors on the meta device, the global generator left as it was."""
    check_values(cfg)
    try:
        device = devices.resolve_device(cfg.trainer.device, job_num)
    except devices.DeviceError as error:
        raise ConfigError(str(error)) from error
    if on_meta:
        device = META
    else:
        # The model's stream: its init here and its z draws in training, from the global generator seeded by trainer.seed
        # itself (the data order and the training noise have a stream of their own: uvb_lab/training_stream.py).
        torch.manual_seed(cfg.trainer.seed)
    data = load_data(cfg.data)
    with torch.device(META) if on_meta else contextlib.nullcontext():  # on meta the constructor's checks run, nothing is allocated
        model = build("model", cfg.model)
    model = model.to(device)
    loss_fn = build("loss", cfg.loss)
    make_logger = build("logger", cfg.logger)
    optimizer = adam(model.parameters(), lr=cfg.trainer.lr, device=device)  # fused on CUDA
    precision = resolve_precision(cfg.trainer.precision, device)  # auto: bf16 on CPUs with native bf16, tf32 on CUDA
    try:
        # The step minimises the training loss (loss.target=posterior_mean: against E[x|y]); evaluation's loss_fn is against x.
        train_step = make_train_step(model, training_loss(loss_fn, model, data), optimizer, precision, cfg.trainer.compile,
                                     skip_nonfinite=cfg.trainer.skip_nonfinite,
                                     grad_clip=cfg.trainer.grad_clip)
    except ValueError as error:
        raise ConfigError(str(error)) from error
    x_val = data.validation.to(device) if data.validation is not None else None
    return Parts(device, precision, data, model, loss_fn, optimizer, train_step, make_logger, data.train.to(device),
                 data.test.to(device), x_val, settings_of(cfg, len(data.train)))


def settings_of(cfg: DictConfig, num_train_images: int) -> Settings:
    """The plain values of cfg that the loop reads."""
    trainer = cfg.trainer
    batches_per_epoch = math.ceil(num_train_images / trainer.batch_size)
    half_life = None if trainer.lr_half_life_epochs is None else float(trainer.lr_half_life_epochs) * batches_per_epoch
    schedule = Schedule(
        max_steps=math.inf if trainer.max_steps is None else int(trainer.max_steps),
        log_every=every(trainer.log_every_steps),
        eval_every=every(trainer.eval_every_steps),
        checkpoint_every=every(trainer.checkpoint_every_steps),
        progress=bool(trainer.progress),
        lr=float(trainer.lr),
        lr_half_life=half_life,
        warmup_steps=int(trainer.warmup_steps),
    )
    figures = OmegaConf.to_container(cfg.figures, resolve=True)
    return Settings(
        name=str(cfg.run.name), model=str(cfg.run.model), dataset=str(cfg.run.data), sigma=float(cfg.sigma),
        seed=int(trainer.seed), epochs=int(trainer.epochs), batch_size=int(trainer.batch_size), batches_per_epoch=batches_per_epoch,
        schedule=schedule, eval_seed=int(trainer.eval_seed), eval_batch_size=int(trainer.eval_batch_size),
        evaluate_test=bool(trainer.evaluate_test), requested_precision=str(trainer.precision),
        skip_nonfinite=bool(trainer.skip_nonfinite), keep_checkpoints=trainer.keep_checkpoints,
        preemption_signals=tuple(trainer.preemption_signals), figures_after_training=bool(cfg.figures.after_training),
        figures=figures, cache_dir=figures.get("cache_dir"),
    )
