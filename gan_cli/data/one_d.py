"""Shared behaviour of 1-D data sets: moments, histograms and the picture of p_data, p_g and D."""

from __future__ import annotations

import math
from abc import abstractmethod
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import torch

from gan_cli.data.base import Data, DrawStream, DProb
from gan_cli.errors import UserError
from gan_cli.metrics.one_d import one_d_metrics
from gan_cli.plots import density_figure, log_figure, save_figure

if TYPE_CHECKING:
    from torch.utils.tensorboard import SummaryWriter


class OneDimensional(Data):
    sample_shape = (1,)
    bounded = False  # values live on the real line, so G's output stays linear

    def __init__(self, mean_tol: float = 0.1, std_tol: float = 0.1) -> None:
        for key, value in (("mean_tol", mean_tol), ("std_tol", std_tol)):
            if not (isinstance(value, (int, float)) and math.isfinite(value) and value > 0):
                raise UserError(f"data.{key}={value!r} must be a finite number above 0 (e.g. data.{key}=0.1).")
        self.mean_tol, self.std_tol = float(mean_tol), float(std_tol)

    @abstractmethod
    def sample(self, n: int, generator: torch.Generator | None = None) -> torch.Tensor:
        """(n, 1) draws from the data distribution."""

    def density(self, x: torch.Tensor) -> torch.Tensor:
        """p_data(x), for the figure of p_data, p_g and D."""
        return torch.from_numpy(self.dist.pdf(x.double().numpy())).float()

    @property
    def target(self) -> dict[str, float]:
        return {"mean": float(self.dist.mean()), "std": float(self.dist.std())}

    @property
    @abstractmethod
    def dist(self) -> Any:  # Any: scipy's frozen type (rv_continuous_frozen) is private
        """The target as a frozen scipy.stats distribution, or an object with the same cdf, ppf, isf, pdf, support,
        stats, mean and std (the Gaussian's Normal), for exact metrics (W1, KS) and the density picture."""

    def batches(self, batch_size: int, generator: torch.Generator, device: torch.device) -> BatchStream:
        return DrawStream(self.sample, batch_size, generator, device)

    def describe(self, fake: torch.Tensor) -> dict[str, Any]:
        values = fake.detach().flatten().double().cpu()
        std = values.std().item() if len(values) > 1 else float("nan")  # one sample has no spread
        return {"mean": values.mean().item(), "std": std} | {f"target_{k}": v for k, v in self.target.items()}

    def evaluate(self, fake: torch.Tensor) -> dict[str, Any]:
        metrics = one_d_metrics(fake, self.dist, self.mean_tol, self.std_tol)
        # Collapse: G squeezed most of its mass into a spike (a quarter of the target's spread or less).
        metrics["collapsed"] = not metrics["std"] > 0.25 * metrics["target_std"]
        return metrics

    def plot_range(self, fake: torch.Tensor) -> tuple[float, float]:
        mean, std = self.target["mean"], self.target["std"]
        lo, hi = mean - 4 * std, mean + 4 * std
        values = fake.detach().flatten().float().cpu()
        finite = values[torch.isfinite(values)]
        if len(finite):  # widen to show a G that wandered off, but not without bound
            lo = max(min(lo, finite.quantile(0.005).item()), mean - 12 * std)
            hi = min(max(hi, finite.quantile(0.995).item()), mean + 12 * std)
        return lo, hi

    def log_samples(self, writer: SummaryWriter, step: int, fake: torch.Tensor, d_prob: DProb, labels: torch.Tensor | None = None) -> None:
        values = fake.detach().flatten().float().cpu()
        writer.add_scalar("G/mean", values.double().mean().item(), step)
        writer.add_scalar("G/std", values.double().std().item(), step)
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
        log_figure(writer, "density", fig, step)

    def save_samples(self, fake: torch.Tensor, out: Path, labels: torch.Tensor | None = None) -> list[Path]:
        values = fake.detach().flatten().double().cpu().numpy()
        out.mkdir(parents=True, exist_ok=True)
        txt, png = out / "samples.txt", out / "histogram.png"
        np.savetxt(txt, values, fmt="%.6f", header=f"{len(values)} samples of G, one per line")
        lo, hi = self.plot_range(fake)
        xs = torch.linspace(lo, hi, 400)
        fig = density_figure(xs.numpy(), p_data=self.density(xs).numpy(), fake=values, d=None, title=f"{len(values)} samples of G")
        save_figure(fig, png)
        return [txt, png]
