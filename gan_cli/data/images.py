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


class ImageData(Data):
    bounded = True  # pixels scaled to [-1, 1], matching G's tanh

    def evaluate(self, fake: torch.Tensor) -> dict[str, Any]:
        return {}

    def log_samples(self, writer: SummaryWriter, step: int, fake: torch.Tensor, d_prob: DProb) -> None:
        nrow = math.ceil(math.sqrt(len(fake)))
        grid = make_grid(fake.detach().float().cpu(), nrow=nrow, normalize=True, value_range=(-1, 1), pad_value=1)
        writer.add_image("samples", grid, step)

    def save_samples(self, fake: torch.Tensor, out: Path) -> list[Path]:
        out.mkdir(parents=True, exist_ok=True)
        fake = fake.detach().float().cpu()
        png, npy = out / "samples.png", out / "samples.npy"
        save_image(fake, png, nrow=math.ceil(math.sqrt(len(fake))), normalize=True, value_range=(-1, 1), pad_value=1)
        np.save(npy, fake.numpy())  # (n, C, H, W) in [-1, 1], the raw output of G
        return [png, npy]

    def save_traversal(self, fake: torch.Tensor, columns: int, out: Path) -> list[Path]:
        png = out / "traversal.png"
        files = super().save_traversal(fake, columns, out)
        # One row of the grid per row of the traversal: nrow is torchvision's count of images per grid row.
        save_image(fake.detach().float().cpu(), png, nrow=columns, normalize=True, value_range=(-1, 1), pad_value=1)
        return [png, *files]
