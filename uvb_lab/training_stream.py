"""The training stream: the order of the training images and the noise eps of each batch's y = x + sigma eps (Eq. 1),
drawn from a generator of their own, seeded by trainer.seed alone.

A run's randomness comes from two streams:
- this one, the data's: each epoch's order of the training set, then each batch's eps ~ N(0, I) of the batch's
  shape, from a torch.Generator on the training device seeded by a digest of trainer.seed (`stream_seed`). It
  depends on nothing else, so every model, loss and width trained at one seed on one dataset at one batch size
  sees the same batches (x, y): a UVB and a DEEN of seed k are paired, and so are the runs of every sigma (eps is
  drawn before sigma scales it).
- the model's: its initialisation and its z draws (UVB, VAE), from torch's global generator, seeded by trainer.seed
  itself (uvb_lab/training/build.py, build_parts), as before this stream existed: a model of seed k starts from the weights
  an earlier uvb-lab gave it. The digest keeps the data's stream apart from it.

summary.json records `train_stream_fingerprint` (`fingerprint`): a digest of the first FINGERPRINT_BATCHES batches'
indices and eps, computed at the run's start from a copy of the generator. Two runs share it exactly when they were
trained on the same batches; a run on a GPU draws from CUDA's generator, so its fingerprint is not a CPU run's.

A checkpoint holds the generator's state (uvb_lab/run/state.py), so a resumed run draws what it would have drawn
uninterrupted. A run whose checkpoint predates the stream (uvb-lab before run-folder format 4) drew its order and
noise from the global generator; it goes on drawing them there (`TrainingStream(None)`), so it too continues exactly,
and has no fingerprint.
"""

import hashlib
import logging
from typing import Any

import torch

log = logging.getLogger(__name__)

# Batches the fingerprint covers: enough that two different streams never share one (4 x 128 indices and eps).
FINGERPRINT_BATCHES = 4
FINGERPRINT_DIGITS = 16  # hex digits, as the test noise's (uvb_lab/paired_noise.py): 64 bits


def stream_seed(seed: int) -> int:
    """The training stream's seed: a digest of trainer.seed, so that it shares no stream with the model's (seeded by
    trainer.seed itself)."""
    return int.from_bytes(hashlib.sha256(f"uvb-lab training stream/{int(seed)}".encode()).digest()[:8], "little") >> 1


class TrainingStream:
    """The data order and the training noise of a run, in the order the loop draws them: an epoch's `order`, then the
    `noise` of each of its batches. generator None: torch's global generator (a run continued from an old checkpoint)."""

    def __init__(self, generator: torch.Generator | None):
        self.generator = generator

    @classmethod
    def seeded(cls, seed: int, device: torch.device | str) -> "TrainingStream":
        """The stream of trainer.seed on the training device (a CUDA generator on a GPU: no host draws, no copies)."""
        return cls(torch.Generator(device=device).manual_seed(stream_seed(seed)))

    @property
    def own(self) -> bool:
        """False where the run draws its data order and noise from the global generator (a pre-stream checkpoint)."""
        return self.generator is not None

    def _on(self, device: torch.device) -> torch.device:
        # Where the draws are made: the generator's device, which is the training device unless a run was continued
        # on another kind of device than it was saved on (then each draw is copied over).
        return device if self.generator is None else self.generator.device

    def order(self, num_images: int, device: torch.device) -> torch.Tensor:
        """A random permutation of the training images' indices, on `device`."""
        return torch.randperm(num_images, generator=self.generator, device=self._on(device)).to(device)

    def noise(self, shape: torch.Size | tuple[int, ...], device: torch.device) -> torch.Tensor:
        """eps ~ N(0, I) of `shape`, float32, on `device`: a batch's training noise, whatever the model."""
        return torch.randn(tuple(shape), generator=self.generator, device=self._on(device), dtype=torch.float32).to(device)

    def fingerprint(self, num_images: int, batch_size: int, image_shape: tuple[int, ...], device: torch.device) -> str | None:
        """A short digest of the first FINGERPRINT_BATCHES batches this stream gives from its current state (their
        indices and eps, drawn as the loop draws them), from a copy of the generator: the stream itself is untouched.
        None for the global generator, whose draws the model's interleave."""
        if self.generator is None:
            return None
        twin = torch.Generator(device=self.generator.device)
        twin.set_state(self.generator.get_state())
        copy = TrainingStream(twin)
        digest = hashlib.sha256(repr((int(num_images), int(batch_size), tuple(image_shape))).encode())
        for indices in copy.order(num_images, device).split(batch_size)[:FINGERPRINT_BATCHES]:
            eps = copy.noise((len(indices), *image_shape), device)
            digest.update(indices.to("cpu", torch.int64).numpy().tobytes())
            digest.update(eps.cpu().numpy().tobytes())
        return digest.hexdigest()[:FINGERPRINT_DIGITS]

    def state_dict(self) -> dict[str, Any] | None:
        """The generator's state and the kind of device it draws on (tensors and strings: weights_only-safe); None
        for the global generator, whose state the checkpoint holds with the others."""
        if self.generator is None:
            return None
        return {"device": self.generator.device.type, "state": self.generator.get_state()}

    def load_state_dict(self, saved: dict[str, Any] | None) -> None:
        """Continue a saved stream; None (a checkpoint from before the stream): draw from the global generator."""
        if saved is None:
            self.generator = None
            return
        device = torch.device(saved["device"])
        if self.generator is None or self.generator.device.type != device.type:
            if device.type == "cuda" and not torch.cuda.is_available():
                log.warning("the training stream was saved on a GPU and this machine has none: the data order and noise "
                            "from here on are a fresh stream's, not those of an uninterrupted run")
                return
            self.generator = torch.Generator(device=device)  # draws there, each copied to the training device
        self.generator.set_state(saved["state"].cpu())
