"""trainer.device: the round-robin GPU choice of a parallel sweep's jobs, checked without a GPU."""

import pytest
import torch

from uvb_lab.run.devices import DeviceError, auto_device, resolve_device


@pytest.mark.parametrize(
    "cuda_count, job_num, expected",
    [
        (0, None, "cpu"),
        (0, 3, "cpu"),
        (1, None, "cuda:0"),
        (1, 5, "cuda:0"),  # SLURM: each job sees only its own GPU
        (2, None, "cuda:0"),
        (2, 0, "cuda:0"),
        (2, 1, "cuda:1"),
        (2, 2, "cuda:0"),  # more jobs than GPUs: they share, in turn
        (3, 7, "cuda:1"),
    ],
)
def test_auto_device_takes_the_gpus_in_turn(cuda_count, job_num, expected):
    assert auto_device(cuda_count, job_num) == expected


def test_explicit_devices_are_checked_against_this_machine():
    assert resolve_device("cpu") == torch.device("cpu")
    with pytest.raises(DeviceError, match="not a device"):
        resolve_device("gpu0")
    if not torch.cuda.is_available():  # a CPU machine: auto is the CPU, and no CUDA device is given out
        assert resolve_device("auto", job_num=3) == torch.device("cpu")
        with pytest.raises(DeviceError, match="CUDA is not available"):
            resolve_device("cuda:1")
    else:  # a GPU machine: auto is a GPU, and one past the last visible GPU is refused
        count = torch.cuda.device_count()
        assert resolve_device("auto") == torch.device("cuda:0")
        assert resolve_device("auto", job_num=count) == torch.device("cuda:0")  # the jobs take the GPUs in turn
        with pytest.raises(DeviceError, match=f"only {count} CUDA device"):
            resolve_device(f"cuda:{count}")
