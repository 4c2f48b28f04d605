"""Any image dataset in the Keras .npz layout: x_train, y_train, x_test, y_test; uint8 (N, H, W[, C])."""

import zipfile
from pathlib import Path

import numpy as np
import torch

from uvb_lab.data.images import DataError, ImageData, check_shape, uint8_to_unit
from uvb_lab.data.validation import hold_out

KEYS = ("x_train", "y_train", "x_test", "y_test")


def to_nchw(images: np.ndarray, path: Path, key: str) -> torch.Tensor:
    if images.dtype != np.uint8:
        raise DataError(f"{path}: {key} has dtype {images.dtype}, expected uint8 pixels 0..255")
    if images.ndim == 3:  # (N, H, W): grey images
        images = images[:, None]
    elif images.ndim == 4:  # (N, H, W, C), the Keras layout
        images = images.transpose(0, 3, 1, 2)
    else:
        raise DataError(f"{path}: {key} has shape {images.shape}, expected (N, H, W) or (N, H, W, C)")
    return uint8_to_unit(torch.from_numpy(np.ascontiguousarray(images)))


def load_npz(path: str, channels: int, image_size: int, name: str | None = None, val_fraction: float = 0.0) -> ImageData:
    file = Path(path).expanduser()
    if not file.is_file():
        raise DataError(f"npz file not found: {file} (set data.path to a Keras-layout .npz with keys {', '.join(KEYS)})")
    try:
        with np.load(file, allow_pickle=False) as arrays:
            missing = [k for k in KEYS if k not in arrays.files]
            if missing:
                raise DataError(f"{file} lacks the keys {missing}; a Keras-layout .npz holds {list(KEYS)}, this one {arrays.files}")
            loaded = {k: arrays[k] for k in KEYS}
    except (zipfile.BadZipFile, OSError, ValueError) as error:
        raise DataError(f"{file} is not a readable .npz file ({error})") from error
    for split in ("train", "test"):  # a label per image, or the labels of a classifier's mixing numbers are off by one image
        images, labels = loaded[f"x_{split}"], loaded[f"y_{split}"]
        if labels.size != len(images):
            raise DataError(f"{file}: y_{split} holds {labels.size} labels for the {len(images)} images of x_{split}")
    data = ImageData(
        name or file.stem,
        to_nchw(loaded["x_train"], file, "x_train"),
        to_nchw(loaded["x_test"], file, "x_test"),
        torch.from_numpy(loaded["y_train"].astype(np.int64).reshape(-1)),
        torch.from_numpy(loaded["y_test"].astype(np.int64).reshape(-1)),
    )
    return hold_out(check_shape(data, channels, image_size), val_fraction)
