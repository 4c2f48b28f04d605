"""The models' maths: Table 1's sizes, energy gradients, the KL of Eq. 15, the loss of Eq. 4 / 18, the direct denoiser."""

import math

import pytest
import torch
from hydra.utils import instantiate

from conftest import CONFIG_DIR, compose_config, gmm_settings
from uvb_lab import paper
from uvb_lab.bench.benchmark import step_flops
from uvb_lab.bench.flop_count import FlopCount
from uvb_lab.data.gmm import gmm
from uvb_lab.loss import CleanNegativeELBO, DenoisingLoss, NegativeELBO, squared_error, training_loss
from uvb_lab.models import DEEN, UVB, Denoiser
from uvb_lab.models.energy import EnergyModel
from uvb_lab.models.likelihood import GaussianLikelihood, LaplaceLikelihood
from uvb_lab.models.uvb import gaussian_kl
from uvb_lab.training.train_step import make_train_step

# Table 1's exact counts with the paper's architecture choices (docs/reproduction.md), kept in uvb_lab/paper.py.
PAPER_SIZE_PARAMS = [(model, data, count) for (model, data), count in paper.TABLE1_EXACT.items()]


@pytest.mark.parametrize(("model", "data", "expected"), PAPER_SIZE_PARAMS)
def test_default_config_builds_the_papers_model_sizes(model, data, expected):
    cfg = compose_config([f"model={model}", f"data={data}"])
    net = instantiate(cfg.model)
    assert sum(p.numel() for p in net.parameters()) == expected


def tiny_models() -> dict[str, EnergyModel]:
    torch.manual_seed(0)
    common = dict(sigma=0.7, channels=2, image_size=7)
    return {
        "deen": DEEN(**common, conv_channels=(3, 4), hidden=5, quadratic=False).double(),
        "deen-quadratic": DEEN(**common, conv_channels=(3, 4), hidden=5, quadratic=True).double(),
        "uvb": UVB(**common, conv_channels=(3, 4), hidden=5, latent_dim=3, decoder_hidden=6, likelihood=GaussianLikelihood, z_samples=1).double(),
        "uvb-laplace": UVB(**common, conv_channels=(3,), hidden=5, latent_dim=3, decoder_hidden=6, likelihood=LaplaceLikelihood, z_samples=1).double(),
    }


@pytest.mark.parametrize("name", ["deen", "deen-quadratic", "uvb", "uvb-laplace"])
def test_energy_gradient_matches_finite_differences(name):
    model = tiny_models()[name]
    y = torch.rand(2, 2, 7, 7, dtype=torch.float64)

    def f(y_: torch.Tensor) -> torch.Tensor:
        torch.manual_seed(123)  # the same z draw every call makes the UVB energy a fixed function of y
        return model.energy(y_).sum()

    torch.manual_seed(123)
    grad = -model.score(y)
    h = 1e-6
    for index in [(0, 0, 0, 0), (0, 1, 3, 4), (1, 0, 6, 6), (1, 1, 2, 5)]:
        step = torch.zeros_like(y)
        step[index] = h
        finite_difference = (f(y + step) - f(y - step)) / (2 * h)
        assert grad[index].item() == pytest.approx(finite_difference.item(), rel=1e-5, abs=1e-8)


def test_the_quadratic_deen_is_a_learnt_linear_shrinkage_plus_its_convnet():
    # With the ConvNet silenced, f(y) = ||y - b||^2 / (2c): x_hat = y - sigma^2 (y - b) / c, the Wiener filter of
    # N(b, (c - sigma^2) I) data when c = s^2 + sigma^2. b and c are learnt: they get gradients from the loss.
    model = tiny_models()["deen-quadratic"]
    for parameter in model.net.parameters():
        torch.nn.init.zeros_(parameter)
    with torch.no_grad():
        model.center.fill_(0.3)
        model.log_scale.fill_(math.log(0.04 + model.sigma**2))
    y = torch.rand(3, 2, 7, 7, dtype=torch.float64)
    wiener = 0.3 + 0.04 / (0.04 + model.sigma**2) * (y - 0.3)
    assert torch.allclose(model.x_hat(y), wiener)
    x = torch.rand_like(y)
    ((x - model.x_hat(y, create_graph=True)) ** 2).sum().backward()
    assert model.center.grad.abs().sum() > 0 and model.log_scale.grad.abs() > 0


def test_x_hat_is_one_gradient_step_of_size_sigma_squared():
    model = tiny_models()["deen"]
    y = torch.rand(3, 2, 7, 7, dtype=torch.float64)
    assert torch.allclose(model.x_hat(y), y + model.sigma**2 * model.score(y))


def test_closed_form_kl_matches_monte_carlo():
    torch.manual_seed(0)
    mu = torch.tensor([[0.3, -1.2, 0.0, 2.0]], dtype=torch.float64)
    log_var = torch.tensor([[0.5, -0.7, 0.0, -2.0]], dtype=torch.float64)
    n = 400_000
    z = mu + (0.5 * log_var).exp() * torch.randn(n, 4, dtype=torch.float64)
    log_q = (-0.5 * ((z - mu) ** 2 / log_var.exp() + log_var + math.log(2 * math.pi))).sum(1)
    log_p = (-0.5 * (z**2 + math.log(2 * math.pi))).sum(1)
    monte_carlo = (log_q - log_p).mean().item()
    standard_error = (log_q - log_p).std().item() / math.sqrt(n)
    assert gaussian_kl(mu, log_var).item() == pytest.approx(monte_carlo, abs=4 * standard_error)
    assert gaussian_kl(torch.zeros(1, 3), torch.zeros(1, 3)).item() == 0.0


class QuadraticEnergy(EnergyModel):
    """f(y) = ||y||^2 / 2, so grad f(y) = y and x_hat(y) = (1 - sigma^2) y."""

    def energy(self, y, z_samples=None):
        return 0.5 * y.pow(2).flatten(1).sum(1)


def test_denoising_loss_on_a_hand_computed_example():
    model = QuadraticEnergy(sigma=0.5)  # x_hat(y) = 0.75 y
    x = torch.tensor([[[[1.0, 0.0], [0.0, 0.0]]], [[[0.0, 0.0], [0.0, 2.0]]]])
    y = torch.tensor([[[[2.0, 0.0], [0.0, 0.0]]], [[[0.0, 0.0], [4.0, 0.0]]]])
    # sample 1: x_hat = (1.5, 0, 0, 0): error 0.25.  sample 2: x_hat = (0, 0, 3, 0): error 9 + 4 = 13.
    # Summed over pixels, averaged over the batch, no factor 1/2: (0.25 + 13) / 2.
    assert DenoisingLoss(target="x")(model.eval(), x, y).item() == pytest.approx(6.625)


def test_denoising_loss_trains_through_the_score_and_elbo_loss_ignores_x():
    model = tiny_models()["uvb"].train()
    x = torch.rand(4, 2, 7, 7, dtype=torch.float64)
    y = x + 0.7 * torch.randn_like(x)
    DenoisingLoss(target="x")(model, x, y).backward()
    assert all(p.grad is not None and torch.isfinite(p.grad).all() for p in model.parameters())
    torch.manual_seed(5)
    a = NegativeELBO()(model, x, y)
    torch.manual_seed(5)
    b = NegativeELBO()(model, torch.zeros_like(x), y)
    assert a.item() == b.item()


def test_uvb_energy_is_reconstruction_plus_kl_and_averages_z_samples():
    model = tiny_models()["uvb"]
    y = torch.rand(3, 2, 7, 7, dtype=torch.float64)
    torch.manual_seed(1)
    terms = model.elbo_terms(y)
    torch.manual_seed(1)
    assert torch.allclose(model.energy(y), terms.reconstruction + terms.kl)
    mu, log_var = model.encode(y)
    # With zero posterior variance every z draw is mu, so K draws must give the K = 1 value.
    mu_y = model.decode(mu)
    expected = (y - mu_y).pow(2).flatten(1).sum(1) / (2 * model.sigma**2)
    model.encoder_log_var[-1].bias.data.fill_(-200.0)
    model.encoder_log_var[-1].weight.data.zero_()
    assert torch.allclose(model.elbo_terms(y, z_samples=5).reconstruction, expected)
    assert model.elbo_terms(y, z_samples=5).decoded.shape == (5, 3, 2, 7, 7)  # the number of draws is the caller's
    with pytest.raises(ValueError, match="z_samples"):
        model.energy(y, z_samples=0)


def test_laplace_scale_defaults_to_variance_matched_and_likelihoods_are_chosen_by_config():
    model = UVB(sigma=1.0, channels=1, image_size=8, conv_channels=(2,), hidden=4, latent_dim=2, decoder_hidden=4, likelihood=LaplaceLikelihood,
                z_samples=1)
    assert model.likelihood.scale == pytest.approx(1 / math.sqrt(2))
    with pytest.raises(ValueError, match="scale"):
        LaplaceLikelihood(sigma=1.0, scale=0.0)
    target, mean = torch.zeros(1, 1, 1, 2), torch.tensor([[[[1.0, -3.0]]]])
    assert GaussianLikelihood(sigma=2.0).negative_log(target, mean).item() == pytest.approx(10 / 8)  # (1 + 9) / (2 * 4)
    assert LaplaceLikelihood(sigma=2.0, scale=0.5).negative_log(target, mean).item() == pytest.approx(8.0)  # (1 + 3) / 0.5
    for option, kind in (("uvb", GaussianLikelihood), ("uvb_laplace", LaplaceLikelihood), ("sigma_vae", GaussianLikelihood)):
        built = instantiate(compose_config([f"model={option}", "data=synthetic", "model.decoder_hidden=4"]).model)
        assert type(built.likelihood) is kind and built.has_decoder
    assert not instantiate(compose_config(["model=deen", "data=synthetic"]).model).has_decoder


class PointEncoderVAE(UVB):
    """A one-pixel, one-latent VAE with hand-set maps: q(z|v) = N(2 v, 1/4), mu_y(z) = 3 z (no sigmoid)."""

    def __init__(self, sigma):
        super().__init__(sigma, channels=1, image_size=3, conv_channels=(1,), hidden=1, latent_dim=1, decoder_hidden=1, likelihood=GaussianLikelihood,
                         z_samples=1)

    def encode(self, v):
        pixel = v.flatten(1)[:, :1]
        return 2 * pixel, torch.full_like(pixel, math.log(0.25))

    def decode(self, z):
        return (3 * z)[..., None, None].expand(*z.shape[:-1], 1, 1, 1)


def test_sigma_vae_loss_is_the_clean_elbo_on_a_hand_computed_case_and_never_sees_y():
    model = PointEncoderVAE(sigma=0.5)
    x = torch.tensor([1.0]).view(1, 1, 1, 1)
    y = torch.full_like(x, float("nan"))  # a loss that read y would be nan
    torch.manual_seed(0)
    eps = torch.randn(1, 1, 1).item()
    # z = 2 x + 0.5 eps = 2 + 0.5 eps; mu(z) = 3 z; reconstruction (x - mu)^2 / (2 sigma^2) = 2 (x - mu)^2;
    # KL[N(2, 1/4) || N(0, 1)] = (1/4 + 4 - 1 - log 1/4) / 2.
    mu = 3 * (2 + 0.5 * eps)
    expected = 2 * (1 - mu) ** 2 + (0.25 + 4 - 1 - math.log(0.25)) / 2
    torch.manual_seed(0)
    assert CleanNegativeELBO()(model, x, y).item() == pytest.approx(expected, rel=1e-6)
    # It denoises by the decoder mean of a posterior draw given y, not by x_hat(y).
    y = torch.full_like(x, 0.1)
    torch.manual_seed(1)
    draw = 0.2 + 0.5 * torch.randn(1, 1, 1).item()
    torch.manual_seed(1)
    assert CleanNegativeELBO().denoise(model, y).item() == pytest.approx(3 * draw, rel=1e-6)
    assert CleanNegativeELBO.denoises is False and DenoisingLoss.denoises is True


def parameters(overrides: list[str]) -> int:
    """dim(theta) of the model the real config composes with these overrides, built on the meta device."""
    cfg = compose_config(overrides)
    with torch.device("meta"):
        return sum(p.numel() for p in instantiate(cfg.model).parameters())


def experiments_sizing_uvb() -> list[str]:
    """The experiments that set UVB's width per model (sizes.uvb): each must size the direct denoiser to match."""
    return sorted(path.stem for path in (CONFIG_DIR / "experiment").glob("*.yaml")
                  if "uvb" in (compose_config([f"+experiment={path.stem}"]).get("sizes") or {}))


# Issue 33: the direct denoiser at UVB's parameter count, wherever UVB's width is set, with DEEN's convolutions.
SIZED = [["data=mnist"], ["data=cifar10", "model.hidden=114"]]  # the latter: conf/model/denoiser.yaml's
SIZED += [[f"+experiment={experiment}"] for experiment in experiments_sizing_uvb()]


@pytest.mark.parametrize("overrides", SIZED, ids=[" ".join(o) for o in SIZED])
def test_the_direct_denoiser_has_uvbs_parameter_count_within_one_percent(overrides):
    uvb_overrides = [o for o in overrides if not o.startswith("model.")]
    uvb, denoiser = parameters(["model=uvb", *uvb_overrides]), parameters(["model=denoiser", *overrides])
    assert abs(denoiser / uvb - 1) < 0.01, (uvb, denoiser)
    assert compose_config(["model=denoiser", *overrides]).model.conv_channels == compose_config(["model=deen", *overrides]).model.conv_channels


def test_every_experiment_sizing_uvb_is_checked_including_the_mixtures_and_table2s():
    assert {"table2_mnist_cpu", "bayes_gap", "bayes_gap_tuned", "bayes_gap_tuned_10x10"} <= set(experiments_sizing_uvb())


def tiny_denoiser(sigma=0.7) -> Denoiser:
    torch.manual_seed(0)
    return Denoiser(sigma=sigma, channels=2, image_size=7, conv_channels=(3, 4), hidden=5).double()


def test_the_direct_denoiser_regresses_x_on_y_and_its_score_is_tweedies_formula_read_backwards():
    model = tiny_denoiser()
    y = torch.rand(3, 2, 7, 7, dtype=torch.float64)
    x_hat, score = model.x_hat(y), model.score(y)
    assert x_hat.shape == y.shape and not x_hat.requires_grad  # no graph outside training
    assert torch.allclose(y + model.sigma**2 * score, x_hat)  # s(y) = (x_hat(y) - y) / sigma^2, unconstrained
    assert not hasattr(model, "energy")  # a score that is no energy's gradient: nothing to integrate
    x = torch.rand_like(y)
    assert DenoisingLoss(target="x")(model.eval(), x, y).item() == pytest.approx(squared_error(x, x_hat).mean().item())
    for parameter in model.parameters():  # a silent network outputs 0: the loss is ||x||^2, whatever y
        torch.nn.init.zeros_(parameter)
    assert DenoisingLoss(target="x")(model, x, y).item() == pytest.approx(squared_error(x, torch.zeros_like(x)).mean().item())


def test_a_training_step_of_the_direct_denoiser_is_one_forward_and_one_backward(monkeypatch):
    model = tiny_denoiser().float().train()
    x = torch.rand(4, 2, 7, 7)
    y = x + 0.7 * torch.randn_like(x)

    def no_double_backprop(*args, **kwargs):
        raise AssertionError("the direct denoiser's step called torch.autograd.grad")

    monkeypatch.setattr(torch.autograd, "grad", no_double_backprop)
    step = make_train_step(model, DenoisingLoss(target="x"), torch.optim.Adam(model.parameters(), lr=1e-3), "fp32")
    before = [p.detach().clone() for p in model.parameters()]
    loss, finite = step(x, y)
    assert bool(finite) and loss.item() > 0
    assert all(not torch.equal(a, b) for a, b in zip(before, model.parameters()))  # every parameter learnt from the step
    monkeypatch.undo()
    # What scripts/compute_matched.py counts for a step (uvb_lab/bench): about 3 forwards (the forward, then the backward
    # to the weights and to every activation but y's); DEEN's double backprop at the same widths costs about 6.
    for model_name, low, high in (("denoiser", 2.5, 3.0), ("deen", 5.5, 6.5)):
        cfg = compose_config([f"model={model_name}", "data=synthetic", "model.conv_channels=[4,8]", "model.hidden=300"])
        with torch.device("meta"):
            network = instantiate(cfg.model).net
            y = torch.rand(8, 1, 16, 16)
        with FlopCount() as forward, torch.no_grad():
            network(y)
        assert low * forward.flop <= step_flops(cfg, 8) <= high * forward.flop, model_name


def test_the_vae_losses_refuse_a_model_without_an_energy_and_accept_every_model_with_one():
    data = gmm(**gmm_settings(n_train=8, n_test=8, image_size=8))
    for loss in (NegativeELBO(), CleanNegativeELBO()):
        with pytest.raises(ValueError, match=f"{type(loss).__name__} needs the model's energy.*Denoiser does not have"):
            training_loss(loss, tiny_denoiser(), data)
    assert training_loss(NegativeELBO(), tiny_models()["uvb"], data) is not None
    assert training_loss(DenoisingLoss(target="x"), tiny_denoiser(), data) is not None


def test_the_posterior_mean_target_trains_against_the_exact_posterior_mean_and_scores_against_x():
    data = gmm(**gmm_settings(n_train=16, n_test=8, image_size=8, components=3, component_rank=2))
    model = Denoiser(sigma=0.5, channels=1, image_size=8, conv_channels=(3,), hidden=70).train()
    x = data.train[:8]
    y = x + 0.5 * torch.randn_like(x)
    loss = DenoisingLoss(target="posterior_mean")
    trained_on = training_loss(loss, model, data)
    x_hat = model.x_hat(y, create_graph=True)
    expected = squared_error(data.ground_truth.posterior_mean(y, 0.5), x_hat).mean()
    assert trained_on(model, x, y).item() == pytest.approx(expected.item(), rel=1e-6)
    assert loss(model, x, y).item() == pytest.approx(squared_error(x, x_hat).mean().item(), rel=1e-6)  # evaluation's: against x
    assert training_loss(DenoisingLoss(target="x"), model, data) is not None
    shapes = compose_config(["data=synthetic"]).data
    with pytest.raises(ValueError, match="loss.target=posterior_mean needs data whose posterior mean E\\[x\\|y\\] is known exactly.*synthetic has none"):
        training_loss(loss, model, instantiate(shapes))


def test_the_direct_denoiser_samples_and_draws_the_papers_figures_through_its_score_alone(tmp_path):
    from uvb_lab.data.synthetic import shapes
    from uvb_lab.figures.cli import default_settings
    from uvb_lab.figures.paper_figures import make_figures

    model = Denoiser(sigma=0.5, channels=1, image_size=16, conv_channels=(4,), hidden=256)
    settings = {**default_settings(), "images": 2, "jumps": 2, "steps_per_jump": 2, "chains": 2, "mixing": False}
    pngs, numbers = make_figures(tmp_path, model, shapes(n_train=8, n_test=4), settings, name="denoiser")
    assert sorted(pngs) == ["fig2_denoising", "fig3_walk_jump"]  # no decoder: no Fig. 4
    assert all(path.is_file() for path in pngs.values()) and numbers["sigma"] == 0.5
