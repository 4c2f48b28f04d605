"""CIFAR-10 from the standard python batches under <root>/cifar-10-batches-py/ (torchvision's layout)."""

import pickle
from pathlib import Path

import numpy as np
import torch

from uvb_lab.data.images import DataError, ImageData, check_shape, require_files, uint8_to_unit
from uvb_lab.data.validation import hold_out

TRAIN_BATCHES = [f"data_batch_{i}" for i in range(1, 6)]
TEST_BATCHES = ["test_batch"]


class BatchUnpickler(pickle.Unpickler):
    """Unpickles the CIFAR-10 python batches and nothing else: a dict of numpy arrays, lists and strings.

    A pickle can name any function to call; the real batches name only numpy's array reconstruction (and,
    when written by Python 3 at protocol 2, the codec that rebuilds bytes). Anything else is refused, so a
    crafted data_batch_* file cannot run code.
    """

    ALLOWED = {
        ("numpy.core.multiarray", "_reconstruct"),
        ("numpy._core.multiarray", "_reconstruct"),
        ("numpy", "ndarray"),
        ("numpy", "dtype"),
        ("_codecs", "encode"),
    }

    def find_class(self, module: str, name: str):
        if (module, name) not in self.ALLOWED:
            raise pickle.UnpicklingError(f"refused to load {module}.{name}: a CIFAR-10 batch holds only arrays, lists and strings")
        return super().find_class(module, name)


def read_batches(folder: Path, names: list[str]) -> tuple[torch.Tensor, torch.Tensor]:
    images, labels = [], []
    for name in names:
        try:
            with open(folder / name, "rb") as f:
                batch = BatchUnpickler(f, encoding="bytes").load()
            data = np.asarray(batch[b"data"], dtype=np.uint8)
            images.append(data.reshape(-1, 3, 32, 32))
            labels.append(np.asarray(batch[b"labels"], dtype=np.int64))
        except (pickle.UnpicklingError, KeyError, ValueError, EOFError, TypeError) as error:
            raise DataError(f"{folder / name} is not a CIFAR-10 python batch ({error})") from error
    return uint8_to_unit(torch.from_numpy(np.concatenate(images))), torch.from_numpy(np.concatenate(labels))


def load_cifar10(
    root: str, channels: int = 3, image_size: int = 32, download: bool = False, val_fraction: float = 0.0
) -> ImageData:
    folder = Path(root).expanduser() / "cifar-10-batches-py"
    require_files(
        "CIFAR-10",
        Path(root).expanduser(),
        folder,
        TRAIN_BATCHES + TEST_BATCHES,
        download,
        "CIFAR10",
        "Get them with `pip install torchvision` and data.download=true, or unpack cifar-10-python.tar.gz into "
        "data.root (env UVB_DATA_ROOT). A Keras-layout .npz works too: data=npz data.path=FILE.",
    )
    train, train_labels = read_batches(folder, TRAIN_BATCHES)
    test, test_labels = read_batches(folder, TEST_BATCHES)
    return hold_out(check_shape(ImageData("cifar10", train, test, train_labels, test_labels), channels, image_size), val_fraction)
