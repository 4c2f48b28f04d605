"""`uvb-bench` (= `python -m uvb_lab.bench`): how fast is the training step, against the naive way?

For each model x dataset, built from the real conf/ (paper sizes unless --width-scale), at batch 128:
  - ours: the step as uvb-train runs it (data resident on the device, batch order and noise drawn there,
    uvb_lab/train_step.py with --precision / --compile);
  - naive: uvb_lab/naive_reference.py (DataLoader, host-to-device copy, fp32 without TF32, .item() each step).
Reported: the median step time after warm-up (CUDA events on a GPU, the wall clock elsewhere), samples/s,
peak memory, FLOP per step (counted on the meta device: exact, free), achieved FLOP/s as a fraction of a
dense matrix-product peak measured in the same run, ours/naive, and the hours Tables 2 and 3 would take.
"""

import argparse
import gc
import json
import math
import platform
import statistics
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import torch
from hydra import compose, initialize_config_dir
from hydra.core.global_hydra import GlobalHydra
from hydra.errors import HydraException
from hydra.utils import instantiate
from omegaconf import DictConfig, OmegaConf

from uvb_lab.flop_count import FlopCount
from uvb_lab.naive_reference import naive_training
from uvb_lab import CONFIG_DIR
from uvb_lab.train import ConfigError, resolve_device
from uvb_lab.train_step import PRECISIONS, adam, make_train_step, tf32_allowed

# Tables 2 and 3 (SPEC.md): 8 sigmas x {UVB, DEEN} x {MNIST, CIFAR-10}, 400 epochs each (Sec. 3.1).
TABLE_SIGMAS, TABLE_EPOCHS, TABLE_MODELS = 8, 400, ("uvb", "deen")
PAPER_TRAIN_IMAGES = {"mnist": 60_000, "cifar10": 50_000}  # training-set sizes, for steps per epoch
# The config keys that set a model's widths; --width-scale multiplies each (CPU runs at small widths).
WIDTH_KEYS = ("conv_channels", "hidden", "latent_dim", "decoder_hidden")


def scaled_width(width: int, scale: float) -> int:
    return max(1, round(width * scale))


def model_config(model: str, data: str, width_scale: float) -> DictConfig:
    """The real composed config for model x data, widths scaled; only its model, loss and data shape are used."""
    GlobalHydra.instance().clear()
    with initialize_config_dir(config_dir=CONFIG_DIR, version_base="1.3"):
        cfg = compose("config", overrides=[f"model={model}", f"data={data}", "logger=none"])
    for key in WIDTH_KEYS:
        if key in cfg.model:
            widths = cfg.model[key]
            if OmegaConf.is_list(widths):
                cfg.model[key] = [scaled_width(w, width_scale) for w in widths]
            else:
                cfg.model[key] = scaled_width(widths, width_scale)
    return cfg


def step_flops(cfg: DictConfig, batch_size: int) -> int:
    """FLOP of one training step (loss with grad_y f, then backward through it), counted on the meta device.

    Matrix products and convolutions only, the same work the matmul peak measures; Adam and the elementwise
    work are memory-bound and add O(params + activations) FLOP.
    """
    with torch.device("meta"):
        model = instantiate(cfg.model)
        x = torch.rand(batch_size, cfg.data.channels, cfg.data.image_size, cfg.data.image_size)
        y = x + torch.randn_like(x)
    loss_fn = instantiate(cfg.loss)
    with FlopCount() as counter:
        loss_fn(model, x, y).backward()
    return counter.flop


def median_step_time(step: Callable[[], Any], steps: int, warmup: int, device: torch.device) -> float:
    """Median seconds between consecutive step ends, after warm-up steps (compilation, allocator, caches).

    On CUDA an event is recorded after each step and the gaps are read once at the end: the host never
    waits mid-run, and a gap includes any time the GPU sat idle waiting for the host to queue work.
    """
    for _ in range(warmup):
        step()
    if device.type == "cuda":
        events = [torch.cuda.Event(enable_timing=True) for _ in range(steps + 1)]
        torch.cuda.synchronize(device)
        events[0].record()
        for event in events[1:]:
            step()
            event.record()
        torch.cuda.synchronize(device)
        gaps = [a.elapsed_time(b) / 1e3 for a, b in zip(events, events[1:])]
    else:
        ends = [time.perf_counter()]
        for _ in range(steps):
            step()
            ends.append(time.perf_counter())
        gaps = [b - a for a, b in zip(ends, ends[1:])]
    return statistics.median(gaps)


def matmul_peak(device: torch.device, precision: str, n: int) -> float:
    """FLOP/s of an n x n x n matrix product in this precision's dtype and TF32 setting: the dense peak."""
    mode = PRECISIONS[precision]
    dtype = mode.autocast_dtype or torch.float32
    a, b = torch.randn(n, n, device=device, dtype=dtype), torch.randn(n, n, device=device, dtype=dtype)
    with tf32_allowed(mode.tf32):
        seconds = median_step_time(lambda: a @ b, steps=10, warmup=3, device=device)
    return 2 * n**3 / seconds


def peak_memory(device: torch.device, run: Callable[[], float]) -> tuple[float, int | None]:
    """run()'s result and the peak bytes the CUDA allocator held during it (None off CUDA: no such counter)."""
    gc.collect()
    if device.type != "cuda":
        return run(), None
    torch.cuda.empty_cache()
    torch.cuda.reset_peak_memory_stats(device)
    result = run()
    return result, torch.cuda.max_memory_allocated(device)


def endless_batches(n: int, batch_size: int, device: torch.device) -> Iterator[torch.Tensor]:
    """Index batches of fresh random orders of range(n), drawn on the device, as uvb-train does."""
    while True:
        yield from torch.randperm(n, device=device).split(batch_size)


def time_ours(cfg: DictConfig, images: torch.Tensor, args: argparse.Namespace, device: torch.device) -> float:
    torch.manual_seed(0)
    model = instantiate(cfg.model).to(device)
    optimizer = adam(model.parameters(), lr=float(cfg.trainer.lr), device=device)
    train_step = make_train_step(model, instantiate(cfg.loss), optimizer, args.precision, args.compile)
    x_train, sigma = images.to(device), float(cfg.sigma)
    batches = endless_batches(len(x_train), args.batch_size, device)
    loss_sum = torch.zeros((), device=device)

    def step() -> None:
        nonlocal loss_sum
        x = x_train[next(batches)]
        y = x + sigma * torch.randn_like(x)
        loss_sum += train_step(x, y)[0]

    seconds = median_step_time(step, args.steps, args.warmup, device)
    if not math.isfinite(loss_sum.item()):
        raise FloatingPointError(f"{cfg.model._target_}: our step's loss became {loss_sum.item()}")
    return seconds


def time_naive(cfg: DictConfig, images: torch.Tensor, args: argparse.Namespace, device: torch.device) -> float:
    torch.manual_seed(0)
    model = instantiate(cfg.model).to(device)
    losses = naive_training(model, instantiate(cfg.loss), images, float(cfg.sigma), args.batch_size, float(cfg.trainer.lr))
    last = [0.0]

    def step() -> None:
        last[0] = next(losses)

    seconds = median_step_time(step, args.naive_steps, args.warmup, device)
    losses.close()
    if not math.isfinite(last[0]):
        raise FloatingPointError(f"{cfg.model._target_}: the naive step's loss became {last[0]}")
    return seconds


def side(seconds: float, memory: int | None, flops: int, peak: float, batch_size: int) -> dict[str, Any]:
    return {
        "step_time_s": seconds,
        "samples_per_s": batch_size / seconds,
        "peak_memory_bytes": memory,
        "achieved_flop_per_s": flops / seconds,
        "fraction_of_peak": flops / seconds / peak,
    }


def bench_one(model: str, data: str, args: argparse.Namespace, device: torch.device, peaks: dict[str, float]) -> dict[str, Any]:
    cfg = model_config(model, data, args.width_scale)
    shape = (cfg.data.channels, cfg.data.image_size, cfg.data.image_size)
    # Pixel values do not change the work; enough images that no step repeats an epoch boundary it would not.
    images = torch.rand(args.batch_size * (args.warmup + max(args.steps, args.naive_steps)), *shape)
    flops = step_flops(cfg, args.batch_size)
    num_params = sum(p.numel() for p in instantiate(cfg.model).parameters())
    ours_s, ours_mem = peak_memory(device, lambda: time_ours(cfg, images, args, device))
    result: dict[str, Any] = {
        "model": model,
        "dataset": data,
        "num_params": num_params,
        "flop_per_step": flops,
        "ours": side(ours_s, ours_mem, flops, peaks[args.precision], args.batch_size),
    }
    result["ours"]["fraction_of_tf32_peak"] = flops / ours_s / peaks["tf32"]
    if args.naive_steps > 0:
        naive_s, naive_mem = peak_memory(device, lambda: time_naive(cfg, images, args, device))
        result["naive"] = side(naive_s, naive_mem, flops, peaks["fp32"], args.batch_size)
        result["speedup_ours_over_naive"] = naive_s / ours_s
    if data in PAPER_TRAIN_IMAGES:
        steps_per_run = TABLE_EPOCHS * math.ceil(PAPER_TRAIN_IMAGES[data] / args.batch_size)
        result["projected_hours_8_sigmas_400_epochs"] = TABLE_SIGMAS * steps_per_run * ours_s / 3600
    return result


def device_name(device: torch.device) -> str:
    if device.type == "cuda":
        return torch.cuda.get_device_name(device)
    return f"{platform.processor() or platform.machine()}, {torch.get_num_threads()} threads"


def print_table(report: dict[str, Any]) -> None:
    print(f"\nuvb-bench on {report['device']} ({report['device_name']}), batch {report['batch_size']}, "
          f"precision {report['precision']}, compile {report['compile']}, width scale {report['width_scale']}")
    print("dense matmul peak: " + ", ".join(f"{k} {v / 1e12:.3g} TFLOP/s" for k, v in report["matmul_peak_flop_per_s"].items()))
    header = f"{'model':6} {'data':8} {'params':>11} {'GFLOP/step':>10} {'ours ms':>8} {'ours smp/s':>10} {'% peak':>6} " \
             f"{'naive ms':>8} {'naive smp/s':>11} {'ours/naive':>10} {'peak MiB':>8} {'h, 8 sigmas':>11}"
    print(header)
    for r in report["results"]:
        naive = r.get("naive", {})
        memory = r["ours"]["peak_memory_bytes"]
        print(
            f"{r['model']:6} {r['dataset']:8} {r['num_params']:>11,} {r['flop_per_step'] / 1e9:>10.3g} "
            f"{r['ours']['step_time_s'] * 1e3:>8.2f} {r['ours']['samples_per_s']:>10.0f} {100 * r['ours']['fraction_of_peak']:>6.1f} "
            f"{naive.get('step_time_s', math.nan) * 1e3:>8.2f} {naive.get('samples_per_s', math.nan):>11.0f} "
            f"{r.get('speedup_ours_over_naive', math.nan):>10.2f} {'-' if memory is None else f'{memory / 2**20:.0f}':>8} "
            f"{r.get('projected_hours_8_sigmas_400_epochs', math.nan):>11.3g}"
        )
    tables = report["tables_2_3"]
    print(f"Tables 2 and 3 (32 runs x 400 epochs) at this speed: {tables['projected_hours']:.3g} hours "
          f"({'complete' if tables['complete'] else 'partial: ' + tables['why_partial']})")


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="uvb-bench", description=__doc__.split("\n\n")[0])
    parser.add_argument("--device", default="auto", help="auto (cuda if available) | cpu | cuda | cuda:N")
    parser.add_argument("--models", default="uvb,deen", help="comma-separated conf/model names")
    parser.add_argument("--datasets", default="mnist,cifar10", help="comma-separated conf/data names")
    parser.add_argument("--batch-size", type=int, default=128, help="samples per step (the paper's 128)")
    parser.add_argument("--steps", type=int, default=50, help="timed steps of ours, after warm-up")
    parser.add_argument("--naive-steps", type=int, default=None, help="timed steps of the naive reference (default --steps; 0 skips it)")
    parser.add_argument("--warmup", type=int, default=10, help="untimed steps first (compilation, caches)")
    parser.add_argument("--precision", default="tf32", choices=tuple(PRECISIONS), help="our step's precision")
    parser.add_argument("--compile", action="store_true", help="torch.compile our loss (first steps compile: raise --warmup)")
    parser.add_argument("--width-scale", type=float, default=1.0, help="multiply every model width (CPU: e.g. 0.1)")
    parser.add_argument("--peak-size", type=int, default=None, help="n of the n x n matmul peak (default 8192 on CUDA, 1024 else)")
    parser.add_argument("--json", type=Path, default=None, help="write the full report here")
    args = parser.parse_args(argv)
    args.naive_steps = args.steps if args.naive_steps is None else args.naive_steps
    for name in ("batch_size", "steps"):
        if getattr(args, name) < 1:
            parser.error(f"--{name.replace('_', '-')} must be >= 1")
    if args.warmup < 0 or args.naive_steps < 0:
        parser.error("--warmup and --naive-steps must be >= 0")
    if not args.width_scale > 0:
        parser.error(f"--width-scale must be > 0, got {args.width_scale}")
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    try:
        device = resolve_device(args.device)
    except ConfigError as error:
        print(f"uvb-bench: error: {error}".replace("trainer.device", "--device"), file=sys.stderr)
        return 2
    models, datasets = args.models.split(","), args.datasets.split(",")
    peak_size = args.peak_size or (8192 if device.type == "cuda" else 1024)
    peaks = {p: matmul_peak(device, p, peak_size) for p in dict.fromkeys((args.precision, "tf32", "fp32"))}
    try:
        results = [bench_one(m, d, args, device, peaks) for m in models for d in datasets]
    except HydraException as error:
        print(f"uvb-bench: error: {error} (models are conf/model/*.yaml, datasets conf/data/*.yaml)", file=sys.stderr)
        return 2
    complete = args.width_scale == 1.0 and all(
        any(r["model"] == m and r["dataset"] == d for r in results) for m in TABLE_MODELS for d in PAPER_TRAIN_IMAGES
    )
    report = {
        "device": str(device),
        "device_name": device_name(device),
        "torch": torch.__version__,
        **{k: (str(v) if isinstance(v, Path) else v) for k, v in vars(args).items()},
        "matmul_peak_flop_per_s": peaks,
        "results": results,
        "tables_2_3": {
            "projected_hours": sum(r.get("projected_hours_8_sigmas_400_epochs", 0.0) for r in results
                                   if r["model"] in TABLE_MODELS and r["dataset"] in PAPER_TRAIN_IMAGES),
            "complete": complete,
            "why_partial": "" if complete else "needs uvb and deen on mnist and cifar10 at --width-scale 1",
        },
    }
    print_table(report)
    if args.json is not None:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(report, indent=2) + "\n")
        print(f"wrote {args.json}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
