"""What every data loader returns: whole train and test sets as float tensors in [0, 1], NCHW."""

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch


class DataError(Exception):
    """The data asked for cannot be used: missing files, wrong shape or checksum, bad layout."""


@dataclass(frozen=True)
class ImageData:
    name: str
    train: torch.Tensor  # (N, C, H, W), float32 in [0, 1]
    test: torch.Tensor
    train_labels: torch.Tensor | None = None  # (N,) int64 where the dataset has classes
    test_labels: torch.Tensor | None = None
    validation: torch.Tensor | None = None  # held out of the training set by data.val_fraction (uvb_lab/data/validation.py)
    validation_labels: torch.Tensor | None = None
    # The exact distribution of generated data, where it is known (uvb_lab/data/gmm.py, GaussianMixture): its
    # posterior_mean(y, sigma) is the best possible denoiser, whose risk every run on the data is measured against.
    ground_truth: Any = None

    @property
    def shape(self) -> tuple[int, int, int]:
        return tuple(self.train.shape[1:])

    @property
    def num_classes(self) -> int | None:
        """Classes 0..K-1 of the training labels; None for unlabelled data."""
        return None if self.train_labels is None else int(self.train_labels.max()) + 1


def uint8_to_unit(images: torch.Tensor) -> torch.Tensor:
    """Pixels / 255 as float32, no normalisation (the models see x in [0, 1]^d: docs/reproduction.md)."""
    return images.to(torch.float32).div_(255.0)


def check_shape(data: ImageData, channels: int, image_size: int) -> ImageData:
    """The config declares the image shape (models are sized from it); the files must agree."""
    expected = (channels, image_size, image_size)
    for split, images in (("train", data.train), ("test", data.test)):
        if tuple(images.shape[1:]) != expected:
            raise DataError(
                f"{data.name} {split} images have shape {tuple(images.shape[1:])} (C, H, W) but the config "
                f"declares data.channels={channels}, data.image_size={image_size}; set those to match the data"
            )
        if len(images) == 0:
            raise DataError(f"{data.name} has no {split} images")
    return data


def require_files(
    name: str, root: Path, folder: Path, files: list[str], download: bool, torchvision_name: str, how_to_get: str
) -> None:
    """The dataset's standard files are all in folder, fetched first by torchvision into root if asked; else DataError.

    folder is where torchvision.datasets.<torchvision_name>(root) puts them: root/MNIST/raw, root/cifar-10-batches-py.
    """
    missing = [f for f in files if not (folder / f).is_file()]
    fetched = bool(missing) and download and download_with_torchvision(torchvision_name, root)
    if fetched:
        missing = [f for f in files if not (folder / f).is_file()]
    if missing:
        if download and not fetched:
            how_to_get = f"data.download=true needs torchvision, which cannot be imported here. {how_to_get}"
        # One sentence: the CLI prints an error as one line, and a listing would run into the advice after it.
        raise DataError(f"{name} files not found: expected {', '.join(str(folder / f) for f in missing)}. {how_to_get}")


def download_with_torchvision(dataset_class_name: str, root: Path) -> bool:
    """Fetch a dataset's standard files with torchvision if it is installed; False if it is not."""
    try:
        import torchvision.datasets
    except Exception:  # torchvision is an optional extra; a broken install (CUDA build on CPU torch) counts as absent
        return False
    dataset_class = getattr(torchvision.datasets, dataset_class_name)
    for train in (True, False):
        dataset_class(root=str(root), train=train, download=True)
    return True
