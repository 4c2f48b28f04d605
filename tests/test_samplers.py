"""The samplers on tiny models: shapes, seeds, no parameter gradients, and Langevin against a closed form."""

import importlib
import math

import pytest
import torch
from torch import nn

from uvb_lab.models import DEEN, UVB, EnergyModel
from uvb_lab.models.likelihood import GaussianLikelihood
from uvb_lab.samplers import decoder_samples, jump, langevin_walk, nebula, walk_jump

SHAPE = (1, 8, 8)



def tiny_uvb() -> UVB:
    torch.manual_seed(0)
    return UVB(sigma=1.0, channels=1, image_size=8, conv_channels=(4,), hidden=8, latent_dim=4, decoder_hidden=16,
               likelihood=GaussianLikelihood, z_samples=1)


def tiny_deen() -> DEEN:
    torch.manual_seed(0)
    return DEEN(sigma=1.0, channels=1, image_size=8, conv_channels=(4,), hidden=8, quadratic=False)


class GaussianEnergy(EnergyModel):
    """f(y) = ||y - m||^2 / (2 s^2): the density N(m, s^2 I), where Langevin's answer is known."""

    def __init__(self, m: float, s: float):
        super().__init__(sigma=1.0)
        self.m = nn.Parameter(torch.tensor(m))
        self.s = s

    def energy(self, y: torch.Tensor, z_samples: int | None = None) -> torch.Tensor:
        return (y - self.m).pow(2).flatten(1).sum(1) / (2 * self.s**2)


def no_parameter_gradients(model: nn.Module) -> bool:
    return all(p.grad is None for p in model.parameters())


@pytest.mark.parametrize("make_model", [tiny_uvb, tiny_deen])
def test_x_hat_and_nebula_shapes_seeds_and_no_parameter_gradients(make_model):
    model = make_model()
    y = torch.rand(3, *SHAPE)
    y_before = y.clone()
    first, again = jump(model, y, seed=5), jump(model, y, seed=5)
    assert first.shape == y.shape and not first.requires_grad
    assert torch.equal(first, again)
    # One NEBULA step is the Bayes estimator; two are x_hat(x_hat(y)) (Fig. 2d).
    assert torch.equal(nebula(model, y, steps=1, seed=5), first)
    two = nebula(model, y, steps=2, seed=5)
    assert two.shape == y.shape and not torch.equal(two, first)
    assert torch.equal(y, y_before)
    assert no_parameter_gradients(model)


def test_x_hat_depends_on_the_z_draws_of_uvb_only():
    y = torch.rand(3, *SHAPE)
    uvb, deen = tiny_uvb(), tiny_deen()
    assert not torch.equal(jump(uvb, y, seed=1), jump(uvb, y, seed=2))
    assert torch.equal(jump(deen, y, seed=1), jump(deen, y, seed=2))
    assert torch.allclose(jump(deen, y, z_samples=7), jump(deen, y))


def test_x_hat_over_k_draws_averages_the_gradient(monkeypatch):
    model = tiny_uvb()
    y = torch.rand(4, *SHAPE)
    # With K draws the seed-to-seed spread of x_hat shrinks like 1 / sqrt(K).
    spread_1 = (jump(model, y, 1, seed=1) - jump(model, y, 1, seed=2)).abs().mean()
    spread_400 = (jump(model, y, 400, seed=1) - jump(model, y, 400, seed=2)).abs().mean()
    assert spread_400 < spread_1 / 5
    assert model.z_samples == 1  # the model's own number of draws is left alone
    # With a posterior of (almost) zero variance every draw is the same, so any K must give the 1-draw
    # x_hat exactly: this checks that unequal chunks (3 + 2 draws) are weighted right.
    head = model.encoder_log_var[-1]
    nn.init.zeros_(head.weight)
    nn.init.constant_(head.bias, -60.0)
    monkeypatch.setattr(importlib.import_module("uvb_lab.samplers.jump"), "Z_CHUNK", 3)  # the module, not the function
    assert torch.allclose(jump(model, y, 5, seed=1), jump(model, y, 1, seed=2), atol=1e-6)
    with pytest.raises(ValueError, match="z_samples"):
        jump(model, y, 0)


def test_langevin_reaches_the_mean_and_variance_of_a_gaussian_energy():
    m, s, delta = 0.3, 0.5, 0.1
    model = GaussianEnergy(m, s)
    y0 = torch.rand(4000, 1, 2, 2)  # 16,000 coordinates, far from m's spread at the start
    y = langevin_walk(model, y0, delta=delta, steps=300, seed=0)
    # Unadjusted Langevin on N(m, s^2) is an AR(1) whose stationary variance is s^2 / (1 - delta^2 / (2 s^2)).
    expected_var = s**2 / (1 - delta**2 / (2 * s**2))
    assert abs(y.mean().item() - m) < 0.02  # standard error 0.004
    assert y.var().item() == pytest.approx(expected_var, rel=0.05)  # standard error ~1.1%
    assert torch.equal(y, langevin_walk(model, y0, delta=delta, steps=300, seed=0))
    assert no_parameter_gradients(model)


@pytest.mark.parametrize("make_model", [tiny_uvb, tiny_deen])
def test_walk_jump_batch_of_chains(make_model):
    model = make_model()
    chain = walk_jump(model, SHAPE, chains=3, jumps=4, steps_per_jump=2, delta=0.2, seed=7)
    assert chain.jumps.shape == (4, 3, *SHAPE) and chain.y.shape == (3, *SHAPE)
    assert torch.equal(chain.jumps, walk_jump(model, SHAPE, chains=3, jumps=4, steps_per_jump=2, delta=0.2, seed=7).jumps)
    assert not torch.equal(chain.jumps, walk_jump(model, SHAPE, chains=3, jumps=4, steps_per_jump=2, delta=0.2, seed=8).jumps)
    # A given start replaces y_0 ~ Unif[0,1]^d.
    y0 = torch.full((3, *SHAPE), 0.5)
    assert not torch.equal(walk_jump(model, SHAPE, chains=3, jumps=4, steps_per_jump=2, delta=0.2, y0=y0, seed=7).jumps, chain.jumps)
    with pytest.raises(ValueError, match="y0 has shape"):
        walk_jump(model, SHAPE, chains=2, jumps=1, steps_per_jump=1, delta=0.2, y0=y0)
    # The ranges of uvb-train's figures settings (uvb_lab/ranges.py), for a caller that did not check them.
    with pytest.raises(ValueError, match=r"figures.delta must be > 0, got -0.1; figures.chains must be >= 1, got 0"):
        walk_jump(model, SHAPE, chains=0, jumps=1, steps_per_jump=1, delta=-0.1)
    assert no_parameter_gradients(model)


def test_walk_jump_starts_from_the_unit_cube_and_jumps_without_moving_the_walk():
    model = GaussianEnergy(0.5, 1.0)  # x_hat(y) = y - (y - m) = m: every jump lands on the mean
    chain = walk_jump(model, (1, 2, 2), chains=5, jumps=3, steps_per_jump=1, delta=0.2, seed=0)
    assert torch.allclose(chain.jumps, torch.full_like(chain.jumps, 0.5))
    # One continuous Langevin walk from the seed's uniform start: jumps do not feed back, chains never restart.
    with torch.random.fork_rng():
        torch.manual_seed(0)
        y = torch.rand(5, 1, 2, 2)
        for _ in range(3):
            y = y - 0.2**2 * (y - 0.5) + math.sqrt(2) * 0.2 * torch.randn_like(y)
    assert torch.allclose(chain.y, y, atol=1e-6)


def test_decoder_samples():
    model = tiny_uvb()
    samples = decoder_samples(model, 6, seed=3)
    assert samples.shape == (6, *SHAPE) and not samples.requires_grad
    assert samples.min() >= 0 and samples.max() <= 1
    assert torch.equal(samples, decoder_samples(model, 6, seed=3))
    assert not torch.equal(samples, decoder_samples(model, 6, seed=4))
    with pytest.raises(TypeError, match="decoder"):
        decoder_samples(tiny_deen(), 6)
