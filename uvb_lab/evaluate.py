"""The test-set numbers of Tables 2-5, computed the same way in every run (docs/reproduction.md, "Where the test loss comes from").

The noisy test set y = x + sigma eps is paired: drawn from its own generator, seeded by the evaluation seed and the
split, before and apart from any draw of the model (uvb_lab/paired_noise.py), so every model at one sigma is scored on
byte-identical noisy images. The z draws of UVB and VAE come from their own stream, seeded too, so a rerun gives the
same numbers.
"""

from collections import defaultdict
from typing import Any

import torch

from uvb_lab.loss import Loss, squared_error
from uvb_lab.models.energy import EnergyModel
from uvb_lab.paired_noise import noise
from uvb_lab.samplers.seeding import seeded


def evaluate(
    model: EnergyModel, loss_fn: Loss, x_test: torch.Tensor, seed: int, batch_size: int, split: str = "test", ground_truth: Any = None
) -> dict[str, float]:
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
    """
    was_training = model.training
    model.eval()
    # Sums stay on the device and are read once at the end: one wait for the GPU per evaluation, not per batch.
    sums: dict[str, torch.Tensor] = defaultdict(lambda: torch.zeros((), dtype=torch.float64, device=x_test.device))
    # The noise first, whole and from its own generator: the model's z draws below cannot shift it.
    eps = noise(x_test.shape, seed, split, x_test.device).to(x_test.dtype)
    with seeded(seed, x_test.device):  # the z draws' stream
        for x, eps_batch in zip(x_test.split(batch_size), eps.split(batch_size)):
            y = x + model.sigma * eps_batch
            n = len(x)
            loss = loss_fn(model, x, y).detach()
            sums[f"{split}_loss"] += loss * n
            # The denoising loss is the loss itself where the model trains by it; else one more pass (and z draw).
            denoising = loss if loss_fn.denoises else squared_error(x, loss_fn.denoise(model, y).detach()).mean()
            sums[f"{split}_denoising_loss"] += denoising * n
            with torch.no_grad():
                terms = model.test_terms(x, y)
            for name, values in terms.items():
                sums[f"{split}_{name}"] += values.sum()
            if ground_truth is not None:  # exact, no random draws: the model's numbers above are unchanged by it
                sums[f"{split}_bayes_risk"] += squared_error(x, ground_truth.posterior_mean(y, model.sigma)).sum()
    model.train(was_training)
    means = {key: (total / len(x_test)).item() for key, total in sums.items()}
    if ground_truth is not None:
        means[f"{split}_risk_ratio"] = means[f"{split}_denoising_loss"] / means[f"{split}_bayes_risk"]
    return means
