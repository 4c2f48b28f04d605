"""Paired evaluation: at one sigma every model is scored on the same noisy test images, whatever it draws itself,
and summary.json records which images those were (uvb_lab/paired_noise.py)."""

import torch

from conftest import QUICK, TINY, compose_config
from uvb_lab.evaluate import evaluate
from uvb_lab.loss import DenoisingLoss
from uvb_lab.models import DEEN, UVB
from uvb_lab.models.likelihood import GaussianLikelihood
from uvb_lab.paired_noise import noise_fingerprint, noisy
from uvb_lab.train import train

RUN = ["logger=none", "trainer.device=cpu", "trainer.progress=false", "figures.after_training=false"]


class SeenInputs(DenoisingLoss):
    """The denoising loss, keeping every noisy batch y it is given: what the evaluation scored the model on."""

    def __init__(self):
        self.seen = []

    def __call__(self, model, x, y):
        self.seen.append(y.detach().clone())
        return super().__call__(model, x, y)


def noisy_images_seen(model, x_test, batch_size):
    loss = SeenInputs()
    evaluate(model, loss, x_test, seed=1234, batch_size=batch_size)
    return torch.cat(loss.seen)


def test_two_different_models_evaluations_at_one_sigma_see_byte_identical_noisy_test_images():
    torch.manual_seed(0)
    x_test = torch.rand(40, 1, 8, 8)
    common = dict(sigma=0.5, channels=1, image_size=8, conv_channels=(3, 4), hidden=5)
    uvb = UVB(**common, latent_dim=3, decoder_hidden=6, likelihood=GaussianLikelihood, z_samples=2)  # draws z ~ q(z|y) in every batch
    deen = DEEN(**common, quadratic=False)  # draws nothing
    # Several batches: before paired noise, the UVB's z draws of batch 1 moved batch 2's noise.
    seen_by_uvb, seen_by_deen = noisy_images_seen(uvb, x_test, 16), noisy_images_seen(deen, x_test, 16)
    assert torch.equal(seen_by_uvb, seen_by_deen)
    assert torch.equal(noisy_images_seen(deen, x_test, 40), seen_by_deen)  # nor does the batch size change them
    assert torch.equal(seen_by_deen, noisy(x_test, 0.5, 1234, "test"))  # the images the fingerprint is of
    # Not the clean images, and not the same draws for another split or seed.
    assert not torch.equal(seen_by_deen, x_test)
    assert not torch.equal(noisy(x_test, 0.5, 1234, "val"), seen_by_deen)
    assert not torch.equal(noisy(x_test, 0.5, 1235, "test"), seen_by_deen)


def test_a_rerun_gives_the_same_numbers_and_z_draws_stay_seeded():
    torch.manual_seed(0)
    x_test = torch.rand(20, 1, 8, 8)
    uvb = UVB(sigma=0.5, channels=1, image_size=8, conv_channels=(3,), hidden=5, latent_dim=3, decoder_hidden=6, likelihood=GaussianLikelihood,
              z_samples=1)
    first = evaluate(uvb, DenoisingLoss(target="x"), x_test, seed=3, batch_size=8)
    assert evaluate(uvb, DenoisingLoss(target="x"), x_test, seed=3, batch_size=8) == first
    assert evaluate(uvb, DenoisingLoss(target="x"), x_test, seed=4, batch_size=8) != first


def test_runs_of_two_models_record_one_noise_fingerprint_and_another_sigma_or_eval_seed_another(tmp_path):
    base = [*QUICK, *RUN, "data.n_train=64", "data.n_test=32", "data.val_fraction=0.25", "trainer.epochs=0"]

    def fingerprints(*overrides):
        summary = train(compose_config([*base, *overrides]), tmp_path / "_".join(overrides))
        return summary["test_noise_fingerprint"], summary["val_noise_fingerprint"]

    uvb = fingerprints("model=uvb", *TINY["uvb"], "sigma=0.5")
    deen = fingerprints("model=deen", *TINY["deen"], "sigma=0.5")
    assert uvb == deen and uvb[0] != uvb[1]
    assert fingerprints("model=deen", *TINY["deen"], "sigma=0.25")[0] != deen[0]
    assert fingerprints("model=deen", *TINY["deen"], "sigma=0.5", "trainer.eval_seed=1")[0] != deen[0]
    x = torch.rand(4, 1, 2, 2)
    assert noise_fingerprint(x, 0.5, 0, "test") == noise_fingerprint(x.clone(), 0.5, 0, "test")
    assert noise_fingerprint(x, 0.5, 0, "test") != noise_fingerprint(x + 1e-3, 0.5, 0, "test")  # of the images, not the noise alone


def test_two_models_trained_at_each_seed_are_compared_as_paired_and_at_another_batch_size_are_not(tmp_path):
    from uvb_lab.report.pairing import PAIRED, SAME_TEST_NOISE, seeds_pair

    base = [*QUICK, *RUN, "data.n_train=64", "data.n_test=32", "trainer.epochs=0", "sigma=0.5", "trainer.batch_size=16"]

    def runs(model, *overrides):
        return {seed: train(compose_config([*base, f"model={model}", *TINY[model], f"trainer.seed={seed}", *overrides]),
                            tmp_path / "_".join([model, str(seed), *overrides]))
                for seed in (0, 1)}

    uvb, deen = runs("uvb"), runs("deen")
    assert seeds_pair(uvb, deen).paired and seeds_pair(uvb, deen).words == f"{PAIRED} (0, 1)"
    # The same noisy test images, but other batches: the seeds are not paired, whatever the test noise.
    other = seeds_pair(uvb, runs("deen", "trainer.batch_size=32"))
    assert not other.paired and other.words.startswith(f"{SAME_TEST_NOISE}: other training streams at seed 0, 1")
