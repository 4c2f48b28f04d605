"""Data as the models see it: whole tensors, NCHW, pixels / 255 in [0, 1], from the standard files."""

import pickle
from pathlib import Path

import numpy as np
import pytest
import torch
from hydra.utils import instantiate

from conftest import compose_config
from uvb_lab.data import DataError
from uvb_lab.data.cifar10 import load_cifar10
from uvb_lab.data.mnist import MD5, load_mnist, md5sum
from uvb_lab.data.npz import load_npz
from uvb_lab.data.synthetic import gaussian, shapes


def test_real_mnist_loads_with_the_right_shapes_checksums_and_range(shared_data):
    for name, expected in MD5.items():
        assert md5sum(shared_data / "MNIST" / "raw" / name) == expected
    data = instantiate(compose_config(["data=mnist", f"data.root={shared_data}"]).data)
    assert data.train.shape == (60000, 1, 28, 28) and data.test.shape == (10000, 1, 28, 28)
    assert data.train.dtype == torch.float32
    assert data.train.min() == 0.0 and data.train.max() == 1.0
    # shared/data/README.md: class counts of the test set.
    assert torch.bincount(data.test_labels).tolist() == [980, 1135, 1032, 1010, 982, 892, 958, 1028, 974, 1009]


def test_real_cifar10_sample_loads_through_npz(shared_data):
    path = shared_data / "cifar10-subset" / "cifar10-subset.npz"
    if not path.is_file():
        pytest.skip(f"{path} not present")
    data = instantiate(compose_config(["data=npz", f"data.path={path}"]).data)
    assert data.train.shape == (5085, 3, 32, 32) and data.test.shape == (1017, 3, 32, 32)
    # shared/data/README.md: the first training image's top-left pixel is RGB 59, 62, 63.
    assert (data.train[0, :, 0, 0] * 255).round().tolist() == [59.0, 62.0, 63.0]


def write_cifar_batches(folder, n_per_batch=4):
    folder.mkdir(parents=True)
    rng = np.random.default_rng(0)
    names = [f"data_batch_{i}" for i in range(1, 6)] + ["test_batch"]
    for name in names:
        # The layout and protocol of the real cifar-10-batches-py files: protocol 2, bytes keys, a uint8 array.
        batch = {
            b"batch_label": f"training batch of {name}".encode(),
            b"labels": list(range(n_per_batch)),
            b"data": rng.integers(0, 256, (n_per_batch, 3 * 32 * 32), dtype=np.uint8),
            b"filenames": [f"image_{i}.png".encode() for i in range(n_per_batch)],
        }
        with open(folder / name, "wb") as f:
            pickle.dump(batch, f, protocol=2)
    return rng


def test_cifar10_python_batches_become_nchw_in_unit_range(tmp_path):
    write_cifar_batches(tmp_path / "cifar-10-batches-py")
    data = load_cifar10(str(tmp_path))
    assert data.train.shape == (20, 3, 32, 32) and data.test.shape == (4, 3, 32, 32)
    with open(tmp_path / "cifar-10-batches-py" / "data_batch_1", "rb") as f:
        first = pickle.load(f)[b"data"][0]
    # CIFAR rows are 1024 red, then 1024 green, then 1024 blue values, row-major.
    assert (data.train[0, 1, 0, 5] * 255).round().item() == first[1024 + 5]
    assert 0.0 <= data.train.min() and data.train.max() <= 1.0


def test_cifar10_batch_that_is_not_a_pickle_is_refused(tmp_path):
    write_cifar_batches(tmp_path / "cifar-10-batches-py")
    (tmp_path / "cifar-10-batches-py" / "test_batch").write_bytes(b"not a pickle")
    with pytest.raises(DataError, match="test_batch is not a CIFAR-10 python batch"):
        load_cifar10(str(tmp_path))


def test_npz_grey_images_get_a_channel_axis(tmp_path):
    x = np.arange(2 * 5 * 5, dtype=np.uint8).reshape(2, 5, 5)
    np.savez(tmp_path / "grey.npz", x_train=x, y_train=np.array([3, 4]), x_test=x[:1], y_test=np.array([3]))
    data = load_npz(str(tmp_path / "grey.npz"), channels=1, image_size=5)
    assert data.train.shape == (2, 1, 5, 5)
    assert data.train[1, 0, 0, 1].item() == pytest.approx(26 / 255)
    assert data.train_labels.tolist() == [3, 4]


def test_npz_with_float_pixels_is_refused(tmp_path):
    x = np.zeros((2, 5, 5), np.float32)
    np.savez(tmp_path / "float.npz", x_train=x, y_train=np.zeros(2), x_test=x, y_test=np.zeros(2))
    with pytest.raises(DataError, match="expected uint8"):
        load_npz(str(tmp_path / "float.npz"), channels=1, image_size=5)


def test_synthetic_data_is_seeded_and_in_range():
    a, b = shapes(seed=3), shapes(seed=3)
    assert torch.equal(a.train, b.train) and not torch.equal(a.train, shapes(seed=4).train)
    assert a.train.shape == (512, 1, 16, 16) and 0 <= a.train.min() and a.train.max() <= 1
    g = gaussian(n_train=20000, n_test=10, image_size=4, mean=0.5, std=0.5)
    assert g.train.mean().item() == pytest.approx(0.5, abs=0.01) and g.train.std().item() == pytest.approx(0.5, abs=0.01)


def fake_torchvision(monkeypatch, calls):
    """torchvision.datasets.MNIST / CIFAR10 as far as the loaders use them: download=True writes the files."""
    import sys
    import types

    def dataset(subfolder, names):
        class Dataset:
            def __init__(self, root, train, download):
                calls.append((root, train, download))
                folder = Path(root) / subfolder
                folder.mkdir(parents=True, exist_ok=True)
                for name in names:
                    (folder / name).write_bytes(b"downloaded")

        return Dataset

    datasets = types.SimpleNamespace(
        MNIST=dataset("MNIST/raw", list(MD5)),
        CIFAR10=dataset("cifar-10-batches-py", [f"data_batch_{i}" for i in range(1, 6)] + ["test_batch"]),
    )
    monkeypatch.setitem(sys.modules, "torchvision", types.SimpleNamespace(datasets=datasets))
    monkeypatch.setitem(sys.modules, "torchvision.datasets", datasets)


def test_download_fetches_into_torchvisions_layout_under_the_data_root(monkeypatch, tmp_path):
    calls = []
    fake_torchvision(monkeypatch, calls)
    # The fake files are not the official ones: the md5 check is what stops this load.
    with pytest.raises(DataError, match="md5"):
        load_mnist(str(tmp_path), download=True)
    assert calls == [(str(tmp_path), True, True), (str(tmp_path), False, True)]
    assert (tmp_path / "MNIST" / "raw" / "t10k-images-idx3-ubyte").is_file()
    with pytest.raises(DataError, match="is not a CIFAR-10 python batch"):
        load_cifar10(str(tmp_path), download=True)
    assert (tmp_path / "cifar-10-batches-py" / "test_batch").is_file()
