"""The test-set numbers of Tables 2-5, computed the same way in every run (docs/reproduction.md, "Where the test loss comes from").

The noise y = x + sigma eps and, for UVB and VAE, the z draws come from a fixed seed, so two runs are
compared on the same noisy test set and a rerun gives the same number.
"""

from collections import defaultdict
from collections.abc import Callable

import torch

from uvb_lab.loss import denoising_loss
from uvb_lab.models.energy import EnergyModel
from uvb_lab.models.uvb import UVB
from uvb_lab.samplers.seeding import seeded

Loss = Callable[[EnergyModel, torch.Tensor, torch.Tensor], torch.Tensor]


def evaluate(
    model: EnergyModel, loss_fn: Loss, x_test: torch.Tensor, seed: int, batch_size: int, split: str = "test"
) -> dict[str, float]:
    """Means over the whole test set (or the validation split, split="val": the same numbers, named val_...).

    test_loss: the model's training objective. test_denoising_loss: Eq. 4 for every model, so the
    vanilla VAE's energy can be judged as a denoiser too. For VAE energies, the two terms of Eq. 14 on
    the noisy input (test_kl_on_y, test_recon_on_y: what the energy is made of) and on the clean one
    (test_kl_on_x, test_recon_on_x: what docs/reproduction.md matches to Tables 4 and 5).
    """
    # Hydra hands the loss over as functools.partial(fn); the test loss is the denoising loss already then.
    trains_by_denoising = getattr(loss_fn, "func", loss_fn) is denoising_loss
    was_training = model.training
    model.eval()
    # Sums stay on the device and are read once at the end: one wait for the GPU per evaluation, not per batch.
    sums: dict[str, torch.Tensor] = defaultdict(lambda: torch.zeros((), dtype=torch.float64, device=x_test.device))
    with seeded(seed, x_test.device):
        for x in x_test.split(batch_size):
            y = x + model.sigma * torch.randn_like(x)
            n = len(x)
            loss = loss_fn(model, x, y).detach()
            sums[f"{split}_loss"] += loss * n
            sums[f"{split}_denoising_loss"] += (loss if trains_by_denoising else denoising_loss(model, x, y).detach()) * n
            if isinstance(model, UVB):
                with torch.no_grad():
                    for name, inputs in (("y", y), ("x", x)):
                        terms = model.elbo_terms(inputs)
                        sums[f"{split}_kl_on_{name}"] += terms.kl.sum()
                        sums[f"{split}_recon_on_{name}"] += terms.reconstruction.sum()
    model.train(was_training)
    return {key: (total / len(x_test)).item() for key, total in sums.items()}
