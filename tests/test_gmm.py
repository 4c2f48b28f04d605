"""The Gaussian-mixture dataset: its exact posterior mean, Bayes risk and linear risk, and its loader."""

import hashlib
import math
import re

import pytest
import torch
from hydra.utils import instantiate
from torch.distributions import MultivariateNormal

from conftest import compose_config, gmm_settings, mixture_settings
from uvb_lab import compose, rebuild
from uvb_lab.config import check_values
from uvb_lab.data import DataError
from uvb_lab.data.gmm import GaussianMixture, bayes_risk, gaussian_mixture, gmm
from uvb_lab.run import identity as run_identity
from uvb_lab.run import legacy

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


# -- component_rank: each component's covariance s^2 I + U_k U_k^T (issue 33, a mixture UVB's decoder is not shaped for).

# What gmm(**gmm_settings(n_train=300, n_test=100)) was before component_rank existed, computed by that code (commit de7807a).
BEFORE_COMPONENT_RANK = {
    "images": "af7c6d315f1b0b738e32c47c170045e67cb8479e392a784017d96ca6815283bb",  # train, test, their labels
    "fingerprint": "6070abe8419f49fd67e92549a666ca0e1cd3fdf37b24ab6531ab0e3b207f1fa9",
    "linear_risk": {0.3: 1.342981637885256, 1.0: 5.338023456390596},
    "bayes_risk_monte_carlo": (1.476560823459099, 0.0713130900817368),  # sigma 1, n = 2000, seed 0
}


def test_component_rank_zero_is_the_mixture_made_before_it_bit_for_bit():
    data = gmm(**gmm_settings(n_train=300, n_test=100, component_rank=0))
    digest = hashlib.sha256()
    for tensor in (data.train, data.test, data.train_labels, data.test_labels):
        digest.update(tensor.contiguous().numpy().tobytes())
    assert digest.hexdigest() == BEFORE_COMPONENT_RANK["images"]
    mixture = data.ground_truth
    assert mixture.rank == 0 and mixture.fingerprint() == BEFORE_COMPONENT_RANK["fingerprint"]
    for sigma, risk in BEFORE_COMPONENT_RANK["linear_risk"].items():
        assert mixture.linear_risk(sigma) == pytest.approx(risk, rel=1e-13)
    # The Monte Carlo estimate sums float64 losses whose last bits a machine's BLAS may round differently.
    assert mixture.bayes_risk_monte_carlo(1.0, n=2000, seed=0) == pytest.approx(BEFORE_COMPONENT_RANK["bayes_risk_monte_carlo"], rel=1e-12)
    assert mixture.fingerprint() != gaussian_mixture(**mixture_settings(component_rank=1)).fingerprint()


def anisotropic_mixture():
    """Two components in two dimensions, each stretched along a direction of its own: C_k = s^2 I + u_k u_k^T."""
    factors = torch.tensor([[[0.8], [0.3]], [[-0.2], [0.9]]], dtype=torch.float64)  # (K, d, R) = (2, 2, 1)
    means = torch.tensor([[0.0, 1.0], [1.5, -0.5]], dtype=torch.float64)
    return GaussianMixture(torch.tensor([0.4, 0.6], dtype=torch.float64), means, 0.3, (2, 1, 1), factors)


def test_posterior_mean_of_anisotropic_components_matches_numerical_integration():
    mix = anisotropic_mixture()
    axis = torch.linspace(-7, 7, 281, dtype=torch.float64)
    grid = torch.cartesian_prod(axis, axis)
    covariances = mix.std**2 * torch.eye(2, dtype=torch.float64) + mix.factors @ mix.factors.transpose(1, 2)
    prior = sum(w * MultivariateNormal(m, c).log_prob(grid).exp() for w, m, c in zip(mix.weights, mix.means, covariances))
    for sigma in (0.5, 1.0):
        for y in ([0.7, 0.3], [-1.0, 2.0], [2.5, -1.0]):
            y = torch.tensor(y, dtype=torch.float64)
            joint = prior * normal_density(y - grid, sigma**2)
            expected = (grid * joint[:, None]).sum(0) / joint.sum()
            torch.testing.assert_close(mix.posterior_mean(y.reshape(1, 2, 1, 1), sigma).flatten(), expected, rtol=1e-6, atol=1e-9)


def test_the_exact_posterior_mean_at_rank_four_passes_monte_carlo_checks_a_wrong_one_fails():
    """E[x|y] is the only function of y whose error x - E[x|y] has mean 0 and is orthogonal to every function of y: here to
    y and to the posterior mean of the same mixture taken as isotropic, which is 2.4x worse than linear at sigma = 1."""
    n, sigma = 20_000, 1.0
    mix = gaussian_mixture(**mixture_settings(component_rank=4))
    isotropic = GaussianMixture(mix.weights, mix.means, mix.std, mix.shape)  # the same means, no patterns
    generator = torch.Generator().manual_seed(11)
    x, _ = mix.sample(n, generator)
    y = x + sigma * torch.randn(x.shape, generator=generator, dtype=torch.float64)

    def within_4_standard_errors(values: torch.Tensor) -> bool:
        return abs(values.mean().item()) < 4 * values.std().item() / math.sqrt(n)

    exact, wrong = mix.posterior_mean(y, sigma).flatten(1), isotropic.posterior_mean(y, sigma).flatten(1)
    error = x.flatten(1) - exact
    assert within_4_standard_errors(error.sum(1))  # unbiased
    assert within_4_standard_errors((error * (y.flatten(1) - 0.5)).sum(1))  # orthogonal to y
    assert within_4_standard_errors((error * (exact - wrong)).sum(1))  # and to a non-linear function of y
    # The same checks catch a posterior mean that ignores the patterns: its error is correlated with the exact one's gap.
    assert not within_4_standard_errors(((x.flatten(1) - wrong) * (exact - wrong)).sum(1))


def test_linear_risk_with_patterns_is_the_risk_of_the_best_affine_denoiser_fitted_by_monte_carlo():
    mix = gaussian_mixture(**mixture_settings(image_size=4, components=3, component_rank=2))
    generator, n = torch.Generator().manual_seed(12), 200_000
    for sigma in (0.3, 1.0):
        x, _ = mix.sample(n, generator)
        y = x + sigma * torch.randn(x.shape, generator=generator, dtype=torch.float64)
        x, y = x.flatten(1), y.flatten(1)
        # Least squares of x on (1, y) on one half, scored on the other: the best affine denoiser, up to O(d / n).
        design = torch.cat([torch.ones(n, 1, dtype=torch.float64), y], 1)
        half = n // 2
        coefficients = torch.linalg.lstsq(design[:half], x[:half]).solution
        losses = (x[half:] - design[half:] @ coefficients).pow(2).sum(1)
        standard_error = losses.std().item() / math.sqrt(n - half)
        assert abs(losses.mean().item() - mix.linear_risk(sigma)) < 4 * standard_error + 1e-3 * mix.linear_risk(sigma)


def test_linear_risk_with_patterns_is_the_trace_formula_of_the_full_covariance():
    mix = anisotropic_mixture()
    centred = mix.means - mix.weights @ mix.means
    patterns = (mix.weights[:, None, None] * mix.factors @ mix.factors.transpose(1, 2)).sum(0)
    covariance = mix.std**2 * torch.eye(2, dtype=torch.float64) + patterns + centred.T @ (mix.weights[:, None] * centred)
    for sigma in (0.3, 1.0):
        wiener = covariance @ torch.linalg.inv(covariance + sigma**2 * torch.eye(2, dtype=torch.float64))
        assert mix.linear_risk(sigma) == pytest.approx(torch.trace(covariance - wiener @ covariance).item(), rel=1e-10)


def test_rank_four_patterns_make_the_linear_denoiser_at_least_twice_the_bayes_risk_at_sigma_one():
    """conf/data/gmm.yaml's documented setting, on +experiment=bayes_gap's mixture (16x16, 10 components)."""
    mix = gaussian_mixture(**mixture_settings(component_rank=4))
    assert (mix.shape, len(mix.weights)) == ((1, 16, 16), 10)
    bayes, standard_error = mix.bayes_risk_monte_carlo(1.0, n=20_000, seed=0)
    assert mix.linear_risk(1.0) >= 2 * (bayes + 4 * standard_error)
    # The patterns cost the Bayes denoiser too: knowing the component no longer leaves only d s^2 sigma^2 / (s^2 + sigma^2).
    assert mix.known_component_risk(1.0) > 2 * gaussian_mixture(**mixture_settings()).known_component_risk(1.0)
    x, _ = mix.sample(2000, torch.Generator().manual_seed(0))
    assert ((x >= 0) & (x <= 1)).double().mean() >= 0.95  # still image-like


def test_patterns_are_smooth_seeded_and_of_the_configured_norm():
    mix = gaussian_mixture(**mixture_settings(component_rank=3, component_scale=1.5))
    again = gaussian_mixture(**mixture_settings(component_rank=3, component_scale=1.5))
    assert torch.equal(mix.factors, again.factors) and mix.factors.shape == (10, 256, 3)
    torch.testing.assert_close(mix.factors.norm(dim=1), torch.full((10, 3), 1.5, dtype=torch.float64))
    patterns = mix.factors.transpose(1, 2).reshape(30, 16, 16)
    neighbours = (patterns[:, 1:] * patterns[:, :-1]).sum((1, 2)) / (patterns**2).sum((1, 2))
    assert neighbours.min() > 0.8  # neighbouring pixels move together: low spatial frequencies
    assert torch.equal(mix.means, gaussian_mixture(**mixture_settings()).means)  # the patterns come after the means


@pytest.mark.parametrize(("arguments", "message"), [({"component_rank": -1}, "component_rank must be in [0, 256]"),
                                                    ({"component_scale": 0.0}, "component_scale must be > 0")])
def test_bad_pattern_arguments_are_refused(arguments, message):
    with pytest.raises(DataError, match=re.escape(message)):
        gmm(**gmm_settings(n_train=10, n_test=10, **arguments))


def test_a_gmm_run_made_before_component_rank_keeps_its_name_its_identity_and_its_rebuild():
    cfg = compose_config(["model=deen", "data=gmm"])
    assert cfg.run.name == "deen-gmm-sigma1.0"
    current, defaults = run_identity.identity(cfg), compose.defaults_identity({"model": "deen", "data": "gmm"})[0]
    recorded = {key: value for key, value in current.items() if not key.startswith("data.component_")}  # such a folder's
    assert run_identity.differences(recorded, current, defaults) == []
    ranked = compose_config(["model=deen", "data=gmm", "data.component_rank=4"])
    assert ranked.run.name == "deen-gmm-sigma1.0-component_rank4"
    assert run_identity.differences(recorded, run_identity.identity(ranked), defaults) != []
    # Its saved config.yaml, rebuilt for uvb-figures, is today's rank-0 mixture.
    saved = {key: value for key, value in gmm_settings(n_train=20, n_test=10).items() if not key.startswith("component_")}
    node = legacy.upgrade_config({"data": {"_target_": "uvb_lab.data.gmm.gmm", **saved}})["data"]
    assert rebuild.build("data", node).ground_truth.fingerprint() == BEFORE_COMPONENT_RANK["fingerprint"]
