"""The training step: one Adam update on a batch (x, y), in a chosen precision, eager or compiled.

The step is where the time goes (energy, grad_y f with create_graph, backward through both, Adam), so the
speed choices live here and loop.py keeps a readable loop. Measurements and predictions: docs/performance.md.
"""

from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import torch
import torch._dynamo
from torch import nn

from uvb_lab.loss import Loss

TrainStep = Callable[[torch.Tensor, torch.Tensor], tuple[torch.Tensor, torch.Tensor]]


@dataclass(frozen=True)
class Precision:
    """How the step's arithmetic is done; weights, gradients and Adam's state stay fp32 in every mode."""

    tf32: bool  # fp32 matmuls and convolutions on TF32 tensor cores (10-bit mantissa); CUDA only, a no-op on CPU
    autocast_dtype: torch.dtype | None  # run matmuls / convolutions in this dtype under autocast; None: off


# trainer.precision. TF32 rounds the inputs of each product to 10 mantissa bits and bf16 to 7, both with
# fp32's exponent range, so neither needs a loss scaler; x_hat = y - sigma^2 grad f stays fp32 (grad_y of an
# fp32 input is fp32), so the loss itself is always reduced in fp32.
PRECISIONS = {
    "fp32": Precision(tf32=False, autocast_dtype=None),
    "tf32": Precision(tf32=True, autocast_dtype=None),
    "bf16": Precision(tf32=True, autocast_dtype=torch.bfloat16),
}


AUTO = "auto"
# CPU flags (Linux /proc/cpuinfo) of native bfloat16 products: AVX512-BF16 dot products, AMX tiles.
NATIVE_BF16_FLAGS = ("avx512_bf16", "amx_bf16")


def cpu_flags(cpuinfo: Path = Path("/proc/cpuinfo")) -> set[str]:
    """The CPU's feature flags as the Linux kernel lists them; empty elsewhere (or where unreadable)."""
    try:
        text = cpuinfo.read_text()
    except OSError:
        return set()
    return {flag for line in text.splitlines() if line.startswith("flags") for flag in line.split(":", 1)[1].split()}


def resolve_precision(precision: str, device: torch.device, flags: set[str] | None = None) -> str:
    """trainer.precision as the step runs it; `auto` picks the fastest precision checked to learn the same.

    auto: bf16 on a CPU with native bf16 (AVX512-BF16 or AMX): 1.5x (UVB) to 2x (DEEN) faster on MNIST at
    width 0.25, with the same test loss over 3 seeds (docs/performance.md); tf32 on CUDA (bf16 there awaits a
    GPU to check it); fp32 on any other CPU, where bf16 is emulated and slower than fp32.
    """
    if precision != AUTO:
        return precision
    if device.type == "cuda":
        return "tf32"
    if device.type == "cpu" and any(flag in (cpu_flags() if flags is None else flags) for flag in NATIVE_BF16_FLAGS):
        return "bf16"
    return "fp32"


def adam(params: Iterable[torch.Tensor], lr: float, device: torch.device) -> torch.optim.Adam:
    """Adam (Sec. 3.1) with its update fused into one kernel launch on CUDA, multi-tensor (foreach) elsewhere.

    PyTorch's CUDA default (foreach) launches one kernel per elementwise operation of the update, about a
    dozen; its CPU default loops over the parameter tensors one by one.
    """
    if device.type == "cuda":
        return torch.optim.Adam(params, lr=lr, fused=True)
    return torch.optim.Adam(params, lr=lr, foreach=True)


@contextmanager
def tf32_allowed(allowed: bool) -> Iterator[None]:
    """Allow or forbid TF32 for fp32 matmuls and cuDNN convolutions inside the block, then restore.

    Restoring keeps the choice to the training step: evaluation and sampling run as PyTorch's defaults say.
    (cuDNN's own default is TF32 on, so plain "fp32" must switch it off explicitly.)
    """
    before = torch.backends.cuda.matmul.allow_tf32, torch.backends.cudnn.allow_tf32
    torch.backends.cuda.matmul.allow_tf32 = torch.backends.cudnn.allow_tf32 = allowed
    try:
        yield
    finally:
        torch.backends.cuda.matmul.allow_tf32, torch.backends.cudnn.allow_tf32 = before


def compiled(loss_of: Callable[[torch.Tensor, torch.Tensor], torch.Tensor], backend: str = "inductor") -> Callable:
    """torch.compile of the loss (energy, grad_y f with create_graph, the squared error) as one graph.

    Dynamo refuses torch.autograd.grad inside a compiled function unless trace_autograd_ops is set; it is
    patched around every call because compilation happens lazily, on the first call (and on recompiles).
    backend: "inductor" generates fused kernels; "aot_eager" traces the same graphs (double backward
    included) but runs them with eager kernels, which checks the tracing in seconds instead of minutes.
    """
    graph = torch.compile(loss_of, backend=backend)

    def call(x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        with torch._dynamo.config.patch(trace_autograd_ops=True):
            return graph(x, y)

    return call


def all_finite_gradients(model: nn.Module) -> torch.Tensor:
    """One boolean on the device: every gradient entry is finite. The norm of a tensor holding a NaN or an
    infinity is not finite, and _foreach_norm takes every gradient in a few kernel launches, not one per tensor."""
    grads = [p.grad for p in model.parameters() if p.grad is not None]
    if not grads:
        return torch.ones((), dtype=torch.bool)
    return torch.isfinite(torch.stack(torch._foreach_norm(grads))).all()


def make_train_step(
    model: nn.Module,
    loss_fn: Loss,
    optimizer: torch.optim.Optimizer,
    precision: str = AUTO,
    compile: bool = False,
    compile_backend: str = "inductor",
    skip_nonfinite: bool = False,
    grad_clip: float | None = None,
) -> TrainStep:
    """step(x, y) -> (loss, finite), after one optimizer update.

    loss: the batch loss, a detached 0-d tensor on the model's device. finite: a device boolean, True when the
    loss and every gradient were finite. The step never waits for the device (no .item(), no host copies), so
    the host runs ahead queueing work, except with skip_nonfinite: then it must know before updating, and a
    non-finite step leaves the weights and Adam's state untouched. grad_clip: the gradients (fp32, as the weights)
    are scaled to this global norm where theirs is larger, before Adam's update; `finite` is read before, so a
    non-finite gradient is never hidden by the scaling. None: no clipping.
    """
    device = next(model.parameters()).device
    precision = resolve_precision(precision, device)
    if precision not in PRECISIONS:
        raise ValueError(f"trainer.precision must be one of {(AUTO, *PRECISIONS)}, got {precision!r}")
    mode = PRECISIONS[precision]
    device_type = device.type

    def loss_of(x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        return loss_fn(model, x, y)

    loss_of = compiled(loss_of, compile_backend) if compile else loss_of

    def step(x: torch.Tensor, y: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        with tf32_allowed(mode.tf32):
            # autocast covers the forward only; backward replays each op in the dtype its forward used
            with torch.autocast(device_type, dtype=mode.autocast_dtype, enabled=mode.autocast_dtype is not None):
                loss = loss_of(x, y)
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            finite = torch.isfinite(loss) & all_finite_gradients(model)  # of the gradients as backward left them
            if grad_clip is not None:  # on the device, no wait: torch never reads the norm back unless asked to
                torch.nn.utils.clip_grad_norm_(model.parameters(), grad_clip, foreach=True)
            if skip_nonfinite:
                finite = finite.cpu()  # the one wait for the GPU per step; the caller reads it again for free
            if not skip_nonfinite or finite.item():
                optimizer.step()
        return loss.detach(), finite

    return step
