"""Train one energy model on one dataset at one sigma: `uvb-train` (= `python -m uvb_lab.train`).

The loop is plain PyTorch and reads top to bottom: build, then per epoch train / evaluate / record.
Everything the report needs ends up in the Hydra run folder (see uvb_lab/run_files.py).
"""

import logging
import math
import shutil
import sys
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import hydra
import torch
from hydra.core.hydra_config import HydraConfig
from hydra.errors import InstantiationException
from hydra.types import RunMode
from hydra.utils import instantiate
from omegaconf import DictConfig, OmegaConf
from tqdm import tqdm

from uvb_lab import run_files
from uvb_lab.data import DataError
from uvb_lab.evaluate import evaluate
from uvb_lab.figures import figures_after_training  # issue 4
from uvb_lab.models.uvb import UVB

log = logging.getLogger(__name__)


class ConfigError(ValueError):
    """A config value that cannot work, found before any training."""


def check_config(cfg: DictConfig) -> None:
    t = cfg.trainer
    problems = []
    if not cfg.sigma > 0:
        problems.append(f"sigma must be > 0, got {cfg.sigma}")
    if not t.batch_size > 0:
        problems.append(f"trainer.batch_size must be > 0, got {t.batch_size}")
    if not t.eval_batch_size > 0:
        problems.append(f"trainer.eval_batch_size must be > 0, got {t.eval_batch_size}")
    if t.epochs < 0:
        problems.append(f"trainer.epochs must be >= 0, got {t.epochs}")
    if t.max_steps is not None and t.max_steps < 0:
        problems.append(f"trainer.max_steps must be >= 0 or null, got {t.max_steps}")
    if not t.lr > 0:
        problems.append(f"trainer.lr must be > 0, got {t.lr}")
    if problems:
        raise ConfigError("; ".join(problems))


def resolve_device(name: str) -> torch.device:
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    device = torch.device(name)
    if device.type == "cuda" and not torch.cuda.is_available():
        raise ConfigError(f"trainer.device={name} but CUDA is not available here; use trainer.device=auto or cpu")
    return device


def build(name: str, node: DictConfig) -> Any:
    """instantiate(), with the constructor's own complaint as the error instead of Hydra's wrapper."""
    try:
        return instantiate(node)
    except InstantiationException as error:
        cause = error.__cause__ or error
        if isinstance(cause, DataError):
            raise cause
        raise ConfigError(f"cannot build {name} ({node.get('_target_')}): {cause}") from error


def flat_config(cfg: DictConfig) -> dict[str, Any]:
    """The resolved config as flat dotted keys ("model.latent_dim"), so a W&B table groups by any of them."""
    flat: dict[str, Any] = {}

    def walk(node: Mapping[str, Any], prefix: str) -> None:
        for key, value in node.items():
            if isinstance(value, Mapping):
                walk(value, f"{prefix}{key}.")
            else:
                flat[f"{prefix}{key}"] = value

    walk(OmegaConf.to_container(cfg, resolve=True), "")
    return flat


def train(cfg: DictConfig, run_dir: Path) -> dict[str, Any]:
    """Run the training described by cfg, writing into run_dir; returns the final summary."""
    # -- Build everything, so that a bad value fails here, before any step or file of the run.
    check_config(cfg)
    device = resolve_device(cfg.trainer.device)
    torch.manual_seed(cfg.trainer.seed)
    data = build("data", cfg.data)
    model = build("model", cfg.model).to(device)
    loss_fn = build("loss", cfg.loss)
    optimizer = torch.optim.Adam(model.parameters(), lr=cfg.trainer.lr)
    x_train, x_test = data.train.to(device), data.test.to(device)
    sigma, batch_size, epochs = float(cfg.sigma), int(cfg.trainer.batch_size), int(cfg.trainer.epochs)
    max_steps = math.inf if cfg.trainer.max_steps is None else int(cfg.trainer.max_steps)
    num_params = sum(p.numel() for p in model.parameters())
    log.info("%s: %s parameters, %d train / %d test images on %s", cfg.run.name, f"{num_params:,}", len(x_train), len(x_test), device)

    logger = instantiate(cfg.logger)(run_dir=run_dir, name=cfg.run.name, config=flat_config(cfg))
    summary: dict[str, Any] = {
        "status": "running",
        "model": cfg.run.model,
        "dataset": cfg.run.data,
        "sigma": sigma,
        "decoder": model.decoder_kind if isinstance(model, UVB) else None,
        "num_params": num_params,
        "epochs": epochs,
        "epochs_done": 0,
        "steps_done": 0,
        "train_loss": None,
        "wall_time_s": 0.0,
        "device": str(device),
    }
    start = time.perf_counter()

    def evaluate_test_set() -> dict[str, float]:
        return evaluate(model, loss_fn, x_test, cfg.trainer.eval_seed, cfg.trainer.eval_batch_size)

    def save_checkpoint(epoch: int) -> None:
        state = {"model": model.state_dict(), "optimizer": optimizer.state_dict(), "epoch": epoch, "step": step}
        run_files.save_checkpoint(run_dir, state)

    step, exit_code = 0, 1
    try:
        if epochs == 0:  # build and evaluate only: the untrained model's numbers
            summary.update(evaluate_test_set())
            save_checkpoint(epoch=0)
        for epoch in range(1, epochs + 1):
            # -- One pass over the training set in a fresh random order, with fresh noise every batch.
            model.train()
            epoch_start, loss_sum, batches = time.perf_counter(), torch.zeros((), device=device), 0
            order = torch.randperm(len(x_train), device=device)
            bar = tqdm(
                order.split(batch_size),
                desc=f"epoch {epoch}/{epochs}",
                leave=False,
                disable=not cfg.trainer.progress,
                dynamic_ncols=True,
            )
            for indices in bar:
                x = x_train[indices]
                y = x + sigma * torch.randn_like(x)
                loss = loss_fn(model, x, y)
                optimizer.zero_grad(set_to_none=True)
                loss.backward()
                optimizer.step()
                loss_sum += loss.detach()
                batches += 1
                step += 1
                if batches % 25 == 0:  # .item() waits for the GPU: do it rarely, not every step
                    bar.set_postfix(loss=f"{loss_sum.item() / batches:.4g}")
                if step >= max_steps:
                    break
            bar.close()
            epoch_time = time.perf_counter() - epoch_start
            train_loss = loss_sum.item() / max(batches, 1)
            if not math.isfinite(train_loss):
                raise FloatingPointError(f"the training loss became {train_loss} in epoch {epoch} (step {step})")

            # -- Evaluate on the test set, then record: metrics row, W&B, summary, checkpoint.
            finished_epoch = batches == math.ceil(len(x_train) / batch_size)
            test = evaluate_test_set()
            row = {
                "epoch": epoch,
                "step": step,
                "train_loss": train_loss,
                **test,
                "samples_per_s": batches * batch_size / epoch_time if batches else 0.0,
                "epoch_time_s": epoch_time,
            }
            summary.update(
                epochs_done=epoch if finished_epoch else epoch - 1,
                steps_done=step,
                train_loss=train_loss,
                wall_time_s=time.perf_counter() - start,
                samples_per_s=row["samples_per_s"],
                **test,
            )
            if finished_epoch:
                run_files.append_metrics(run_dir, row)
                logger.log(row, step=step)
                save_checkpoint(epoch)
            log.info(
                "epoch %d/%d  step %d  train %.4f  test %.4f  %.0f samples/s",
                epoch, epochs, step, train_loss, test["test_loss"], row["samples_per_s"],
            )
            run_files.write_summary(run_dir, summary)
            if step >= max_steps:
                log.info("stopped at trainer.max_steps=%d after %d full epochs", step, summary["epochs_done"])
                break
        # -- issue 4: the paper's figures of the trained model into run_dir/figures/ and W&B; a failure only warns.
        if cfg.figures.after_training:
            figures_after_training(run_dir, model, data, cfg.run.name, cfg.figures, logger, step)
        exit_code = 0
    finally:
        summary["status"] = "finished" if exit_code == 0 else "failed"
        summary["wall_time_s"] = time.perf_counter() - start
        summary["steps_done"] = step
        run_files.write_summary(run_dir, summary)
        logger.finish(exit_code=exit_code)
    return summary


def discard_run_folder(run_dir: Path) -> None:
    """A run that failed before training leaves no folder behind (Hydra made it before we could check)."""
    if run_dir.is_dir() and not (run_dir / run_files.SUMMARY).exists():
        shutil.rmtree(run_dir, ignore_errors=True)


# conf/ sits beside the package (an editable install); an absolute path keeps Hydra from looking for a module.
CONFIG_DIR = str(Path(__file__).resolve().parent.parent / "conf")


@hydra.main(version_base="1.3", config_path=CONFIG_DIR, config_name="config")
def main(cfg: DictConfig) -> float | None:
    hydra_cfg = HydraConfig.get()
    run_dir = Path(hydra_cfg.runtime.output_dir)
    try:
        summary = train(cfg, run_dir)
    except (ConfigError, DataError) as error:
        discard_run_folder(run_dir)
        if hydra_cfg.mode == RunMode.MULTIRUN:
            raise  # let the launcher record this job as failed and go on with the sweep's other jobs
        print(f"uvb-train: error: {error}", file=sys.stderr)
        sys.exit(2)
    return summary.get("test_loss")


if __name__ == "__main__":
    main()
