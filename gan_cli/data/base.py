"""What the training loop and `gan sample` need from a data set.

A data set knows its sample shape, streams batches, and knows how to show its own
samples (a grid for images, a histogram and density figure for 1-D), so neither the
loop nor the sample command ever asks which data set it has.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

import torch

if TYPE_CHECKING:
    from torch.utils.tensorboard import SummaryWriter

# D(x) as a probability, for pictures of the discriminator.
DProb = Callable[[torch.Tensor], torch.Tensor]


class BatchStream(Iterator[torch.Tensor], ABC):
    """An endless stream of real batches whose position can be saved, so a resumed run sees the same batches."""

    @abstractmethod
    def state_dict(self) -> dict[str, Any]:
        """Where the stream stands: enough for load_state_dict to continue with the very next batch."""

    @abstractmethod
    def load_state_dict(self, state: dict[str, Any]) -> None: ...


class DrawStream(BatchStream):
    """Fresh draws from a distribution: the generator's state is the whole position."""

    def __init__(self, draw: Callable[[int, torch.Generator], torch.Tensor], batch_size: int, generator: torch.Generator, device: torch.device) -> None:
        self.draw, self.batch_size, self.generator, self.device = draw, batch_size, generator, device

    def __next__(self) -> torch.Tensor:
        return self.draw(self.batch_size, self.generator).to(self.device)

    def state_dict(self) -> dict[str, Any]:
        return {"rng": self.generator.get_state()}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.generator.set_state(state["rng"])


class LabelledDrawStream(DrawStream):
    """Fresh labelled draws: `draw` returns (x, y), the same draws as the unlabelled stream's x."""

    def __next__(self) -> tuple[torch.Tensor, torch.Tensor]:  # type: ignore[override]
        x, y = self.draw(self.batch_size, self.generator)  # type: ignore[misc]
        return x.to(self.device), y.to(self.device)


class Data(ABC):
    sample_shape: tuple[int, ...]  # one sample, e.g. (1,) or (1, 28, 28)
    bounded: bool  # True when samples lie in [-1, 1], so G should end in tanh
    classes: int = 0  # labels its samples carry (a conditional GAN's y): 0 for unlabelled data

    @abstractmethod
    def batches(self, batch_size: int, generator: torch.Generator, device: torch.device) -> BatchStream:
        """An endless stream of (batch_size, *sample_shape) real batches on `device`, its order drawn from `generator`."""

    def labelled_batches(self, batch_size: int, generator: torch.Generator, device: torch.device) -> BatchStream:
        """As `batches`, but each item is (x, y), y (batch_size,) the class of each sample (only where classes > 0)."""
        raise NotImplementedError(f"{type(self).__name__} has no labels")

    def classify(self, fake: torch.Tensor) -> torch.Tensor:
        """(n,) the class this data set's own judge (nearest mode, classifier) assigns to each sample, on the CPU."""
        raise NotImplementedError(f"{type(self).__name__} has no labels")

    def conditional_metrics(self, fake: torch.Tensor, y: torch.Tensor) -> dict[str, Any]:
        """Metrics of G(z, y) against the class y asked for: cond_accuracy, the share that this data set's own judge
        (nearest mode, classifier) assigns to y, and the data set's per-class measures."""
        raise NotImplementedError(f"{type(self).__name__} has no labels")

    @abstractmethod
    def evaluate(self, fake: torch.Tensor) -> dict[str, Any]:
        """Metrics of G's samples against the data, with the flags `success` and `collapsed` where they apply."""

    def describe(self, fake: torch.Tensor) -> dict[str, Any]:
        """A few cheap numbers about G's samples that `gan sample` prints (none by default)."""
        return {}

    def save_traversal(self, fake: torch.Tensor, columns: int, out: Path) -> list[Path]:
        """Write a traversal (`gan sample traverse=`): fake holds its rows one after another, `columns` samples each.
        By default the raw samples, (rows, columns, *sample_shape), in traversal.npy; image data draw the grid."""
        import numpy as np

        out.mkdir(parents=True, exist_ok=True)
        npy = out / "traversal.npy"
        np.save(npy, fake.detach().float().cpu().reshape(-1, columns, *fake.shape[1:]).numpy())
        return [npy]

    @abstractmethod
    def log_samples(self, writer: SummaryWriter, step: int, fake: torch.Tensor, d_prob: DProb, labels: torch.Tensor | None = None) -> None:
        """Write pictures of G's samples (and of D, where it can be drawn) to TensorBoard; `labels` (n,): the class
        each sample was asked for (a conditional G), which a picture may show (a grid's row per class)."""

    @abstractmethod
    def save_samples(self, fake: torch.Tensor, out: Path, labels: torch.Tensor | None = None) -> list[Path]:
        """Write G's samples under `out` as files a person can open; return their paths. `labels` as in log_samples."""
