"""Reproducible sampling without touching the caller's random stream."""

import contextlib
from collections.abc import Iterator

import torch


@contextlib.contextmanager
def seeded(seed: int | None, device: torch.device) -> Iterator[None]:
    """Inside: torch's global RNG seeded with `seed`; after: the caller's RNG state as it was.

    The global RNG rather than a torch.Generator, because a UVB energy draws its own z ~ q(z|y)
    with torch.randn: only seeding the global stream makes those draws repeatable too.
    seed=None: no forking, the caller's stream is used and advanced.
    """
    if seed is None:
        yield
        return
    devices = [device] if device.type == "cuda" else []
    with torch.random.fork_rng(devices=devices):
        # Only the generators fork_rng restores: torch.manual_seed would also reseed every other GPU's.
        torch.random.default_generator.manual_seed(seed)
        if device.type == "cuda":
            with torch.cuda.device(device):
                torch.cuda.manual_seed(seed)
        yield
