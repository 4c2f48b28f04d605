"""Underdamped (kinetic) Langevin MCMC on the learned energy of y, integrated by BAOAB.

The walk of walk-jump sampling in the author's later work (Saremi & Srivastava, "Multimeasurement
generative models", nnaisense/mems; Frey et al., "Protein discovery with discrete walk-jump sampling"):
a velocity v is carried along with y, so chains move ballistically instead of diffusing.
"""

import math

import torch

from uvb_lab.models.score import ScoreModel
from uvb_lab.samplers.seeding import seeded


# dv = -gamma v dt - grad f(y) dt + sqrt(2 gamma) dW,  dy = v dt  (unit mass, temperature 1), by BAOAB:
# B: v -= (h/2) grad f(y);  A: y += (h/2) v;  O: v = c v + sqrt(1 - c^2) eps, c = exp(-gamma h);  A;  B.
def underdamped_walk(
    model: ScoreModel,
    y: torch.Tensor,
    delta: float,
    steps: int,
    friction: float,
    v: torch.Tensor | None = None,
    seed: int | None = None,
) -> tuple[torch.Tensor, torch.Tensor]:
    """`steps` BAOAB steps from (y, v) (a batch of independent chains); returns (y, v), detached.

    The scheme is BAOAB of Leimkuhler & Matthews, "Rational construction of stochastic numerical methods
    for molecular sampling", Appl. Math. Res. Express 2013 (also their book "Molecular Dynamics", 2015).
    Its stationary law approximates p(y, v) ∝ exp(-f(y)) N(v; 0, I); unadjusted (no Metropolis correction).

    Step size. delta is the overdamped step of Eq. 19 (pixel units, Fig. 3: 0.2), and the BAOAB time step
    is h = sqrt(2) * delta, chosen so that the two samplers are comparable at the same delta:
      - as friction -> infinity at fixed h (c -> 0, the velocity fully refreshed every step), BAOAB becomes
        the Leimkuhler-Matthews scheme y_{n+1} = y_n - (h^2 / 2) grad f(y_n) + (h / 2)(eps_n + eps_{n+1}),
        an overdamped Langevin integrator of time step h^2 / 2 = delta^2: the same drift per step as
        Eq. 19 (delta^2 grad f) and the same noise accumulated over many steps (sqrt(2) delta per step);
      - on a Gaussian energy of variance s^2 both are stable for the same steps, delta < sqrt(2) s
        (h < 2 s for BAOAB, delta^2 / s^2 < 2 for Eq. 19).
    On that Gaussian, BAOAB's y has variance exactly s^2 for any stable step and any friction (Eq. 19's
    is s^2 / (1 - delta^2 / (2 s^2))), while the returned v has variance 1 - h^2 / (4 s^2) = 1 - delta^2 / (2 s^2).

    friction: gamma, in 1 / time in the units of h (v ~ N(0, I) makes a unit of time a unit of y). Small
    gamma keeps momentum for about 1 / gamma of time (1 / (gamma h) steps); a Gaussian of std s is
    critically damped at gamma = 2 / s; math.inf refreshes v every step (the limit above).
    v: the starting velocity, e.g. the v returned by the previous call, so a walk-jump chain keeps its
    momentum across jumps; None draws v ~ N(0, I). Neither y nor v is modified.
    Costs steps + 1 score evaluations: the gradient of each step's last B is reused by the next step's
    first B, and one more is needed at the start of a call.
    """
    if not delta > 0:
        raise ValueError(f"the Langevin step delta must be > 0, got {delta}")
    if steps < 0:
        raise ValueError(f"steps must be >= 0, got {steps}")
    if not friction > 0:
        raise ValueError(f"the friction gamma must be > 0 (math.inf for a fresh velocity every step), got {friction}")
    if v is not None and v.shape != y.shape:
        raise ValueError(f"the velocity v has shape {tuple(v.shape)}, expected y's {tuple(y.shape)}")
    h = math.sqrt(2) * delta
    c = math.exp(-friction * h)  # the O step's exact Ornstein-Uhlenbeck decay over time h
    noise_scale = math.sqrt(1 - c**2)
    with seeded(seed, y.device):
        y = y.detach()
        v = torch.randn_like(y) if v is None else v.detach().to(y)
        if steps == 0:
            return y, v
        # score = -grad f, so "v -= (h/2) grad f" is "v += (h/2) score"
        score = model.score(y).detach()
        for _ in range(steps):
            v = v + (h / 2) * score  # B
            y = y + (h / 2) * v  # A
            v = c * v + noise_scale * torch.randn_like(v)  # O
            y = y + (h / 2) * v  # A
            score = model.score(y).detach()
            v = v + (h / 2) * score  # B
    return y, v
