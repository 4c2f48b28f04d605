"""The speed benchmark, apart from training: `uvb-bench` times uvb-train's step against a naive loop.

    benchmark        the CLI: interleaved rounds of every contender, spreads, matmul peaks, the JSON report
    naive_reference  the plain PyTorch training step the benchmark compares against
    flop_count       the FLOPs of one step, counted by torch's dispatcher, for the fraction of peak
"""

from uvb_lab.bench.benchmark import main  # the `uvb-bench` entry point (pyproject.toml), stable across the files' moves

__all__ = ["main"]
