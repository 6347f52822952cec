"""What the training loop and `gan sample` need from a data set.

A data set knows its sample shape, streams batches, and knows how to show its own
samples (a grid for images, a histogram and density figure for 1-D), so neither the
loop nor the sample command ever asks which data set it has.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable, Iterator
from pathlib import Path

import torch
from torch.utils.tensorboard import SummaryWriter

# D(x) as a probability, for pictures of the discriminator.
DProb = Callable[[torch.Tensor], torch.Tensor]


class Data(ABC):
    sample_shape: tuple[int, ...]  # one sample, e.g. (1,) or (1, 28, 28)
    bounded: bool  # True when samples lie in [-1, 1], so G should end in tanh

    @abstractmethod
    def batches(self, batch_size: int, generator: torch.Generator, device: torch.device) -> Iterator[torch.Tensor]:
        """An endless stream of (batch_size, *sample_shape) real batches on `device`."""

    @abstractmethod
    def summarize(self, fake: torch.Tensor) -> dict[str, float]:
        """Numbers that say how G's samples compare with the data (for the final summary)."""

    @abstractmethod
    def log_samples(self, writer: SummaryWriter, step: int, fake: torch.Tensor, d_prob: DProb) -> None:
        """Write pictures of G's samples (and of D, where it can be drawn) to TensorBoard."""

    @abstractmethod
    def save_samples(self, fake: torch.Tensor, out: Path) -> list[Path]:
        """Write G's samples under `out` as files a person can open; return their paths."""
