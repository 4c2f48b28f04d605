"""How long a paper-size evaluation takes: fp32 on one thread (uvb-lab's evaluation before evaluate_checked), fp32 on
all threads, and evaluate_checked in the training's precision (bf16 where the CPU has native bf16, with its 500-image
fp32 check, a fixed cost: 5% of a 10,000-image evaluation, more of a smaller one), on MNIST's test images.

    python scripts/eval_speed.py --images 2000 --out docs/measurements/eval_speed.json

The models are untrained (the time of a pass does not depend on the weights); the agreement of the two on a
trained model is checked by every evaluation itself (test_precision_check in summary.json).
"""

import argparse
import json
import platform
import time
from pathlib import Path

import torch
from hydra.utils import instantiate

from uvb_lab.compose import compose_config
from uvb_lab.evaluate import evaluate, evaluate_checked
from uvb_lab.training.train_step import PRECISIONS, resolve_precision


def cpu_name() -> str:
    for line in Path("/proc/cpuinfo").read_text().splitlines() if Path("/proc/cpuinfo").is_file() else []:
        if line.startswith("model name"):
            return line.split(":", 1)[1].strip()
    return platform.processor() or platform.machine()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--images", type=int, default=2000, help="test images scored (MNIST has 10,000)")
    parser.add_argument("--models", nargs="+", default=["uvb", "deen"])
    parser.add_argument("--out", type=Path)
    args = parser.parse_args()
    data = instantiate(compose_config(["data=mnist"]).data)
    x = data.test[: args.images]
    precision = resolve_precision("auto", torch.device("cpu"))
    results = {"cpu": cpu_name(), "threads": torch.get_num_threads(), "images": len(x), "precision": precision,
               "date": time.strftime("%Y-%m-%d"), "models": {}}
    threads = torch.get_num_threads()
    for name in args.models:
        cfg = compose_config([f"model={name}", "sigma=1.0"])
        torch.manual_seed(0)
        model, loss_fn = instantiate(cfg.model), instantiate(cfg.loss)
        variants = (
            ("fp32, one thread (uvb-lab's evaluation before this change)", 1, None),
            (f"fp32, {threads} threads", threads, None),
            (f"evaluate_checked in {precision}, {threads} threads", threads, PRECISIONS[precision].autocast_dtype),
        )
        timings = {}
        for label, n_threads, dtype in variants:
            torch.set_num_threads(n_threads)
            start = time.perf_counter()
            if dtype is None:
                numbers = evaluate(model, loss_fn, x, 1234, 500)
            else:
                numbers = evaluate_checked(model, loss_fn, x, 1234, 500, autocast_dtype=dtype)
            timings[label] = {"seconds": round(time.perf_counter() - start, 2), "test_loss": numbers["test_loss"],
                              "precision_check": numbers.get("test_precision_check")}
            print(name, label, json.dumps(timings[label]), flush=True)
        torch.set_num_threads(threads)
        first, last = timings[variants[0][0]]["seconds"], timings[variants[-1][0]]["seconds"]
        results["models"][name] = {"num_params": sum(p.numel() for p in model.parameters()), "timings": timings,
                                   "fraction_of_before": round(last / first, 3)}
    if args.out:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(json.dumps(results, indent=2) + "\n")


if __name__ == "__main__":
    main()
