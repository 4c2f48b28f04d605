"""The training set's Bayes denoiser (the "training-set prior", uvb_lab/empirical_prior.py): against a direct softmax
over every pair, its limits, its prior (the training split, never the validation images), its cache, and the numbers a
run records."""

import json

import pytest
import torch

from conftest import QUICK, TINY, compose_config, run_uvb_train_in_process
from uvb_lab import empirical_prior
from uvb_lab.data.synthetic import gaussian
from uvb_lab.data.validation import hold_out
from uvb_lab.empirical_prior import empirical_prior_loss, posterior_mean
from uvb_lab.paired_noise import noisy
from uvb_lab.run import summary as run_summary
from uvb_lab.train import train

RUN = ["logger=none", "trainer.device=cpu", "trainer.progress=false", "figures.after_training=false"]


@pytest.fixture(autouse=True)
def _fresh_memory(monkeypatch):
    # Each test starts from an empty in-process cache, as a new process would.
    monkeypatch.setattr(empirical_prior, "_LOSSES", {})


def direct_posterior_mean(train: torch.Tensor, y: torch.Tensor, sigma: float) -> torch.Tensor:
    """sum_i softmax_i(-||y - x_i||^2 / (2 sigma^2)) x_i from every difference y - x_i itself, in float64."""
    x, flat_y = train.double().flatten(1), y.double().flatten(1)
    squared_distances = (flat_y[:, None, :] - x[None, :, :]).pow(2).sum(-1)
    return (torch.softmax(-squared_distances / (2 * sigma**2), dim=1) @ x).reshape(y.shape)


@pytest.mark.parametrize("sigma", [0.05, 0.3, 1.0, 3.0])
def test_the_posterior_mean_is_the_direct_softmax_over_every_training_image(monkeypatch, sigma):
    # Chunks smaller than the sets, and not dividing them: the running log-sum-exp crosses every boundary.
    monkeypatch.setattr(empirical_prior, "TRAIN_CHUNK", 7)
    monkeypatch.setattr(empirical_prior, "NOISY_BLOCK", 5)
    generator = torch.Generator().manual_seed(0)
    train_images = torch.rand(40, 1, 3, 3, generator=generator)
    x = torch.rand(12, 1, 3, 3, generator=generator)
    y = noisy(x, sigma, 4, "test")
    expected = direct_posterior_mean(train_images, y, sigma)
    assert torch.allclose(posterior_mean(train_images, y, sigma), expected, rtol=0, atol=1e-12)
    loss = (x.double() - expected).flatten(1).pow(2).sum(1).mean().item()
    assert empirical_prior_loss(train_images, x, sigma, 4, "test") == pytest.approx(loss, rel=1e-12)


def test_as_sigma_goes_to_zero_it_returns_the_nearest_training_image_and_at_large_sigma_their_mean():
    generator = torch.Generator().manual_seed(1)
    train_images = torch.rand(50, 1, 4, 4, generator=generator)
    y = torch.rand(20, 1, 4, 4, generator=generator)
    nearest = torch.cdist(y.double().flatten(1), train_images.double().flatten(1)).argmin(1)
    assert torch.equal(posterior_mean(train_images, y, 1e-3), train_images[nearest].double())
    assert torch.allclose(posterior_mean(train_images, y, 1e3), train_images.double().mean(0).expand_as(y), atol=1e-5)


def test_the_cache_is_hit_on_the_second_call_and_another_split_sigma_or_training_set_misses(tmp_path, monkeypatch):
    data = gaussian(n_train=256, n_test=64, image_size=4)
    first = empirical_prior_loss(data.train, data.test, 0.5, 0, "test", tmp_path)
    assert len(list((tmp_path / empirical_prior.CACHE_FOLDER).glob("*.json"))) == 1

    def no_posterior_mean(*args, **kwargs):
        raise AssertionError("recomputed")

    monkeypatch.setattr(empirical_prior, "posterior_mean", no_posterior_mean)
    assert empirical_prior_loss(data.train, data.test, 0.5, 0, "test", tmp_path) == first  # this process's memory
    monkeypatch.setattr(empirical_prior, "_LOSSES", {})
    assert empirical_prior_loss(data.train, data.test, 0.5, 0, "test", tmp_path) == first  # the cache file, as a new process
    for other in ((data.train, data.test, 0.6, 0, "test"), (data.train, data.test, 0.5, 1, "test"),
                  (data.train, data.test, 0.5, 0, "val"), (data.train[1:], data.test, 0.5, 0, "test"),
                  (data.train, data.test[1:], 0.5, 0, "test")):
        with pytest.raises(AssertionError, match="recomputed"):
            empirical_prior_loss(*other, tmp_path)


@pytest.mark.parametrize("damage", ["{not json", "[1.0]", '{"key": "KEY", "risk": "1e9"}', '{"key": "KEY", "risk": NaN}',
                                    '{"key": "another key", "risk": 1.0}'])
def test_a_damaged_cache_file_is_computed_again_never_trusted(tmp_path, monkeypatch, damage):
    data = gaussian(n_train=128, n_test=32, image_size=4)
    expected = empirical_prior_loss(data.train, data.test, 0.5, 0, "test", tmp_path)
    (file,) = (tmp_path / empirical_prior.CACHE_FOLDER).glob("*.json")
    key = json.loads(file.read_text())["key"]
    file.write_text(damage.replace("KEY", key))
    monkeypatch.setattr(empirical_prior, "_LOSSES", {})
    assert empirical_prior_loss(data.train, data.test, 0.5, 0, "test", tmp_path) == expected
    assert json.loads(file.read_text())["risk"] == expected  # and written over


def test_a_run_records_the_loss_on_its_own_noisy_images_with_the_validation_images_left_out_of_the_prior(tmp_path):
    # At sigma 0.01 a noisy image is denoised to the training image nearest it: to itself were it in the prior.
    overrides = [*QUICK, *RUN, "data=gaussian", "data.n_train=256", "data.n_test=64", "data.val_fraction=0.25",
                 "model=deen", *TINY["deen"], "sigma=0.01", "trainer.epochs=0", "trainer.eval_seed=9"]
    summary = train(compose_config(overrides), tmp_path / "run")
    assert run_summary.read(tmp_path / "run")["test_empirical_prior_loss"] == summary["test_empirical_prior_loss"]
    data = gaussian(n_train=256, n_test=64)
    split = hold_out(data, 0.25)
    assert summary["test_empirical_prior_loss"] == empirical_prior_loss(split.train, split.test, 0.01, 9, "test")
    assert summary["val_empirical_prior_loss"] == empirical_prior_loss(split.train, split.validation, 0.01, 9, "val")
    assert summary["val_empirical_prior_loss"] > 1.0  # the nearest other image, not the image itself
    assert empirical_prior_loss(data.train, split.validation, 0.01, 9, "val") < 1e-3  # as it would be with them in


def test_a_run_that_does_not_evaluate_the_test_set_records_the_validation_loss_only(tmp_path, capsys):
    run_dir = tmp_path / "run"
    overrides = [*QUICK, *TINY["deen"], "model=deen", "logger=none", "data.val_fraction=0.25", "data.n_train=64", "data.n_test=16",
                 "trainer.evaluate_test=false", f"hydra.run.dir={run_dir}"]
    code, err = run_uvb_train_in_process(overrides, capsys)
    assert code == 0, err
    summary = run_summary.read(run_dir)
    assert summary["val_empirical_prior_loss"] > 0 and "test_empirical_prior_loss" not in summary
