"""How long a paper-size evaluation takes: fp32 (uvb-lab <= 0.1's evaluation) against evaluate_checked in the
training's precision (bf16 where the CPU has native bf16, with its 500-image fp32 check), on MNIST's test images.

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
from uvb_lab.train_step import PRECISIONS, resolve_precision


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--images", type=int, default=2000, help="test images scored (MNIST has 10,000)")
    parser.add_argument("--models", nargs="+", default=["uvb", "deen"])
    parser.add_argument("--out", type=Path)
    args = parser.parse_args()
    data = instantiate(compose_config(["data=mnist"]).data)
    x = data.test[: args.images]
    precision = resolve_precision("auto", torch.device("cpu"))
    results = {"cpu": platform.processor() or platform.machine(), "threads": torch.get_num_threads(), "images": len(x),
               "precision": precision, "models": {}}
    for name in args.models:
        cfg = compose_config([f"model={name}", "sigma=1.0"])
        torch.manual_seed(0)
        model, loss_fn = instantiate(cfg.model), instantiate(cfg.loss)
        timings = {}
        for label, dtype in (("fp32", None), (precision, PRECISIONS[precision].autocast_dtype)):
            start = time.perf_counter()
            if dtype is None:
                numbers = evaluate(model, loss_fn, x, 1234, 500)
            else:
                numbers = evaluate_checked(model, loss_fn, x, 1234, 500, autocast_dtype=dtype)
            timings[label] = {"seconds": time.perf_counter() - start, "test_loss": numbers["test_loss"],
                              "precision_check": numbers.get("test_precision_check")}
        timings["speedup"] = timings["fp32"]["seconds"] / timings[precision]["seconds"]
        results["models"][name] = {"num_params": sum(p.numel() for p in model.parameters()), **timings}
        print(name, json.dumps(timings), flush=True)
    if args.out:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(json.dumps(results, indent=2) + "\n")


if __name__ == "__main__":
    main()
