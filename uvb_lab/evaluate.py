"""The test-set numbers of Tables 2-5, computed the same way in every run (docs/reproduction.md, "Where the test loss comes from").

The noisy test set y = x + sigma eps is paired: drawn from its own generator, seeded by the evaluation seed and the
split, before and apart from any draw of the model (uvb_lab/paired_noise.py), so every model at one sigma is scored on
byte-identical noisy images. The z draws of UVB and VAE come from their own stream, seeded too, so a rerun gives the
same numbers.
"""

import logging
from collections import defaultdict
from contextlib import contextmanager
from typing import Any

import torch

from uvb_lab.loss import Loss, squared_error
from uvb_lab.models.score import ScoreModel
from uvb_lab.paired_noise import noise
from uvb_lab.run.summary import TEST_BAYES_RISK, TEST_DENOISING_LOSS, TEST_LOSS, TEST_PRECISION_CHECK, TEST_RISK_RATIO, for_split
from uvb_lab.samplers.seeding import seeded

log = logging.getLogger(__name__)

# An evaluation in a lower precision (bf16) scores its first CHECK_IMAGES images in fp32 too, and keeps its own numbers
# only where its loss on them agrees with fp32's to AGREEMENT (0.1%); else the whole evaluation is redone in fp32.
CHECK_IMAGES = 500
AGREEMENT = 1e-3

@contextmanager
def frozen(model: ScoreModel):
    """The parameters out of autograd while inside: the score needs grad_y f, never a parameter's gradient."""
    flags = [p.requires_grad for p in model.parameters()]
    for p in model.parameters():
        p.requires_grad_(False)
    try:
        yield
    finally:
        for p, flag in zip(model.parameters(), flags):
            p.requires_grad_(flag)


def evaluate_checked(
    model: ScoreModel, loss_fn: Loss, x_test: torch.Tensor, seed: int, batch_size: int, split: str = "test",
    ground_truth: Any = None, autocast_dtype: torch.dtype | None = None,
) -> dict[str, float]:
    """`evaluate` in the training's autocast dtype where that gives fp32's numbers: at training speed.

    With autocast_dtype (bf16), the first CHECK_IMAGES images are scored in both precisions; the lower precision's
    numbers stand where their loss agrees with fp32's to AGREEMENT, and `{split}_precision_check` records the
    relative difference; otherwise the evaluation is redone in fp32 (and says so in the log).
    """
    if autocast_dtype is None:
        return evaluate(model, loss_fn, x_test, seed, batch_size, split, ground_truth)
    # One pass in the low precision, whose first batches are the check's; fp32 only on those batches.
    checked = min(len(x_test), -(-CHECK_IMAGES // batch_size) * batch_size)  # whole batches: the same z draws in both
    numbers, first = evaluate(model, loss_fn, x_test, seed, batch_size, split, ground_truth, autocast_dtype, prefix=checked)
    exact = evaluate(model, loss_fn, x_test, seed, batch_size, split, ground_truth, None, images=checked)
    compared = (for_split(split, TEST_LOSS), for_split(split, TEST_DENOISING_LOSS))
    difference = max(abs(first[key] / exact[key] - 1) for key in compared if exact[key])
    if difference > AGREEMENT:
        log.info("%s evaluation in fp32: %s differs from it by %.2g on %d images", split, autocast_dtype, difference, checked)
        numbers = evaluate(model, loss_fn, x_test, seed, batch_size, split, ground_truth)
    return numbers | {for_split(split, TEST_PRECISION_CHECK): difference}


def evaluate(
    model: ScoreModel, loss_fn: Loss, x_test: torch.Tensor, seed: int, batch_size: int, split: str = "test", ground_truth: Any = None,
    autocast_dtype: torch.dtype | None = None, images: int | None = None, prefix: int | None = None,
) -> Any:
    """Means over the whole test set (or the validation split, split="val": the same numbers, named val_...).

    test_loss: the model's training objective. test_denoising_loss: ||x - x_estimate||^2 of the model's own
    denoiser (loss_fn.denoise: x_hat(y) of Eq. 4, or mu_y(z ~ q(z|y)) for the sigma-VAE), so a VAE can be
    judged as a denoiser too. Models with a decoder add the two terms of Eq. 14 on the noisy input
    (test_kl_on_y, test_recon_on_y: what the energy is made of) and on the clean one (test_kl_on_x,
    test_recon_on_x: what docs/reproduction.md matches to Tables 4 and 5), and the decoder-mean denoiser's
    test_decoder_denoising_loss beside the empirical Bayes one (for the sigma-VAE, whose own denoiser that is,
    the two numbers are the same estimator over independent z draws).

    ground_truth: the data's exact distribution where it is known (ImageData.ground_truth): then also
    test_bayes_risk, the best possible denoiser's ||x - E[x|y]||^2 on the very same noisy pairs, and
    test_risk_ratio = test_denoising_loss / test_bayes_risk (1 is optimal).

    autocast_dtype: run the model's products in it (None: fp32; evaluate_checked decides when bf16 may be used).
    images: score only the first n images, on the very noise and z draws the whole set would give them.
    prefix: also return the means over the first `prefix` images (a whole number of batches), as (means, prefix means).
    """
    was_training = model.training
    model.eval()
    # Sums stay on the device and are read once at the end: one wait for the GPU per evaluation, not per batch.
    sums: dict[str, torch.Tensor] = defaultdict(lambda: torch.zeros((), dtype=torch.float64, device=x_test.device))
    # The noise first, whole and from its own generator: the model's z draws below cannot shift it.
    eps = noise(x_test.shape, seed, split, x_test.device).to(x_test.dtype)
    scored = x_test[:images] if images is not None else x_test
    autocast = torch.autocast(x_test.device.type, dtype=autocast_dtype or torch.bfloat16, enabled=autocast_dtype is not None)
    seen, at_prefix = 0, None
    loss_key, denoising_key, bayes_key = (for_split(split, key) for key in (TEST_LOSS, TEST_DENOISING_LOSS, TEST_BAYES_RISK))
    with seeded(seed, x_test.device), frozen(model), autocast:  # seeded: the z draws' stream
        for x, eps_batch in zip(scored.split(batch_size), eps[: len(scored)].split(batch_size)):
            y = x + model.sigma * eps_batch
            n = len(x)
            loss = loss_fn(model, x, y).detach().double()  # summed in float64 whatever the autocast dtype
            sums[loss_key] += loss * n
            # The denoising loss is the loss itself where the model trains by it; else one more pass (and z draw).
            denoising = loss if loss_fn.denoises else squared_error(x, loss_fn.denoise(model, y).detach()).double().mean()
            sums[denoising_key] += denoising * n
            with torch.no_grad():
                terms = model.test_terms(x, y)
            for name, values in terms.items():  # kl_on_y, ...: test_kl_on_y (uvb_lab/run/summary.py)
                sums[for_split(split, f"test_{name}")] += values.double().sum()
            if ground_truth is not None:  # exact, no random draws, never autocast: the model's numbers are unchanged by it
                with torch.autocast(x.device.type, enabled=False):
                    sums[bayes_key] += squared_error(x, ground_truth.posterior_mean(y, model.sigma)).sum()
            seen += n
            if seen == prefix:
                at_prefix = {key: total.clone() for key, total in sums.items()}
    model.train(was_training)
    means = _means(sums, len(scored), split, ground_truth is not None)
    return means if prefix is None else (means, _means(at_prefix, prefix, split, ground_truth is not None))


def _means(sums: dict[str, torch.Tensor], count: int, split: str, with_bayes_risk: bool) -> dict[str, float]:
    means = {key: (total / count).item() for key, total in sums.items()}
    if with_bayes_risk:
        ratio, denoising, bayes = (for_split(split, key) for key in (TEST_RISK_RATIO, TEST_DENOISING_LOSS, TEST_BAYES_RISK))
        means[ratio] = means[denoising] / means[bayes]
    return means
