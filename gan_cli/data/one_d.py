"""Shared behaviour of 1-D data sets: moments, histograms and the picture of p_data, p_g and D."""

from __future__ import annotations

import math
from abc import abstractmethod
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import torch
from torch.utils.tensorboard import SummaryWriter

from gan_cli.data.base import Data, DProb
from gan_cli.plots import density_figure


class OneDimensional(Data):
    sample_shape = (1,)
    bounded = False  # values live on the real line, so G's output stays linear

    @abstractmethod
    def sample(self, n: int, generator: torch.Generator | None = None) -> torch.Tensor:
        """(n, 1) draws from the data distribution."""

    @abstractmethod
    def density(self, x: torch.Tensor) -> torch.Tensor:
        """p_data(x), used for the figure of p_data, p_g and D."""

    @property
    @abstractmethod
    def target(self) -> dict[str, float]:
        """The data's true moments, e.g. {"mean": 4.0, "std": 1.25}."""

    def batches(self, batch_size: int, generator: torch.Generator, device: torch.device) -> Iterator[torch.Tensor]:
        while True:
            yield self.sample(batch_size, generator).to(device)

    def summarize(self, fake: torch.Tensor) -> dict[str, float]:
        values = fake.detach().flatten().double().cpu()
        stats = {"G_mean": values.mean().item(), "G_std": values.std().item()}
        return stats | {f"target_{k}": v for k, v in self.target.items()}

    def plot_range(self, fake: torch.Tensor) -> tuple[float, float]:
        mean, std = self.target["mean"], self.target["std"]
        lo, hi = mean - 4 * std, mean + 4 * std
        values = fake.detach().flatten().float().cpu()
        finite = values[torch.isfinite(values)]
        if len(finite):  # widen to show a G that wandered off, but not without bound
            lo = max(min(lo, finite.quantile(0.005).item()), mean - 12 * std)
            hi = min(max(hi, finite.quantile(0.995).item()), mean + 12 * std)
        return lo, hi

    def log_samples(self, writer: SummaryWriter, step: int, fake: torch.Tensor, d_prob: DProb) -> None:
        stats = self.summarize(fake)
        writer.add_scalar("G/mean", stats["G_mean"], step)
        writer.add_scalar("G/std", stats["G_std"], step)
        values = fake.detach().flatten().float().cpu()
        if torch.isfinite(values).all():
            writer.add_histogram("G/samples", values, step)
        lo, hi = self.plot_range(fake)
        xs = torch.linspace(lo, hi, 400)
        fig = density_figure(
            xs.numpy(),
            p_data=self.density(xs).numpy(),
            fake=values.numpy(),
            d=d_prob(xs[:, None]).flatten().cpu().numpy(),
            title=f"step {step}",
        )
        writer.add_figure("density", fig, step)  # closes the figure

    def save_samples(self, fake: torch.Tensor, out: Path) -> list[Path]:
        values = fake.detach().flatten().double().cpu().numpy()
        out.mkdir(parents=True, exist_ok=True)
        txt, png = out / "samples.txt", out / "histogram.png"
        np.savetxt(txt, values, fmt="%.6f", header=f"{len(values)} samples of G, one per line")
        lo, hi = self.plot_range(fake)
        xs = torch.linspace(lo, hi, 400)
        fig = density_figure(xs.numpy(), p_data=self.density(xs).numpy(), fake=values, d=None, title=f"{len(values)} samples of G")
        fig.savefig(png, dpi=100)
        import matplotlib.pyplot as plt

        plt.close(fig)
        return [txt, png]


def normal_pdf(x: torch.Tensor, mean: float, std: float) -> torch.Tensor:
    return torch.exp(-0.5 * ((x - mean) / std) ** 2) / (std * math.sqrt(2 * math.pi))
