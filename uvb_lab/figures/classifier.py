"""A small ConvNet that labels images, trained once per dataset and cached: the judge of uvb_lab/figures/mixing.py.

It is not part of the paper. Measured on MNIST (CPU, 2 cores shared with other jobs, load ~8): 2 epochs,
98.68% test accuracy in 765 s (1 epoch: 97.88% in 204 s), hence the default of 2 epochs. Its test accuracy
is saved beside the mixing numbers, so a reader knows how far to trust the labels it puts on jump samples.
"""

import logging
import time
from pathlib import Path
from typing import NamedTuple

import torch
import torch.nn.functional as F
from torch import nn

from uvb_lab.data.images import DataError, ImageData
from uvb_lab.run import files as run_files
from uvb_lab.samplers.seeding import seeded

log = logging.getLogger(__name__)


class ConvClassifier(nn.Module):
    """Two padded 3x3 conv + ReLU + 2x2 max-pool stages, then a 128-unit hidden layer: logits over the classes."""

    def __init__(self, channels: int, image_size: int, num_classes: int):
        super().__init__()
        size = image_size // 4  # two 2x2 poolings
        if size < 1:
            raise ValueError(f"the classifier needs images of at least 4 pixels, got {image_size}")
        self.net = nn.Sequential(
            nn.Conv2d(channels, 32, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
            nn.Conv2d(32, 64, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
            nn.Flatten(), nn.Linear(64 * size * size, 128), nn.ReLU(), nn.Linear(128, num_classes),
        )  # fmt: skip

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x)


class TrainedClassifier(NamedTuple):
    model: ConvClassifier
    num_classes: int
    test_accuracy: float  # fraction of the dataset's test images labelled right
    train_seconds: float  # how long its training took, where it was trained


@torch.no_grad()
def classify(model: nn.Module, x: torch.Tensor, batch_size: int = 1000) -> torch.Tensor:
    """The most likely class of every image, (N,) int64 on x's device."""
    model.eval()
    return torch.cat([model(chunk).argmax(1) for chunk in x.split(batch_size)])


def train_classifier(
    data: ImageData, epochs: int = 2, batch_size: int = 128, lr: float = 1e-3, seed: int = 0, device: str | torch.device = "cpu"
) -> TrainedClassifier:
    """Adam on the cross-entropy over data.train, then the accuracy on data.test."""
    if data.train_labels is None or data.test_labels is None:
        raise DataError(f"{data.name} has no labels: a classifier cannot be trained on it")
    if epochs < 1:
        raise ValueError(f"classifier epochs must be >= 1, got {epochs}")
    start = time.perf_counter()
    channels, image_size, _ = data.shape
    num_classes = data.num_classes
    x_train, labels = data.train.to(device), data.train_labels.to(device)
    with seeded(seed, torch.device(device)):  # its own seed, leaving the caller's random stream alone
        model = ConvClassifier(channels, image_size, num_classes).to(device)
        optimizer = torch.optim.Adam(model.parameters(), lr=lr)
        model.train()
        for _ in range(epochs):
            for indices in torch.randperm(len(x_train)).to(device).split(batch_size):
                loss = F.cross_entropy(model(x_train[indices]), labels[indices])
                optimizer.zero_grad(set_to_none=True)
                loss.backward()
                optimizer.step()
    predicted = classify(model, data.test.to(device))
    accuracy = (predicted == data.test_labels.to(device)).float().mean().item()
    return TrainedClassifier(model, num_classes, accuracy, time.perf_counter() - start)


def cache_path(cache_dir: str | Path, data: ImageData, epochs: int = 2) -> Path:
    """One cached classifier per dataset and training length: name, image shape, training-set size, epochs."""
    c, h, w = data.shape
    return Path(cache_dir).expanduser() / f"{data.name}_{c}x{h}x{w}_n{len(data.train)}_e{epochs}_classifier.pt"


def load_or_train_classifier(
    data: ImageData, cache_dir: str | Path, epochs: int = 2, device: str | torch.device = "cpu"
) -> TrainedClassifier:
    """The cached classifier of this dataset, trained (and cached) first if there is none."""
    path = cache_path(cache_dir, data, epochs)
    channels, image_size, _ = data.shape
    if path.is_file():
        try:
            state = torch.load(path, map_location=device, weights_only=True)
            model = ConvClassifier(channels, image_size, state["num_classes"]).to(device)
            model.load_state_dict(state["model"])
            return TrainedClassifier(model, state["num_classes"], state["test_accuracy"], state["train_seconds"])
        except Exception as error:  # noqa: BLE001 - a damaged cache is retrained over, not a reason to fail
            log.warning("cached classifier %s is unreadable (%r); training it again", path, error)
    log.info("training a %s classifier to label walk-jump samples (once per dataset; minutes on a CPU for MNIST); cache: %s", data.name, path)
    trained = train_classifier(data, epochs=epochs, device=device)
    state = {
        "model": trained.model.state_dict(),
        "num_classes": trained.num_classes,
        "test_accuracy": trained.test_accuracy,
        "train_seconds": trained.train_seconds,
        "epochs": epochs,
    }
    try:
        run_files.write_atomic(path, lambda tmp: torch.save(state, tmp))
    except OSError as error:  # a read-only home on a compute node: the numbers stand, only the cache is lost
        log.warning("could not cache the %s classifier in %s (%s); it is used all the same, and trained again next time "
                    "(set figures.cache_dir or UVB_CACHE to a writable folder)", data.name, path.parent, error.strerror or error)
    log.info("%s classifier: %.2f%% test accuracy after %.0f s", data.name, 100 * trained.test_accuracy, trained.train_seconds)
    return trained
