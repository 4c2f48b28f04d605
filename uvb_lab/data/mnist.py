"""MNIST from the four standard IDX files under <root>/MNIST/raw/ (torchvision's layout)."""

import hashlib
from pathlib import Path

import numpy as np
import torch

from uvb_lab.data.images import DataError, ImageData, check_shape, require_files, uint8_to_unit
from uvb_lab.data.validation import hold_out

# The published md5s of the uncompressed official files (shared/data/README.md).
MD5 = {
    "train-images-idx3-ubyte": "6bbc9ace898e44ae57da46a324031adb",
    "train-labels-idx1-ubyte": "a25bea736e30d166cdddb491f175f624",
    "t10k-images-idx3-ubyte": "2646ac647ad5339dbf082846283269ea",
    "t10k-labels-idx1-ubyte": "27ae3e4e09519cfbb04c329615203637",
}
IDX_DTYPE_UBYTE = 0x08


def md5sum(path: Path) -> str:
    digest = hashlib.md5()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def read_idx(path: Path) -> np.ndarray:
    """An IDX file: magic (0, 0, dtype, ndim), ndim big-endian uint32 sizes, then the data."""
    raw = path.read_bytes()
    if len(raw) < 4 or raw[0] != 0 or raw[1] != 0 or raw[2] != IDX_DTYPE_UBYTE:
        raise DataError(f"{path} is not an unsigned-byte IDX file")
    ndim = raw[3]
    dims = tuple(int(d) for d in np.frombuffer(raw, dtype=">u4", count=ndim, offset=4))
    data = np.frombuffer(raw, dtype=np.uint8, offset=4 + 4 * ndim)
    if data.size != int(np.prod(dims)):
        raise DataError(f"{path} holds {data.size} bytes of data but its header says {dims}")
    return data.reshape(dims)


def load_mnist(
    root: str,
    channels: int = 1,
    image_size: int = 28,
    download: bool = False,
    check_md5: bool = True,
    val_fraction: float = 0.0,
) -> ImageData:
    raw = Path(root).expanduser() / "MNIST" / "raw"
    require_files(
        "MNIST",
        Path(root).expanduser(),
        raw,
        list(MD5),
        download,
        "MNIST",
        "Get them with `pip install torchvision` and data.download=true, or copy the four uncompressed IDX files "
        "there, or point data.root (env UVB_DATA_ROOT) at a folder holding MNIST/raw/.",
    )
    if check_md5:
        for name, expected in MD5.items():
            actual = md5sum(raw / name)
            if actual != expected:
                raise DataError(f"{raw / name} has md5 {actual}, expected {expected}: the file is not the official one")
    split = {}
    for prefix, key in (("train", "train"), ("t10k", "test")):
        images = read_idx(raw / f"{prefix}-images-idx3-ubyte")
        labels = read_idx(raw / f"{prefix}-labels-idx1-ubyte")
        if images.ndim != 3 or len(images) != len(labels):
            raise DataError(f"MNIST {key} images have shape {images.shape} and labels {labels.shape}")
        split[key] = (uint8_to_unit(torch.from_numpy(images.copy())).unsqueeze(1), torch.from_numpy(labels.astype(np.int64)))
    data = ImageData("mnist", split["train"][0], split["test"][0], split["train"][1], split["test"][1])
    return hold_out(check_shape(data, channels, image_size), val_fraction)
