"""The noisy test set of an evaluation: the same images for every model, so that two runs' test losses are paired.

y = x + sigma eps (Eq. 1) with eps drawn from a generator of its own, seeded by the evaluation seed
(trainer.eval_seed) and the split alone, on the CPU, before and apart from any random draw of a model (the z ~ q(z|y)
of a UVB or a VAE). So at one sigma the noisy images are a function of (the clean images, sigma, eval_seed, split):
the same for UVB and DEEN, for any number of z draws, batch size, precision or device (a CPU draw moved to the GPU;
x + sigma eps is one IEEE multiply and one add, rounded the same everywhere). The test and validation splits get
different eps (their seeds differ by the split's name). eps does not depend on sigma: every sigma of a sweep sees the
same standard-normal draws, scaled.

The fingerprint of a noisy set (noise_fingerprint) is a short digest of the noisy images' bytes, recorded in
summary.json as test_noise_fingerprint (and val_noise_fingerprint): two runs with the same fingerprint were scored on
byte-identical noisy images, and the report pairs runs only where their fingerprints agree (docs/comparing_runs.md,
"Paired noise"). Runs made before uvb-lab drew the noise this way have none: their noise shared one random stream with
the model's z draws, so a UVB and a DEEN saw different noisy images past the first batch.
"""

import hashlib
from collections import OrderedDict

import torch

# Noise tensors kept in this process, by (seed, split, shape, device): the evaluation runs every epoch, and a
# sweep's jobs in one process share them. A few entries: test and validation, on the CPU (fingerprints) and on the
# device (MNIST's test noise is 31 MB, CIFAR-10's 123 MB).
_KEEP = 6
_NOISE: OrderedDict[tuple, torch.Tensor] = OrderedDict()
# Hex digits of the fingerprint: 64 bits, enough that two different noisy sets never share one by chance.
FINGERPRINT_DIGITS = 16


def noise_seed(seed: int, split: str) -> int:
    """The noise generator's seed: a digest of (seed, split), so that it shares no stream with the z draws, which
    use `seed` itself (uvb_lab/evaluate.py), and the test and validation splits get different noise."""
    return int.from_bytes(hashlib.sha256(f"uvb-lab test noise/{split}/{int(seed)}".encode()).digest()[:8], "little") >> 1


def noise(shape: tuple[int, ...], seed: int, split: str, device: torch.device | str = "cpu") -> torch.Tensor:
    """eps ~ N(0, I) of the given shape (N, C, H, W), float32, drawn on the CPU from its own generator, on `device`.

    Drawn whole, so image i's noise does not depend on the batch size the evaluation reads the images by.
    """
    key = (int(seed), split, tuple(shape), str(torch.device(device)))
    if key not in _NOISE:
        generator = torch.Generator().manual_seed(noise_seed(seed, split))
        _NOISE[key] = torch.randn(tuple(shape), generator=generator, dtype=torch.float32).to(device)
        while len(_NOISE) > _KEEP:
            _NOISE.popitem(last=False)
    _NOISE.move_to_end(key)
    return _NOISE[key]


def noisy(x: torch.Tensor, sigma: float, seed: int, split: str) -> torch.Tensor:
    """y = x + sigma eps (Eq. 1) for the whole set x, with the split's paired noise, on x's device and in x's dtype."""
    return x + sigma * noise(x.shape, seed, split, x.device).to(x.dtype)


def noise_fingerprint(x: torch.Tensor, sigma: float, seed: int, split: str) -> str:
    """A short digest of the noisy images y = x + sigma eps (their float32 bytes, shape and sigma): equal for two
    runs scored on byte-identical noisy images, different otherwise."""
    y = noisy(x.detach().to("cpu", torch.float32), sigma, seed, split)
    digest = hashlib.sha256(repr((tuple(y.shape), float(sigma))).encode())
    digest.update(y.contiguous().numpy().tobytes())
    return digest.hexdigest()[:FINGERPRINT_DIGITS]
