"""The training loop as most users would write it: the yardstick `uvb-bench` compares our step with.

Same model classes and the same loss maths (Eq. 4 / 18) as uvb-train; what differs is only how the work
reaches the device: a DataLoader over a TensorDataset in host memory, a host-to-device copy every batch,
eager fp32 with TF32 off, PyTorch's default Adam, and loss.item() every step (a host-device sync).
"""

from collections.abc import Iterator

import torch
from torch import nn
from torch.utils.data import DataLoader, TensorDataset

from uvb_lab.loss import Loss
from uvb_lab.training.train_step import tf32_allowed


def naive_training(
    model: nn.Module,
    loss_fn: Loss,
    x_train: torch.Tensor,
    sigma: float,
    batch_size: int,
    lr: float,
) -> Iterator[float]:
    """Train model on x_train (in host memory), epoch after epoch; yields loss.item() after every step.

    The caller times the gaps between yields: each gap is one whole step as the user waits for it
    (batch collation, copy, noise, loss, backward, Adam, sync). Close the generator to stop.
    """
    device = next(model.parameters()).device
    optimizer = torch.optim.Adam(model.parameters(), lr=lr)
    loader = DataLoader(TensorDataset(x_train.cpu()), batch_size=batch_size, shuffle=True)
    model.train()
    with tf32_allowed(False):  # "float32" as most users mean it
        while True:
            for (x,) in loader:
                x = x.to(device)
                y = x + sigma * torch.randn_like(x)
                loss = loss_fn(model, x, y)
                optimizer.zero_grad()
                loss.backward()
                optimizer.step()
                yield loss.item()
