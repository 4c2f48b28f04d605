"""Walk-jump sampling (Saremi & Hyvarinen 2019; Sec. 3.4): walk in y by Langevin MCMC, jump to x_hat(y)."""

from typing import NamedTuple

import torch

from uvb_lab import ranges
from uvb_lab.models.score import ScoreModel
from uvb_lab.samplers.jump import jump
from uvb_lab.samplers.langevin import langevin_walk
from uvb_lab.samplers.seeding import seeded
from uvb_lab.samplers.underdamped import underdamped_walk


class WalkJump(NamedTuple):
    jumps: torch.Tensor  # (jumps, chains, C, H, W): x_hat(y_t) after every k-th Langevin step, in order
    y: torch.Tensor  # (chains, C, H, W): where the walk ended, to continue it


# Eq. 19 (walk) with Eq. 20 (jump x_hat(y_tau)) after every steps_per_jump steps; no warm-up, no restarts.
def walk_jump(
    model: ScoreModel,
    shape: tuple[int, int, int],
    *,
    chains: int,
    jumps: int,
    steps_per_jump: int,
    delta: float,
    y0: torch.Tensor | None = None,
    seed: int | None = None,
    device: torch.device | str | None = None,
    friction: float | None = None,
) -> WalkJump:
    """`chains` independent chains of jumps * steps_per_jump Langevin steps each (Fig. 3: delta 0.2, k = 10; the
    figures' values are conf/config.yaml's `figures:`). The defaults left are choices of the call, not settings.

    y0: the starting batch (chains, *shape); None draws y_0 ~ Unif([0, 1]^d) as in Sec. 3.4. The jumps
    only look at the walk: the chain continues from y_tau, not from x_hat(y_tau).
    friction: None walks by the paper's overdamped Langevin (Eq. 19); a friction gamma walks by underdamped
    Langevin (BAOAB, uvb_lab/samplers/underdamped.py) at the same delta, the velocity drawn N(0, I) at the
    start and carried across the jumps.
    """
    if found := ranges.problems({"chains": chains, "jumps": jumps, "steps_per_jump": steps_per_jump, "delta": delta}, "figures"):
        raise ValueError(f"walk_jump: {'; '.join(found)}")  # the ranges of the figures' settings, uvb_lab/ranges.py
    if device is None:
        device = next(model.parameters()).device
    device = torch.device(device)
    with seeded(seed, device):
        y = torch.rand((chains, *shape), device=device) if y0 is None else y0.to(device).detach()
        if tuple(y.shape) != (chains, *shape):
            raise ValueError(f"y0 has shape {tuple(y.shape)}, expected {(chains, *shape)}")
        samples, velocity = [], None
        for _ in range(jumps):
            if friction is None:
                y = langevin_walk(model, y, delta, steps_per_jump)
            else:
                y, velocity = underdamped_walk(model, y, delta, steps_per_jump, friction, velocity)
            samples.append(jump(model, y))
    return WalkJump(torch.stack(samples), y)
