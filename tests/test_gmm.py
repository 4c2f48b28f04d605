"""The Gaussian-mixture dataset: its exact posterior mean, Bayes risk and linear risk, and its loader."""

import math

import pytest
import torch
from hydra.utils import instantiate

from conftest import compose_config, gmm_settings, mixture_settings
from uvb_lab.config import check_values
from uvb_lab.data import DataError
from uvb_lab.data.gmm import GaussianMixture, bayes_risk, gaussian_mixture, gmm

SIGMAS = (0.3, 0.5, 0.7, 1.0)  # the paper's noise levels


def mixture(weights, means, std, shape):
    means = torch.tensor(means, dtype=torch.float64)
    return GaussianMixture(torch.tensor(weights, dtype=torch.float64), means.reshape(len(weights), -1), std, shape)


def normal_density(u: torch.Tensor, variance: float) -> torch.Tensor:
    """N(u; 0, variance I) of points u (..., d)."""
    d = u.shape[-1]
    return torch.exp(-0.5 * (u**2).sum(-1) / variance) / (2 * math.pi * variance) ** (d / 2)


def posterior_mean_by_quadrature(mix: GaussianMixture, y: torch.Tensor, sigma: float, grid: torch.Tensor) -> torch.Tensor:
    """int x p(x) p(y|x) dx / int p(x) p(y|x) dx on a regular grid of points (G, d), straight from the densities.

    A Riemann sum of a smooth integrand that vanishes at the grid's edges is accurate to far below 1e-6 here.
    """
    prior = sum(w * normal_density(grid - m, mix.std**2) for w, m in zip(mix.weights, mix.means))
    joint = prior * normal_density(y - grid, sigma**2)
    return (grid * joint[:, None]).sum(0) / joint.sum()


def test_posterior_mean_matches_numerical_integration_in_one_dimension():
    mix = mixture([0.2, 0.5, 0.3], [[-1.0], [0.5], [2.0]], 0.4, (1, 1, 1))
    grid = torch.linspace(-8, 8, 3201, dtype=torch.float64)[:, None]
    for sigma in (0.3, 1.0):
        for y in (-1.5, 0.2, 1.3, 3.0):
            expected = posterior_mean_by_quadrature(mix, torch.tensor([y], dtype=torch.float64), sigma, grid)
            got = mix.posterior_mean(torch.full((1, 1, 1, 1), y, dtype=torch.float64), sigma).flatten()
            assert got.item() == pytest.approx(expected.item(), rel=1e-6, abs=1e-9)


def test_posterior_mean_matches_numerical_integration_in_two_dimensions():
    mix = mixture([0.3, 0.7], [[0.0, 1.0], [1.5, -0.5]], 0.5, (2, 1, 1))
    axis = torch.linspace(-6, 6, 201, dtype=torch.float64)
    grid = torch.cartesian_prod(axis, axis)
    for sigma in (0.5, 1.0):
        for y in ([0.7, 0.3], [-1.0, 2.0], [2.5, -1.0]):
            y = torch.tensor(y, dtype=torch.float64)
            expected = posterior_mean_by_quadrature(mix, y, sigma, grid)
            got = mix.posterior_mean(y.reshape(1, 2, 1, 1), sigma).flatten()
            torch.testing.assert_close(got, expected, rtol=1e-6, atol=1e-9)


def test_posterior_mean_keeps_the_shape_and_dtype_of_its_input():
    mix = gaussian_mixture(**mixture_settings(channels=2, image_size=4, components=3))
    y = torch.rand(5, 2, 4, 4)
    x_hat = mix.posterior_mean(y, 0.5)
    assert x_hat.shape == y.shape and x_hat.dtype == torch.float32


def one_component(d=16, std=0.3):
    return mixture([1.0], [[0.5] * d], std, (1, 4, d // 4))


def test_one_component_bayes_risk_is_the_gaussian_closed_form():
    mix, sigma = one_component(), 0.5
    closed_form = mix.dim * mix.std**2 * sigma**2 / (mix.std**2 + sigma**2)
    risk, standard_error = mix.bayes_risk_monte_carlo(sigma, n=20_000, seed=3)
    assert abs(risk - closed_form) < 4 * standard_error
    # The same on given pairs, as a run scores its fixed-noise test set.
    generator = torch.Generator().manual_seed(4)
    x, _ = mix.sample(20_000, generator)
    y = x + sigma * torch.randn(x.shape, generator=generator, dtype=torch.float64)
    per_image = bayes_risk(mix, x, y, sigma)
    assert per_image.shape == (20_000,)
    assert abs(per_image.mean().item() - closed_form) < 4 * per_image.std().item() / math.sqrt(20_000)


def test_one_component_linear_risk_is_the_gaussian_closed_form():
    mix = one_component()
    for sigma in SIGMAS:
        assert mix.linear_risk(sigma) == pytest.approx(mix.dim * mix.std**2 * sigma**2 / (mix.std**2 + sigma**2), rel=1e-12)


@pytest.mark.parametrize(("components", "dim"), [(3, 6), (5, 3)], ids=["fewer-components-than-pixels", "more"])
def test_linear_risk_is_the_trace_formula_of_the_full_covariance(components, dim):
    generator = torch.Generator().manual_seed(components)
    weights = torch.rand(components, generator=generator, dtype=torch.float64) + 0.1
    means = torch.rand(components, dim, generator=generator, dtype=torch.float64)
    mix = GaussianMixture(weights / weights.sum(), means, 0.2, (dim, 1, 1))
    centred = mix.means - mix.weights @ mix.means
    covariance = mix.std**2 * torch.eye(dim, dtype=torch.float64) + centred.T @ (mix.weights[:, None] * centred)
    for sigma in (0.3, 1.0):
        wiener = covariance @ torch.linalg.inv(covariance + sigma**2 * torch.eye(dim, dtype=torch.float64))
        expected = torch.trace(covariance - wiener @ covariance).item()
        assert mix.linear_risk(sigma) == pytest.approx(expected, rel=1e-10)


def test_default_mixture_is_image_like_and_far_from_linear_at_every_sigma():
    mix = gaussian_mixture(**mixture_settings())  # conf/data/gmm.yaml's
    assert len(mix.weights) >= 4
    x, _ = mix.sample(5000, torch.Generator().manual_seed(0))
    assert ((x >= 0) & (x <= 1)).double().mean() >= 0.99
    for sigma in SIGMAS:
        risk, standard_error = mix.bayes_risk_monte_carlo(sigma, n=5000, seed=1)
        # A non-linear denoiser beats the best linear one by at least 30% everywhere, yet denoising is never free.
        assert risk + 4 * standard_error <= 0.7 * mix.linear_risk(sigma)
        assert risk > 0.1


def test_loader_is_seeded_float_and_labelled_by_component():
    a, b = gmm(**gmm_settings(n_train=1000, n_test=200, seed=5)), gmm(**gmm_settings(n_train=1000, n_test=200, seed=5))
    assert torch.equal(a.train, b.train) and torch.equal(a.test_labels, b.test_labels)
    assert not torch.equal(a.train, gmm(**gmm_settings(n_train=1000, n_test=200, seed=6)).train)
    assert a.name == "gmm" and a.train.shape == (1000, 1, 16, 16) and a.test.shape == (200, 1, 16, 16)
    assert a.train.dtype == torch.float32 and a.train_labels.shape == (1000,)
    # Neither quantised to k/255 nor clipped: the exact risks are of the unrounded mixture.
    on_255_grid = (a.train * 255 - (a.train * 255).round()).abs() < 1e-4
    assert on_255_grid.double().mean() < 0.01
    # The mixture that gaussian_mixture rebuilds from the same arguments is the one sampled, component = label.
    mix = gaussian_mixture(**mixture_settings(seed=5))
    distance = (a.train.double().flatten(1)[:, None] - mix.means).pow(2).sum(-1)  # (N, K)
    assert torch.equal(distance.argmin(1), a.train_labels)
    assert distance.min(1).values.mean().item() == pytest.approx(mix.dim * mix.std**2, rel=0.05)
    assert a.num_classes == len(mix.weights)


def test_test_set_does_not_depend_on_the_training_set_size():
    assert torch.equal(gmm(**gmm_settings(n_train=100, n_test=50)).test, gmm(**gmm_settings(n_train=300, n_test=50)).test)


def test_config_builds_the_loader_with_a_validation_split():
    cfg = compose_config(["data=gmm", "data.n_train=400", "data.n_test=100", "data.val_fraction=0.25"])
    check_values(cfg)
    data = instantiate(cfg.data)
    assert data.shape == (cfg.data.channels, cfg.data.image_size, cfg.data.image_size)
    assert (len(data.train), len(data.validation), len(data.validation_labels)) == (300, 100, 100)


@pytest.mark.parametrize(
    ("arguments", "message"),
    [({"components": 0}, "components must be >= 1"), ({"std": 0.0}, "std must be > 0"), ({"n_test": 0}, "n_test"),
     ({"spread": 0.7}, "spread must be in")],
)
def test_bad_arguments_are_refused_with_a_reason(arguments, message):
    with pytest.raises(DataError, match=message):
        gmm(**gmm_settings(**{"n_train": 10, "n_test": 10, **arguments}))


def test_the_monte_carlo_bayes_risk_is_estimated_once_per_mixture_and_sigma_in_a_process(monkeypatch):
    """A sweep's runs at one sigma rebuild the same mixture: they share the estimate, and another sigma does not."""
    chunks_scored = []
    monkeypatch.setattr("uvb_lab.data.gmm.bayes_risk", lambda *args: chunks_scored.append(args[3]) or bayes_risk(*args))
    first = gaussian_mixture(**mixture_settings(image_size=4, components=3, seed=5))
    again = gaussian_mixture(**mixture_settings(image_size=4, components=3, seed=5))  # rebuilt, as the next run of a sweep does
    other = gaussian_mixture(**mixture_settings(image_size=4, components=3, seed=6))
    assert first.fingerprint() == again.fingerprint() != other.fingerprint()
    estimate = first.bayes_risk_monte_carlo(0.5, n=2000, seed=0)
    assert again.bayes_risk_monte_carlo(0.5, n=2000, seed=0) == estimate
    assert chunks_scored == [0.5]  # one chunk of 2000 draws, scored once for both
    assert first.bayes_risk_monte_carlo(0.7, n=2000, seed=0) != estimate
    assert other.bayes_risk_monte_carlo(0.5, n=2000, seed=0) != estimate
    assert chunks_scored == [0.5, 0.7, 0.5]
