"""What the training set's Bayes denoiser (uvb_lab/empirical_prior.py) costs and scores: its time and loss on MNIST,
how exact its float64 expanded-square logits are against the differences y - x_i themselves, and on the Gaussian
mixture its loss against the exact Bayes risk on the same noisy test pairs.

    python scripts/empirical_prior.py --out docs/measurements/empirical_prior.json
    python scripts/empirical_prior.py --weights-only --out docs/measurements/empirical_prior_weights.json

Every timing is the whole computation a run makes at its start when the cache has no value (noise, posterior means,
loss), without the cache; the split is the test set (10,000 images) or the validation split (6,000), the prior the
54,000 training images left by data.val_fraction=0.1 (as +experiment=table2_mnist_tuned) or all 60,000. The mixtures:
+experiment=bayes_gap_tuned's (18,000 training images after its validation split) and conf/data/gmm.yaml's (50,000).
"""

import argparse
import json
import os
import time
from pathlib import Path

import torch
from hydra.utils import instantiate

from uvb_lab.compose import compose_config
from uvb_lab.data.gmm import bayes_risk
from uvb_lab.empirical_prior import measured_loss, posterior_mean
from uvb_lab.paired_noise import noisy

EVAL_SEED = 1234  # conf/config.yaml's trainer.eval_seed: the noisy images every default run is scored on


def cpu_name() -> str:
    for line in Path("/proc/cpuinfo").read_text().splitlines():
        if line.startswith("model name"):
            return line.split(":", 1)[1].strip()
    return "unknown"


def resident_mib(field: str) -> float:
    """This process's resident memory (VmRSS) or its peak since the last reset (VmHWM), in MiB."""
    line = next(line for line in Path("/proc/self/status").read_text().splitlines() if line.startswith(field + ":"))
    return int(line.split()[1]) / 1024


def timed_loss(train: torch.Tensor, x: torch.Tensor, sigma: float, split: str) -> dict:
    load_before = os.getloadavg()[0]
    start, cpu_start = time.perf_counter(), time.process_time()
    loss = measured_loss(train, x, noisy(x, sigma, EVAL_SEED, split), sigma)
    seconds, cpu_seconds = time.perf_counter() - start, time.process_time() - cpu_start
    print(f"sigma {sigma} {split}: {len(train)} x {len(x)} pairs, loss {loss:.4f}, {seconds:.1f} s ({cpu_seconds:.1f} s of CPU)", flush=True)
    # cpu_seconds: the work itself, summed over the threads; on a machine shared with other jobs the wall time is longer
    return {"sigma": sigma, "split": split, "n_train": len(train), "n_split": len(x), "loss": loss, "seconds": seconds,
            "cpu_seconds": cpu_seconds, "load_average_before": load_before, "load_average_after": os.getloadavg()[0]}


def matmul_rate(dtype: torch.dtype, repeats: int = 10) -> float:
    """GFLOP/s of one block's product (1,024 noisy images by 4,096 training images of 784 pixels) in dtype."""
    a, b = torch.rand(1024, 784, dtype=dtype), torch.rand(4096, 784, dtype=dtype)
    a @ b.T
    start = time.perf_counter()
    for _ in range(repeats):
        a @ b.T
    return 2 * 1024 * 4096 * 784 * repeats / (time.perf_counter() - start) / 1e9


def exactness(train: torch.Tensor, x: torch.Tensor, sigma: float, images: int) -> dict:
    """The largest relative difference of x_hat from the softmax of -||y - x_i||^2 / 2 sigma^2 computed from the
    differences themselves (no expanded square), over `images` noisy images, all in float64."""
    y = noisy(x, sigma, EVAL_SEED, "test")[:images]
    ours = posterior_mean(train, y, sigma).flatten(1)
    flat_train = train.double().flatten(1)
    worst = 0.0
    for i in range(images):
        squared = (y[i].double().flatten() - flat_train).pow(2).sum(1)
        direct = torch.softmax(-squared / (2 * sigma**2), 0) @ flat_train
        worst = max(worst, ((ours[i] - direct).norm() / direct.norm()).item())
    print(f"sigma {sigma}: largest relative difference from the direct softmax over {images} images: {worst:.2e}", flush=True)
    return {"sigma": sigma, "images": images, "largest_relative_difference": worst}


def weight_density(train: torch.Tensor, x: torch.Tensor, sigma: float, images: int, margin: float = 50.0) -> dict:
    """The fraction of (noisy image, training image) pairs whose weight is above exp(-margin) of the image's largest:
    the pairs a float32 pass would have to correct in float64."""
    flat_train = train.double().flatten(1)
    y = noisy(x, sigma, EVAL_SEED, "test")[:images].double().flatten(1)
    logits = (y @ flat_train.T - flat_train.pow(2).sum(1) / 2) / sigma**2
    fraction = (logits > logits.amax(1, keepdim=True) - margin).double().mean().item()
    print(f"sigma {sigma}: {fraction:.2%} of the pairs weigh more than exp(-{margin:g}) of their largest", flush=True)
    return {"sigma": sigma, "images": images, "margin": margin, "fraction": fraction}


def against_bayes(overrides: list[str], sigmas: list[float]) -> list[dict]:
    """The training-set prior's test loss over the exact Bayes risk on the same noisy test pairs of a mixture."""
    data = instantiate(compose_config(["data=gmm", *overrides]).data)
    rows = []
    for sigma in sigmas:
        y = noisy(data.test, sigma, EVAL_SEED, "test")
        exact = bayes_risk(data.ground_truth, data.test, y, sigma).mean().item()
        timing = timed_loss(data.train, data.test, sigma, "test")
        rows.append({**timing, "data": overrides, "bayes_risk": exact, "ratio": timing["loss"] / exact})
        print(f"  {overrides}: Bayes risk {exact:.4f}, ratio {timing['loss'] / exact:.3f}", flush=True)
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sigmas", type=float, nargs="+", default=[1.0, 0.6, 0.3])
    parser.add_argument("--exactness-images", type=int, default=100)
    parser.add_argument("--mixture-sigmas", type=float, nargs="+", default=[0.3, 1.0])
    parser.add_argument("--weights-only", action="store_true", help="only the fraction of pairs that carry weight")
    parser.add_argument("--out", type=Path)
    args = parser.parse_args()
    held_out = instantiate(compose_config(["data=mnist", "data.val_fraction=0.1"]).data)
    if args.weights_only:
        densities = [weight_density(held_out.train, held_out.test, sigma, 500) for sigma in (0.3, 0.6, 1.0)]
        if args.out:
            args.out.write_text(json.dumps({"date": time.strftime("%Y-%m-%d"), "weight_density": densities}, indent=2) + "\n")
        return
    whole = instantiate(compose_config(["data=mnist"]).data)
    results = {"cpu": cpu_name(), "cores": os.cpu_count(), "threads": torch.get_num_threads(), "dtype": "float64",
               "torch": torch.__version__, "date": time.strftime("%Y-%m-%d"), "timings": [], "exactness": []}
    results["matmul_gflops_before"] = {"float64": matmul_rate(torch.float64), "float32": matmul_rate(torch.float32)}
    resident_before = resident_mib("VmRSS")
    Path("/proc/self/clear_refs").write_text("5")  # resets the peak (VmHWM) to what is resident now: MNIST's loading aside
    for sigma in args.sigmas:
        results["timings"].append(timed_loss(held_out.train, held_out.test, sigma, "test"))
    results["peak_memory_added_mib"] = resident_mib("VmHWM") - resident_before
    print(f"peak memory added by the computation: {results['peak_memory_added_mib']:.0f} MiB", flush=True)
    results["timings"].append(timed_loss(held_out.train, held_out.validation, 1.0, "val"))
    results["timings"].append(timed_loss(whole.train, whole.test, 1.0, "test"))
    results["matmul_gflops_after"] = {"float64": matmul_rate(torch.float64), "float32": matmul_rate(torch.float32)}
    print(f"matmul GFLOP/s before {results['matmul_gflops_before']}, after {results['matmul_gflops_after']}", flush=True)
    results["exactness"].append(exactness(held_out.train, held_out.test, 0.3, args.exactness_images))
    results["mixtures"] = [*against_bayes(["data.n_train=20000", "data.val_fraction=0.1"], args.mixture_sigmas),
                           *against_bayes([], args.mixture_sigmas)]
    if args.out:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(json.dumps(results, indent=2) + "\n")


if __name__ == "__main__":
    main()
