"""What a run is scored on and compared with: its evaluations (uvb_lab/evaluate.py) on each split it scores, and the
summary it starts with: which run it is, which batches it trains on, the noisy images it is scored on and the
baselines on those very images (the linear denoiser, the training set's prior, the Bayes risk where it is known)."""

from typing import Any

import torch

from uvb_lab.data import ImageData
from uvb_lab.empirical_prior import empirical_prior_loss
from uvb_lab.evaluate import evaluate_checked
from uvb_lab.linear_baseline import linear_risk
from uvb_lab.paired_noise import noise_fingerprint
from uvb_lab.run import summary as field
from uvb_lab.run.files import RunStatus
from uvb_lab.run.provenance import provenance
from uvb_lab.training.build import Parts
from uvb_lab.training.train_step import PRECISIONS
from uvb_lab.training_stream import TrainingStream

# Fresh pairs of the Monte Carlo Bayes risk of data with a known distribution: a standard error near 1e-3 relative.
BAYES_RISK_SAMPLES = 100_000


def first_summary(parts: Parts, stream: TrainingStream) -> dict[str, Any]:
    """summary.json of a run about to start: what it is, no progress yet, which batches it trains on (stream: its
    training stream, not yet drawn from) and what it will be compared with."""
    settings = parts.settings
    return {
        **field.start(
            status=RunStatus.RUNNING.value,  # plain strings: the checkpoint holds the summary (weights_only loads)
            model=settings.model,
            dataset=settings.dataset,
            sigma=settings.sigma,
            decoder=parts.model.likelihood.name if parts.model.has_decoder else None,
            num_params=sum(p.numel() for p in parts.model.parameters()),
            epochs=settings.epochs,
        ),
        field.TRAIN_STREAM_FINGERPRINT: stream.fingerprint(len(parts.x_train), settings.batch_size, tuple(parts.x_train.shape[1:]), parts.device),
        **bayes_risk_monte_carlo(parts.data, settings.sigma),
        **noise_fingerprints(parts),
        **linear_risks(parts),
        **empirical_prior_losses(parts),
        **provenance(parts.device, parts.precision),
    }


def evaluated_splits(parts: Parts) -> dict[str, torch.Tensor]:
    """The clean images of each split an evaluation scores, by split name: test (unless trainer.evaluate_test=false,
    as a search's trials run: the test set stays unseen until the chosen setting is scored), and val where one is held out."""
    test = {"test": parts.x_test} if parts.settings.evaluate_test else {}
    return test | ({"val": parts.x_val} if parts.x_val is not None else {})


def evaluate_splits(parts: Parts) -> dict[str, float]:
    """test_loss, ... (uvb_lab/evaluate.py); also val_loss, ... where data.val_fraction holds out a validation split."""
    settings, truth = parts.settings, parts.data.ground_truth
    numbers, autocast_dtype = {}, PRECISIONS[parts.precision].autocast_dtype  # the training's precision, where it agrees
    for split, x in evaluated_splits(parts).items():
        numbers |= evaluate_checked(parts.model, parts.loss_fn, x, settings.eval_seed, settings.eval_batch_size, split, truth, autocast_dtype)
    return numbers


def noise_fingerprints(parts: Parts) -> dict[str, str]:
    """test_noise_fingerprint (and val_...): which noisy images this run is scored on (uvb_lab/paired_noise.py)."""
    sigma, seed = parts.settings.sigma, parts.settings.eval_seed
    return {field.for_split(split, field.TEST_NOISE_FINGERPRINT): noise_fingerprint(x, sigma, seed, split)
            for split, x in evaluated_splits(parts).items()}


def bayes_risk_monte_carlo(data: ImageData, sigma: float) -> dict[str, float]:
    """For data whose distribution is known: the Bayes risk at sigma by Monte Carlo (fresh pairs), with its standard
    error, beside the exact-denoiser risk on the test pairs that every evaluation records (test_bayes_risk)."""
    if data.ground_truth is None:
        return {}
    mean, standard_error = data.ground_truth.bayes_risk_monte_carlo(sigma, n=BAYES_RISK_SAMPLES, seed=0)
    return {field.BAYES_RISK_MONTE_CARLO: mean, field.BAYES_RISK_MONTE_CARLO_SE: standard_error}


def linear_risks(parts: Parts) -> dict[str, float]:
    """test_linear_risk (and val_...): the best linear denoiser of the training set on the same noisy images as the
    model (uvb_lab/linear_baseline.py), the row every report table shows beside the models."""
    sigma, seed, cache = parts.settings.sigma, parts.settings.eval_seed, parts.settings.cache_dir
    return {field.for_split(split, field.TEST_LINEAR_RISK): linear_risk(parts.x_train, x, sigma, seed, split, cache)
            for split, x in evaluated_splits(parts).items()}


def empirical_prior_losses(parts: Parts) -> dict[str, float]:
    """test_empirical_prior_loss (and val_...): the Bayes denoiser whose prior is the training images the model trains
    on, on the same noisy images as the model (uvb_lab/empirical_prior.py), the report's "training-set prior" row."""
    sigma, seed, cache = parts.settings.sigma, parts.settings.eval_seed, parts.settings.cache_dir
    return {field.for_split(split, field.TEST_EMPIRICAL_PRIOR_LOSS): empirical_prior_loss(parts.x_train, x, sigma, seed, split, cache)
            for split, x in evaluated_splits(parts).items()}
