"""Underdamped Langevin (BAOAB) on a Gaussian energy: exact configurational variance, seeds, arguments."""

import math

import pytest
import torch
from torch import nn

from uvb_lab.models.energy import EnergyModel
from uvb_lab.samplers.langevin import langevin_walk
from uvb_lab.samplers.underdamped import underdamped_walk

M, S = 0.3, 0.5  # the Gaussian energy's mean and standard deviation


class GaussianEnergy(EnergyModel):
    """f(y) = ||y - m||^2 / (2 s^2): the density N(m, s^2 I); counts its energy evaluations."""

    def __init__(self, m: float = M, s: float = S):
        super().__init__(sigma=1.0)
        self.m = nn.Parameter(torch.tensor(m))
        self.s = s
        self.calls = 0

    def energy(self, y: torch.Tensor, z_samples: int | None = None) -> torch.Tensor:
        self.calls += 1
        return (y - self.m).pow(2).flatten(1).sum(1) / (2 * self.s**2)


def no_parameter_gradients(model: nn.Module) -> bool:
    return all(p.grad is None for p in model.parameters())


def test_baoab_samples_a_gaussian_exactly_in_y_where_the_overdamped_walk_is_biased():
    delta = 0.3  # h = sqrt(2) delta = 0.42; delta^2 / (2 s^2) = 0.18
    model = GaussianEnergy()
    y0 = torch.rand(4000, 1, 2, 2)  # 16,000 coordinates from the unit cube, as in Fig. 3
    y, v = underdamped_walk(model, y0, delta=delta, steps=150, friction=2 / S, seed=0)  # critical damping
    # BAOAB's y-marginal on a harmonic energy is exactly N(m, s^2) for any stable step (Leimkuhler & Matthews
    # 2013); its v has variance 1 - h^2 / (4 s^2) = 1 - delta^2 / (2 s^2), and is uncorrelated with y.
    assert abs(y.mean().item() - M) < 0.02  # standard error 0.004
    assert y.var().item() == pytest.approx(S**2, rel=0.05)  # standard error ~1.1%
    assert abs(v.mean().item()) < 0.03  # standard error 0.007
    assert v.var().item() == pytest.approx(1 - delta**2 / (2 * S**2), rel=0.05)
    assert abs(torch.corrcoef(torch.stack([y.flatten(), v.flatten()]))[0, 1].item()) < 0.04
    # Eq. 19 at the same delta: variance s^2 / (1 - delta^2 / (2 s^2)), 22% too wide.
    y_overdamped = langevin_walk(model, y0, delta=delta, steps=150, seed=0)
    assert y_overdamped.var().item() == pytest.approx(S**2 / (1 - delta**2 / (2 * S**2)), rel=0.05)
    assert abs(y_overdamped.var().item() / S**2 - 1) > 3 * abs(y.var().item() / S**2 - 1)
    assert no_parameter_gradients(model)


def test_infinite_friction_is_the_leimkuhler_matthews_overdamped_scheme_of_step_delta_squared():
    delta, steps = 0.2, 5
    model = GaussianEnergy()
    y0 = torch.rand(3, 1, 2, 2)
    eps = torch.randn(3, 1, 2, 2)
    h = math.sqrt(2) * delta
    # v as a previous call leaves it (eps_0 after the last B): then every step is
    # y_{n+1} = y_n - delta^2 grad f(y_n) + (delta / sqrt(2)) (eps_n + eps_{n+1}).
    v0 = eps + (h / 2) * model.score(y0).detach()
    y, v = underdamped_walk(model, y0, delta, steps, friction=math.inf, v=v0, seed=0)
    with torch.random.fork_rng():
        torch.manual_seed(0)
        expected = y0
        for _ in range(steps):
            eps_next = torch.randn_like(eps)
            expected = expected - delta**2 * (expected - M) / S**2 + delta / math.sqrt(2) * (eps + eps_next)
            eps = eps_next
    assert torch.allclose(y, expected, atol=1e-6)
    assert torch.allclose(v, eps - (h / 2) * (expected - M) / S**2, atol=1e-6)


def test_seeds_inputs_velocity_carry_and_one_score_per_step():
    model = GaussianEnergy()
    y0, v0 = torch.rand(5, 1, 2, 2), torch.randn(5, 1, 2, 2)
    y_before, v_before = y0.clone(), v0.clone()
    rng_before = torch.get_rng_state()
    y, v = underdamped_walk(model, y0, 0.2, 10, friction=1.0, v=v0, seed=3)
    assert model.calls == 11  # steps + 1: the last B's gradient is the next step's first B's
    assert torch.equal(torch.get_rng_state(), rng_before)
    assert torch.equal(y0, y_before) and torch.equal(v0, v_before)
    assert y.shape == v.shape == y0.shape and not y.requires_grad and not v.requires_grad
    again = underdamped_walk(model, y0, 0.2, 10, friction=1.0, v=v0, seed=3)
    assert torch.equal(y, again[0]) and torch.equal(v, again[1])
    assert not torch.equal(y, underdamped_walk(model, y0, 0.2, 10, friction=1.0, v=v0, seed=4)[0])
    # v=None draws v ~ N(0, I) first; 10 steps equal 4 + 6 with the velocity handed back.
    with torch.random.fork_rng():
        torch.manual_seed(0)
        whole = underdamped_walk(model, y0, 0.2, 10, friction=1.0)
        torch.manual_seed(0)
        part_y, part_v = underdamped_walk(model, y0, 0.2, 4, friction=1.0)
        part = underdamped_walk(model, part_y, 0.2, 6, friction=1.0, v=part_v)
    assert torch.allclose(whole[0], part[0], atol=1e-6) and torch.allclose(whole[1], part[1], atol=1e-6)
    same_y, fresh_v = underdamped_walk(model, y0, 0.2, 0, friction=1.0, seed=0)
    assert torch.equal(same_y, y0) and fresh_v.shape == y0.shape
    assert no_parameter_gradients(model)


@pytest.mark.parametrize(
    "kwargs, message",
    [
        (dict(delta=0.0), "delta must be > 0"),
        (dict(delta=math.nan), "delta must be > 0"),
        (dict(steps=-1), "steps must be >= 0"),
        (dict(friction=0.0), "friction gamma must be > 0"),
        (dict(friction=-1.0), "friction gamma must be > 0"),
        (dict(v=torch.zeros(2, 4)), "velocity v has shape"),
    ],
)
def test_invalid_arguments_raise(kwargs, message):
    arguments = dict(delta=0.2, steps=3, friction=1.0) | kwargs
    with pytest.raises(ValueError, match=message):
        underdamped_walk(GaussianEnergy(), torch.rand(2, 1, 2, 2), **arguments)
