"""Files read from disk are data, never code: a crafted run config or CIFAR-10 batch runs nothing."""

import pickle
import shutil

import pytest

from conftest import REPO
from test_data import write_cifar_batches
from uvb_lab.figures import cli as figures_cli
from uvb_lab.data import DataError
from uvb_lab.data.cifar10 import load_cifar10

FIXTURE = REPO / "tests" / "fixtures" / "run_made_by_v0.1.0"


class TouchMarker:
    """What a crafted pickle does: call a function of its choice when loaded (here: create a file)."""

    def __init__(self, marker):
        self.marker = str(marker)

    def __reduce__(self):
        return (open, (self.marker, "w"))


def test_a_crafted_cifar10_batch_runs_no_code(tmp_path):
    write_cifar_batches(tmp_path / "cifar-10-batches-py")
    marker = tmp_path / "pwned"
    with open(tmp_path / "cifar-10-batches-py" / "data_batch_3", "wb") as f:
        pickle.dump({b"data": TouchMarker(marker), b"labels": [0]}, f, protocol=2)
    with pytest.raises(DataError, match="data_batch_3 is not a CIFAR-10 python batch.*refused to load io.open"):
        load_cifar10(str(tmp_path))
    assert not marker.exists()


def test_a_run_config_naming_code_outside_uvb_lab_builds_nothing(tmp_path, capsys):
    run_dir = tmp_path / "run"
    shutil.copytree(FIXTURE, run_dir)
    marker = tmp_path / "pwned"
    config = (run_dir / "config.yaml").read_text()
    crafted = config.replace("_target_: uvb_lab.models.UVB", f"_target_: subprocess.call\n  args: [touch, {marker}]")
    assert crafted != config
    (run_dir / "config.yaml").write_text(crafted)
    assert figures_cli.main([str(run_dir), "--device", "cpu", "--no-mixing"]) == 2
    err = capsys.readouterr().err
    assert "names code outside uvb_lab (subprocess.call)" in err and "--trust-target" in err
    assert not marker.exists()

    # Nested targets are checked too.
    nested = config.replace("  image_size: 16\n", f"  image_size: 16\n  helper:\n    _target_: os.system\n    command: touch {marker}\n", 1)
    assert nested != config
    (run_dir / "config.yaml").write_text(nested)
    assert figures_cli.main([str(run_dir), "--device", "cpu", "--no-mixing"]) == 2
    assert "os.system" in capsys.readouterr().err and not marker.exists()


def test_figures_refuse_a_device_that_does_not_exist(capsys):
    assert figures_cli.main([str(FIXTURE), "--device", "banana"]) == 2
    err = capsys.readouterr().err
    assert "--device='banana' is not a device" in err and "Traceback" not in err
