"""The best linear (Wiener) denoiser every report table shows beside the models: its closed forms, its pairing with the
models' noisy test images, and its cache (uvb_lab/linear_baseline.py)."""

import logging

import pytest
import torch

from conftest import QUICK, TINY, compose_config
from uvb_lab import linear_baseline
from uvb_lab.data.synthetic import gaussian, optimal_gaussian_risk
from uvb_lab.data.validation import hold_out
from uvb_lab.linear_baseline import expected_risk, linear_risk, spectrum, wiener_denoise
from uvb_lab.loss import squared_error
from uvb_lab.paired_noise import noisy
from uvb_lab.train import train

RUN = ["logger=none", "trainer.device=cpu", "trainer.progress=false", "figures.after_training=false"]


@pytest.fixture(autouse=True)
def _fresh_memory(monkeypatch):
    # Each test starts from an empty in-process cache, as a new process would.
    monkeypatch.setattr(linear_baseline, "_SPECTRA", {})
    monkeypatch.setattr(linear_baseline, "_RISKS", {})


def test_on_data_gaussian_the_wiener_risk_equals_the_bayes_risk_in_closed_form(tmp_path):
    # x ~ N(m, s^2 I): the Wiener filter is the Bayes estimator, risk d s^2 sigma^2 / (s^2 + sigma^2).
    data = gaussian(n_train=20_000, n_test=2048, image_size=4, mean=0.5, std=0.5, seed=1)
    sigma, d = 0.7, 16
    bayes = optimal_gaussian_risk(d, 0.5, sigma)
    assert expected_risk(spectrum(data.train), sigma) == pytest.approx(bayes, rel=0.02)  # the training set's moments
    # Measured on the paired test images it is the exact posterior mean's risk on the same pairs, to estimation error.
    y = noisy(data.test, sigma, 3, "test")
    exact = squared_error(data.test.double(), data.ground_truth.posterior_mean(y.double(), sigma)).mean().item()
    assert linear_risk(data.train, data.test, sigma, 3, "test") == pytest.approx(exact, rel=0.01)
    assert exact == pytest.approx(bayes, rel=0.05)  # 2048 test images: a sample of the expected risk


def test_the_filter_is_m_plus_c_over_c_plus_sigma_squared_and_the_risk_is_its_loss_on_the_paired_images():
    torch.manual_seed(0)
    train_images = torch.rand(300, 1, 3, 3) * torch.linspace(0.2, 1, 9).reshape(1, 1, 3, 3)
    x, sigma = torch.rand(50, 1, 3, 3), 0.3
    flat = train_images.double().flatten(1)
    m, c = flat.mean(0), torch.cov(flat.T, correction=0)
    y = noisy(x, sigma, 5, "test")
    direct = m + (y.double().flatten(1) - m) @ torch.linalg.solve(c + sigma**2 * torch.eye(9, dtype=torch.float64), c)  # C symmetric
    spec = spectrum(train_images)
    assert torch.allclose(wiener_denoise(spec, y, sigma).flatten(1), direct, atol=1e-10)
    risk = (x.double().flatten(1) - direct).pow(2).sum(1).mean().item()
    assert linear_risk(train_images, x, sigma, 5, "test") == pytest.approx(risk, rel=1e-9)


def test_the_risk_is_computed_once_then_read_from_memory_and_from_the_cache_folder(tmp_path, monkeypatch):
    data = gaussian(n_train=256, n_test=64, image_size=4)
    first = linear_risk(data.train, data.test, 0.5, 0, "test", tmp_path)

    def no_eigendecomposition(*args, **kwargs):
        raise AssertionError("recomputed")

    monkeypatch.setattr(torch.linalg, "eigh", no_eigendecomposition)
    assert linear_risk(data.train, data.test, 0.5, 0, "test", tmp_path) == first  # this process's memory
    monkeypatch.setattr(linear_baseline, "_SPECTRA", {})
    monkeypatch.setattr(linear_baseline, "_RISKS", {})
    assert linear_risk(data.train, data.test, 0.5, 0, "test", tmp_path) == first  # the cache file, as a new process
    with pytest.raises(AssertionError, match="recomputed"):  # another sigma, or other data, is another key
        linear_risk(data.train, data.test, 0.6, 0, "test", tmp_path)
    with pytest.raises(AssertionError, match="recomputed"):
        linear_risk(data.train, data.test + 0.01, 0.5, 0, "test", tmp_path)


def test_a_cache_folder_that_cannot_be_written_only_warns(tmp_path, caplog):
    blocked = tmp_path / "a_file"
    blocked.write_text("not a folder")
    data = gaussian(n_train=256, n_test=64, image_size=4)
    with caplog.at_level(logging.WARNING):
        risk = linear_risk(data.train, data.test, 0.5, 0, "test", blocked)
    assert risk > 0 and "cannot cache the linear risk" in caplog.text


def test_a_run_records_the_linear_risk_of_its_own_noisy_test_and_validation_images(tmp_path):
    overrides = [*QUICK, *RUN, "data=gaussian", "data.n_train=256", "data.n_test=64", "data.val_fraction=0.25",
                 "model=deen", *TINY["deen"], "sigma=0.5", "trainer.epochs=0", "trainer.eval_seed=9"]
    summary = train(compose_config(overrides), tmp_path / "run")
    data = gaussian(n_train=256, n_test=64)
    split = hold_out(data, 0.25)  # the filter is fitted on the training images left after the validation split
    assert summary["test_linear_risk"] == linear_risk(split.train, split.test, 0.5, 9, "test")
    assert summary["val_linear_risk"] == linear_risk(split.train, split.validation, 0.5, 9, "val")
    assert summary["test_linear_risk"] != linear_risk(data.train, split.test, 0.5, 9, "test")
