"""PNG grids of images, one labelled row per kind of sample, as the paper's figures lay them out."""

from collections.abc import Sequence
from pathlib import Path

import matplotlib

matplotlib.use("Agg")  # files only: no display is needed or wanted, also inside a training job
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import torch  # noqa: E402

GAP = 1  # pixels of background between images and rows


def tile(images: torch.Tensor, columns: int) -> np.ndarray:
    """(N, C, H, W) -> one (rows*H, columns*W, C) array, read left to right, top to bottom; gaps are white."""
    n, c, h, w = images.shape
    rows = -(-n // columns)
    canvas = np.ones((rows * (h + GAP) - GAP, columns * (w + GAP) - GAP, c), dtype=np.float32)
    # Values outside [0, 1] (a noisy y, an x_hat overshooting) are shown clipped, as pixel intensities.
    pixels = images.detach().float().clamp(0, 1).permute(0, 2, 3, 1).cpu().numpy()
    for i, image in enumerate(pixels):
        top, left = (i // columns) * (h + GAP), (i % columns) * (w + GAP)
        canvas[top : top + h, left : left + w] = image
    return canvas


def save_grid(path: Path, rows: Sequence[tuple[str, torch.Tensor]], title: str = "", columns: int | None = None) -> Path:
    """One PNG: each (label, images) pair is a block of rows with `columns` images each (default: all in one row)."""
    if not rows:
        raise ValueError("a grid needs at least one row of images")
    blocks, labels = [], []
    for label, images in rows:
        block = tile(images, columns or len(images))
        blocks.append(block)
        labels.append(label)
    width = max(b.shape[1] for b in blocks)
    channels = blocks[0].shape[2]
    padded = [np.pad(b, ((0, GAP), (0, width - b.shape[1]), (0, 0)), constant_values=1.0) for b in blocks]
    canvas = np.concatenate(padded)[:-GAP]
    centers = np.cumsum([0] + [b.shape[0] for b in padded])[:-1] + np.array([b.shape[0] for b in blocks]) / 2

    scale = 0.04  # inches per pixel: a 28-pixel digit is about 1.1 inch wide
    fig, ax = plt.subplots(figsize=(max(4.0, canvas.shape[1] * scale + 2.0), max(1.5, canvas.shape[0] * scale + 0.6)))
    ax.imshow(canvas[..., 0] if channels == 1 else canvas, cmap="gray" if channels == 1 else None, vmin=0, vmax=1)
    ax.set_yticks(centers, labels)
    ax.set_xticks([])
    ax.tick_params(length=0)
    for side in ax.spines.values():
        side.set_visible(False)
    if title:
        ax.set_title(title, fontsize=9)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=100, bbox_inches="tight")
    plt.close(fig)
    return path
