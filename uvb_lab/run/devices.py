"""Which device a run trains on: trainer.device, and for the jobs of a parallel sweep, one GPU each in turn.

`hydra/launcher=joblib` starts several jobs at once on one machine. With trainer.device=auto each job
takes `cuda:(job number mod visible GPUs)`, so N jobs spread round-robin over the GPUs (more jobs than
GPUs share them). On SLURM each job sees only its own GPU, so the same rule gives cuda:0 there.
"""

import torch


class DeviceError(ValueError):
    """A trainer.device this machine cannot give."""


def auto_device(cuda_count: int, job_num: int | None) -> str:
    """trainer.device=auto: the CPU without a GPU; a sweep's job n gets GPU n mod count; a single run cuda:0."""
    if cuda_count == 0:
        return "cpu"
    return f"cuda:{(job_num or 0) % cuda_count}"


def resolve_device(name: str, job_num: int | None = None) -> torch.device:
    """trainer.device (auto | cpu | cuda | cuda:N) as a torch.device, checked against this machine."""
    cuda_count = torch.cuda.device_count() if torch.cuda.is_available() else 0
    if name == "auto":
        return torch.device(auto_device(cuda_count, job_num))
    try:
        device = torch.device(name)
    except RuntimeError as error:
        raise DeviceError(f"trainer.device={name!r} is not a device ({error}); use auto, cpu, cuda or cuda:N") from error
    if device.type not in ("cpu", "cuda"):
        raise DeviceError(f"trainer.device={name}: uvb-lab trains on auto, cpu, cuda or cuda:N")
    if device.type == "cuda" and cuda_count == 0:
        raise DeviceError(f"trainer.device={name} but CUDA is not available here; use trainer.device=auto or cpu")
    if device.type == "cuda" and device.index is not None and device.index >= cuda_count:
        raise DeviceError(f"trainer.device={name} but only {cuda_count} CUDA device(s) are visible here")
    return device
