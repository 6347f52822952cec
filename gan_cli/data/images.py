"""Shared behaviour of image data sets scaled to [-1, 1]: sample grids in TensorBoard and on disk."""

from __future__ import annotations

import math
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import torch
from torchvision.utils import make_grid, save_image

from gan_cli.data.base import Data, DProb

if TYPE_CHECKING:
    from torch.utils.tensorboard import SummaryWriter


MAX_ROW = 32  # images in a class's row before it wraps, unless a square grid of all n would be wider


def grid_cells(fake: torch.Tensor, labels: torch.Tensor | None) -> tuple[torch.Tensor, int]:
    """The images as a grid's cells and the images per row. Without labels a square grid; with them one row per class
    (in the order the classes first come), as wide as the largest class's share, a shorter share ending in blank (white)
    cells, so a class count that does not divide n still starts every class on a row of its own. A share longer than
    MAX_ROW (or the square grid's side, if wider) wraps onto further rows of the class."""
    side = math.ceil(math.sqrt(len(fake)))
    if labels is None:
        return fake, side
    labels = labels.cpu()
    classes = list(dict.fromkeys(labels.tolist()))
    shares = [fake[labels == c] for c in classes]
    width = min(max(len(s) for s in shares), max(MAX_ROW, side))
    rows = [math.ceil(len(s) / width) for s in shares]  # rows of each class
    cells = fake.new_ones(sum(rows) * width, *fake.shape[1:])  # +1: white, the grid's padding colour
    start = 0
    for share, n_rows in zip(shares, rows):
        cells[start : start + len(share)] = share
        start += n_rows * width
    return cells, width


class ImageData(Data):
    bounded = True  # pixels scaled to [-1, 1], matching G's tanh

    def evaluate(self, fake: torch.Tensor) -> dict[str, Any]:
        return {}

    def log_samples(self, writer: SummaryWriter, step: int, fake: torch.Tensor, d_prob: DProb, labels: torch.Tensor | None = None) -> None:
        cells, nrow = grid_cells(fake.detach().float().cpu(), labels)
        writer.add_image("samples", make_grid(cells, nrow=nrow, normalize=True, value_range=(-1, 1), pad_value=1), step)

    def save_samples(self, fake: torch.Tensor, out: Path, labels: torch.Tensor | None = None) -> list[Path]:
        out.mkdir(parents=True, exist_ok=True)
        fake = fake.detach().float().cpu()
        png, npy = out / "samples.png", out / "samples.npy"
        cells, nrow = grid_cells(fake, labels)
        save_image(cells, png, nrow=nrow, normalize=True, value_range=(-1, 1), pad_value=1)
        np.save(npy, fake.numpy())  # (n, C, H, W) in [-1, 1], the raw output of G
        return [png, npy]

    def save_traversal(self, fake: torch.Tensor, columns: int, out: Path) -> list[Path]:
        png = out / "traversal.png"
        files = super().save_traversal(fake, columns, out)
        # One row of the grid per row of the traversal: nrow is torchvision's count of images per grid row.
        save_image(fake.detach().float().cpu(), png, nrow=columns, normalize=True, value_range=(-1, 1), pad_value=1)
        return [png, *files]
