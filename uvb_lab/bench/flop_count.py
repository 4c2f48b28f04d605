"""Counting the FLOP a block of PyTorch code does, including inside torch.autograd.grad (double backprop)."""

from torch.utils._python_dispatch import TorchDispatchMode
from torch.utils.flop_counter import flop_registry


class FlopCount(TorchDispatchMode):
    """Sums the FLOP of every matrix product and convolution (forward or backward) run inside the block.

    torch.utils.flop_counter's own FlopCounterMode cannot be used: its module hooks break autograd.grad,
    which the denoising loss calls. Its per-op formulas (flop_registry) are used as they are.
    """

    def __init__(self) -> None:
        super().__init__()
        self.flop = 0

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        kwargs = kwargs or {}
        out = func(*args, **kwargs)
        formula = flop_registry.get(func._overloadpacket)
        if formula is not None:
            self.flop += formula(*args, **kwargs, out_val=out)
        return out
