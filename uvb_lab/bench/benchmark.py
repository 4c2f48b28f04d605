"""`uvb-bench` (= `python -m uvb_lab.bench`): how fast is the training step, against the naive way?

For each model x dataset, built from the real conf/ (paper sizes unless --width-scale), at batch 128:
  - ours: the step as uvb-train runs it (data resident on the device, batch order and noise drawn there,
    uvb_lab/training/train_step.py in --precision, default auto as trainer.precision);
  - ours_channels_last, ours_compile (--variants): the same with NHWC activations, or torch.compile;
  - naive: uvb_lab/bench/naive_reference.py (DataLoader, host-to-device copy, fp32 without TF32, .item() each step).
On a shared machine one timing means little (identical runs have swung 4x under other users' load), so every
contender is built and warmed up once, then timed in turn, round after round (--rounds), together with the
fp32 and bf16 matrix-product peaks. Each figure is min / median / max over the rounds; each ratio is taken
within a round, where both sides ran under the same load. Also: FLOP per step (counted on the meta device:
exact, free), samples/s, % of the peak of the step's own arithmetic, CUDA peak memory, setup time (compile
included), the load average before and after, and the hours Tables 2 and 3 would take. --json keeps it all.
"""

import argparse
import json
import math
import os
import platform
import statistics
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from hydra.errors import HydraException
from omegaconf import DictConfig, OmegaConf

from uvb_lab import rebuild
from uvb_lab.bench.flop_count import FlopCount
from uvb_lab.bench.naive_reference import naive_training
from uvb_lab.compose import compose_config
from uvb_lab.config import ConfigError
from uvb_lab.models.names import SIGMA_TABLE_PAIR
from uvb_lab.run import devices
from uvb_lab.training.build import build
from uvb_lab.training.train_step import AUTO, PRECISIONS, adam, make_train_step, resolve_precision, tf32_allowed

# Tables 2 and 3: 8 sigmas x {UVB, DEEN} x {MNIST, CIFAR-10}, 400 epochs each (Sec. 3.1).
TABLE_SIGMAS, TABLE_EPOCHS, TABLE_MODELS = 8, 400, SIGMA_TABLE_PAIR
PAPER_TRAIN_IMAGES = {"mnist": 60_000, "cifar10": 50_000}  # training-set sizes, for steps per epoch
# The config keys that set a model's widths; --width-scale multiplies each (CPU runs at small widths).
WIDTH_KEYS = ("conv_channels", "hidden", "latent_dim", "decoder_hidden")


def scaled_width(width: int, scale: float) -> int:
    return max(1, round(width * scale))


def model_config(model: str, data: str, width_scale: float, overrides: tuple[str, ...] = ()) -> DictConfig:
    """The real composed config for model x data (plus overrides), widths scaled; only its model, loss and data shape are used."""
    cfg = compose_config([f"model={model}", f"data={data}", "logger=none", *overrides])
    for key in WIDTH_KEYS:
        if key in cfg.model:
            widths = cfg.model[key]
            if OmegaConf.is_list(widths):
                cfg.model[key] = [scaled_width(w, width_scale) for w in widths]
            else:
                cfg.model[key] = scaled_width(widths, width_scale)
    return cfg


def step_flops(cfg: DictConfig, batch_size: int, trusted: tuple[str, ...] = ()) -> int:
    """FLOP of one training step (the loss, with grad_y f for an energy model, then backward through it), counted on the meta
    device.

    Matrix products and convolutions only, the same work the matmul peak measures; Adam and the elementwise
    work are memory-bound and add O(params + activations) FLOP. The model and loss are built through
    uvb_lab/rebuild.py's allow-list (and the target prefixes in `trusted`): cfg may come from a record
    (scripts/compute_matched.py), and nothing it names is called otherwise; RebuildError where it names something else.
    """
    with torch.device("meta"):
        model = rebuild.build("model", OmegaConf.to_container(cfg.model, resolve=True), trusted)
        x = torch.rand(batch_size, cfg.data.channels, cfg.data.image_size, cfg.data.image_size)
        y = x + torch.randn_like(x)
    loss_fn = rebuild.build("loss", OmegaConf.to_container(cfg.loss, resolve=True), trusted)
    with FlopCount() as counter:
        loss_fn(model, x, y).backward()
    return counter.flop


def step_times(step: Callable[[], Any], steps: int, device: torch.device) -> list[float]:
    """Seconds between consecutive step ends over `steps` steps.

    On CUDA an event is recorded after each step and the gaps are read once at the end: the host never
    waits mid-run, and a gap includes any time the GPU sat idle waiting for the host to queue work.
    """
    if device.type == "cuda":
        events = [torch.cuda.Event(enable_timing=True) for _ in range(steps + 1)]
        torch.cuda.synchronize(device)
        events[0].record()
        for event in events[1:]:
            step()
            event.record()
        torch.cuda.synchronize(device)
        return [a.elapsed_time(b) / 1e3 for a, b in zip(events, events[1:])]
    ends = [time.perf_counter()]
    for _ in range(steps):
        step()
        ends.append(time.perf_counter())
    return [b - a for a, b in zip(ends, ends[1:])]


def spread(values: list[float]) -> dict[str, float]:
    return {"min": min(values), "median": statistics.median(values), "max": max(values)}


def peak_dtypes(device: torch.device) -> dict[str, tuple[torch.dtype, bool]]:
    """The dense products whose peak the report compares with: (dtype, TF32 allowed) by name."""
    peaks = {"fp32": (torch.float32, False), "bf16": (torch.bfloat16, False)}
    if device.type == "cuda":
        peaks["tf32"] = (torch.float32, True)
    return peaks


def matmul_peak(device: torch.device, dtype: torch.dtype, tf32: bool, n: int) -> float:
    """FLOP/s of an n x n x n matrix product in this dtype (median of 5 after 2 warm-up): the dense peak."""
    a, b = torch.randn(n, n, device=device, dtype=dtype), torch.randn(n, n, device=device, dtype=dtype)
    with tf32_allowed(tf32):
        for _ in range(2):
            a @ b
        return 2 * n**3 / statistics.median(step_times(lambda: a @ b, 5, device))


def endless_batches(n: int, batch_size: int, device: torch.device) -> Iterator[torch.Tensor]:
    """Index batches of fresh random orders of range(n), drawn on the device, as uvb-train does."""
    while True:
        yield from torch.randperm(n, device=device).split(batch_size)


@dataclass
class Contender:
    """One way to run the training step, built and warmed up, ready to be timed round after round."""

    name: str
    precision: str
    step: Callable[[], None]
    setup_s: float  # building it and its warm-up steps (torch.compile compiles in the first one)
    peak_memory_bytes: int | None  # CUDA allocator's peak while warming up; None elsewhere
    finish: Callable[[], None]  # raises FloatingPointError if its loss stopped being finite


def ours(name: str, cfg: DictConfig, images: torch.Tensor, args: argparse.Namespace, device: torch.device,
         compile: bool = False, channels_last: bool = False) -> Contender:
    """The step as uvb-train runs it: images on the device, order and noise drawn there, uvb_lab/training/train_step.py."""
    start = time.perf_counter()
    torch.manual_seed(0)
    model = build("model", cfg.model).to(device)
    x_train, sigma = images.to(device), float(cfg.sigma)
    if channels_last:  # NHWC activations for the convolutions (measured, not used by uvb-train: docs/performance.md)
        model, x_train = model.to(memory_format=torch.channels_last), x_train.contiguous(memory_format=torch.channels_last)
    optimizer = adam(model.parameters(), lr=float(cfg.trainer.lr), device=device)
    precision = resolve_precision(args.precision, device)
    train_step = make_train_step(model, build("loss", cfg.loss), optimizer, precision, compile)
    batches = endless_batches(len(x_train), args.batch_size, device)
    loss_sum = torch.zeros((), device=device)

    def step() -> None:
        nonlocal loss_sum
        x = x_train[next(batches)]
        y = x + sigma * torch.randn_like(x)
        loss_sum += train_step(x, y)[0]

    def finish() -> None:
        if not math.isfinite(loss_sum.item()):
            raise FloatingPointError(f"{cfg.model._target_}: the loss of {name} became {loss_sum.item()}")

    return warmed_up(Contender(name, precision, step, 0.0, None, finish), args.warmup, device, start)


def naive(cfg: DictConfig, images: torch.Tensor, args: argparse.Namespace, device: torch.device) -> Contender:
    """uvb_lab/bench/naive_reference.py: the loop most users would write, fp32."""
    start = time.perf_counter()
    torch.manual_seed(0)
    model = build("model", cfg.model).to(device)
    losses = naive_training(model, build("loss", cfg.loss), images, float(cfg.sigma), args.batch_size, float(cfg.trainer.lr))
    last = [0.0]

    def step() -> None:
        last[0] = next(losses)

    def finish() -> None:
        losses.close()
        if not math.isfinite(last[0]):
            raise FloatingPointError(f"{cfg.model._target_}: the naive step's loss became {last[0]}")

    return warmed_up(Contender("naive", "fp32", step, 0.0, None, finish), args.warmup, device, start)


def warmed_up(contender: Contender, warmup: int, device: torch.device, start: float) -> Contender:
    if device.type == "cuda":
        torch.cuda.reset_peak_memory_stats(device)
    for _ in range(warmup):
        contender.step()
    if device.type == "cuda":
        torch.cuda.synchronize(device)
        contender.peak_memory_bytes = torch.cuda.max_memory_allocated(device)
    contender.setup_s = time.perf_counter() - start
    return contender


VARIANTS = ("channels_last", "compile")  # measured against ours, eager, in the same process


def bench_one(model: str, data: str, args: argparse.Namespace, device: torch.device) -> dict[str, Any]:
    """Every contender built once, then timed in turn, round after round; each figure as min / median / max."""
    cfg = model_config(model, data, args.width_scale, tuple(args.override))
    shape = (cfg.data.channels, cfg.data.image_size, cfg.data.image_size)
    # Pixel values do not change the work; a few thousand images, reshuffled each pass, as in training.
    images = torch.rand(max(args.batch_size * 16, 2048), *shape)
    flops = step_flops(cfg, args.batch_size)
    num_params = sum(p.numel() for p in build("model", cfg.model).parameters())
    contenders = [ours("ours", cfg, images, args, device)]
    contenders += [ours(f"ours_{v}", cfg, images, args, device, **{v: True}) for v in args.variants]
    if args.naive_steps:
        contenders.append(naive(cfg, images, args, device))
    rounds: dict[str, list[float]] = {c.name: [] for c in contenders}
    peaks: dict[str, list[float]] = {name: [] for name in peak_dtypes(device)}
    for _ in range(args.rounds):
        for contender in contenders:
            steps = args.naive_steps if contender.name == "naive" else args.steps
            rounds[contender.name].append(statistics.median(step_times(contender.step, steps, device)))
        for name, (dtype, tf32) in peak_dtypes(device).items():  # the peaks under the same load as the steps
            peaks[name].append(matmul_peak(device, dtype, tf32, args.peak_size))
    for contender in contenders:
        contender.finish()
    peak = {name: statistics.median(values) for name, values in peaks.items()}
    result: dict[str, Any] = {"model": model, "dataset": data, "num_params": num_params, "flop_per_step": flops,
                              "matmul_peak_flop_per_s": {name: spread(values) for name, values in peaks.items()}}
    for c in contenders:
        seconds = rounds[c.name]
        result[c.name] = {
            "precision": c.precision,
            "setup_s": c.setup_s,
            "round_step_time_s": seconds,  # the median step time of each round, in the order run
            "step_time_s": spread(seconds),
            "samples_per_s": spread([args.batch_size / s for s in seconds]),
            # against the peak of its own arithmetic (tf32 off CUDA is fp32)
            "fraction_of_peak": spread([flops / s / peak[c.precision if c.precision in peak else "fp32"] for s in seconds]),
            "peak_memory_bytes": c.peak_memory_bytes,
        }
    for c in contenders[1:]:  # each round's ratio, so load that changes between rounds cancels within one
        key = "speedup_ours_over_naive" if c.name == "naive" else f"speedup_{c.name}_over_ours"
        num, den = (rounds["naive"], rounds["ours"]) if c.name == "naive" else (rounds["ours"], rounds[c.name])
        result[key] = spread([a / b for a, b in zip(num, den)])
    if data in PAPER_TRAIN_IMAGES:
        steps_per_run = TABLE_EPOCHS * math.ceil(PAPER_TRAIN_IMAGES[data] / args.batch_size)
        result["projected_hours_8_sigmas_400_epochs"] = TABLE_SIGMAS * steps_per_run * result["ours"]["step_time_s"]["median"] / 3600
    return result


def device_name(device: torch.device) -> str:
    if device.type == "cuda":
        return torch.cuda.get_device_name(device)
    return f"{platform.processor() or platform.machine()}, {torch.get_num_threads()} threads"


def load_average() -> list[float] | None:
    """1, 5 and 15 minute load averages (other users' work on a shared machine); None where unknown."""
    try:
        return [round(load, 2) for load in os.getloadavg()]
    except (AttributeError, OSError):
        return None


def _mmm(figure: dict[str, float], scale: float = 1.0, digits: int = 0) -> str:
    return "/".join(f"{figure[k] * scale:.{digits}f}" for k in ("min", "median", "max"))


def print_table(report: dict[str, Any]) -> None:
    print(f"\nuvb-bench on {report['device']} ({report['device_name']}), batch {report['batch_size']}, "
          f"precision {report['precision']}, width scale {report['width_scale']}, {report['rounds']} interleaved rounds; "
          f"load average {report['load_average_before']} before, {report['load_average_after']} after")
    print("figures are min/median/max over the rounds; ratios are per round (both sides under the same load)")
    for r in report["results"]:
        peaks = ", ".join(f"{k} {_mmm(v, 1e-9)}" for k, v in r["matmul_peak_flop_per_s"].items())
        print(f"\n{r['model']}-{r['dataset']}: {r['num_params']:,} parameters, {r['flop_per_step'] / 1e9:.3g} GFLOP/step; "
              f"matmul peak GFLOP/s {peaks}")
        print(f"  {'':22} {'precision':9} {'ms/step':>20} {'samples/s':>16} {'% of peak':>16} {'setup s':>8}")
        for name in ("ours", *(f"ours_{v}" for v in VARIANTS), "naive"):
            if name in r:
                c = r[name]
                print(f"  {name:22} {c['precision']:9} {_mmm(c['step_time_s'], 1e3, 1):>20} {_mmm(c['samples_per_s']):>16} "
                      f"{_mmm(c['fraction_of_peak'], 100, 1):>16} {c['setup_s']:>8.1f}")
        for key in sorted(k for k in r if k.startswith("speedup_")):
            print(f"  {key:22} {_mmm(r[key], 1, 2)}")
    tables = report["tables_2_3"]
    print(f"\nTables 2 and 3 (32 runs x 400 epochs) at ours' median speed: {tables['projected_hours']:.3g} hours "
          f"({'complete' if tables['complete'] else 'partial: ' + tables['why_partial']})")


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="uvb-bench", description=__doc__.split("\n\n")[0])
    parser.add_argument("--device", default="auto", help="auto (cuda if available) | cpu | cuda | cuda:N")
    parser.add_argument("--models", default="uvb,deen", help="comma-separated conf/model names")
    parser.add_argument("--datasets", default="mnist,cifar10", help="comma-separated conf/data names")
    parser.add_argument("--batch-size", type=int, default=128, help="samples per step (the paper's 128)")
    parser.add_argument("--steps", type=int, default=10, help="timed steps of ours per round, after warm-up")
    parser.add_argument("--naive-steps", type=int, default=None, help="timed steps of the naive reference per round (default --steps; 0 skips it)")
    parser.add_argument("--rounds", type=int, default=5, help="rounds; each times every contender in turn, so load changes hit all alike")
    parser.add_argument("--warmup", type=int, default=3, help="untimed steps of each contender first (compilation, caches)")
    parser.add_argument("--precision", default=AUTO, choices=(AUTO, *PRECISIONS), help="our step's precision, as trainer.precision")
    parser.add_argument("--variants", default="", help=f"also time ours with these, comma-separated: {', '.join(VARIANTS)} "
                        "(compile: its first warm-up step compiles, see setup s)")
    parser.add_argument("--width-scale", type=float, default=1.0, help="multiply every model width (CPU: e.g. 0.25)")
    parser.add_argument("--override", action="append", default=[], metavar="KEY=VALUE",
                        help="a config override for the models, as on uvb-train's command line (repeatable), "
                        "e.g. --override model.hidden=64")
    parser.add_argument("--peak-size", type=int, default=None, help="n of the n x n matmul peak (default 8192 on CUDA, 2048 else)")
    parser.add_argument("--json", type=Path, default=None, help="write the full report here")
    args = parser.parse_args(argv)
    args.naive_steps = args.steps if args.naive_steps is None else args.naive_steps
    args.variants = [v for v in args.variants.split(",") if v]
    if unknown := [v for v in args.variants if v not in VARIANTS]:
        parser.error(f"--variants: unknown {', '.join(unknown)} (known: {', '.join(VARIANTS)})")
    for name in ("batch_size", "steps", "rounds"):
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
        device = devices.resolve_device(args.device)
    except devices.DeviceError as error:
        print(f"uvb-bench: error: {error}".replace("trainer.device", "--device"), file=sys.stderr)
        return 2
    models, datasets = args.models.split(","), args.datasets.split(",")
    args.peak_size = args.peak_size or (8192 if device.type == "cuda" else 2048)
    before = load_average()
    try:
        results = [bench_one(m, d, args, device) for m in models for d in datasets]
    except (HydraException, ConfigError) as error:  # an unknown option; a constructor's own complaint
        print(f"uvb-bench: error: {error} (models are conf/model/*.yaml, datasets conf/data/*.yaml)", file=sys.stderr)
        return 2
    complete = args.width_scale == 1.0 and all(
        any(r["model"] == m and r["dataset"] == d for r in results) for m in TABLE_MODELS for d in PAPER_TRAIN_IMAGES
    )
    report = {
        "device": str(device),
        "device_name": device_name(device),
        "torch": torch.__version__,
        "date": time.strftime("%Y-%m-%d %H:%M:%S %Z"),
        **{k: (str(v) if isinstance(v, Path) else v) for k, v in vars(args).items()},
        "precision_used": resolve_precision(args.precision, device),
        "load_average_before": before,
        "load_average_after": load_average(),
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
