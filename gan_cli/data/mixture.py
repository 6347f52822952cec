"""The mode-collapse testbed: mixtures of equal Gaussians with known centres.

`Ring` (8 on a circle, the unrolled-GAN benchmark), `Grid` (25 on a 5x5 grid) and `Line`
(k on a line, 1-D). Mode coverage and sample quality are exact because the centres are known.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import torch

from gan_cli.data.base import BatchStream, Data, DProb, DrawStream, LabelledDrawStream
from gan_cli.metrics.modes import mode_metrics
from gan_cli.models.checks import fraction, nonnegative, whole
from gan_cli.plots import density_figure, log_figure, save_figure, scatter_figure

if TYPE_CHECKING:
    from torch.utils.tensorboard import SummaryWriter


class Mixture(Data):
    bounded = False

    def __init__(self, centers: torch.Tensor, std: float, n_sigmas: float, min_share: float) -> None:
        self.centers = centers.float()  # (K, dim)
        self.std = nonnegative("data.std", std)
        self.n_sigmas = nonnegative("data.n_sigmas", n_sigmas)  # a sample within this many stds of a centre is high quality
        self.min_share = fraction("data.min_share", min_share)  # of a mode's uniform share, to count it as covered
        self.sample_shape = (self.centers.shape[1],)
        self.classes = len(self.centers)  # a sample's label is the mode it was drawn from

    def sample_labelled(self, n: int, generator: torch.Generator | None = None) -> tuple[torch.Tensor, torch.Tensor]:
        """(n, dim) draws and (n,) the mode of each."""
        which = torch.randint(len(self.centers), (n,), generator=generator)
        return self.centers[which] + self.std * torch.randn(n, self.sample_shape[0], generator=generator), which

    def sample(self, n: int, generator: torch.Generator | None = None) -> torch.Tensor:
        return self.sample_labelled(n, generator)[0]  # the same draws, so unlabelled runs are as they were

    def labelled_batches(self, batch_size: int, generator: torch.Generator, device: torch.device) -> BatchStream:
        return LabelledDrawStream(self.sample_labelled, batch_size, generator, device)  # type: ignore[arg-type]

    def classify(self, fake: torch.Tensor) -> torch.Tensor:
        return torch.cdist(fake.detach().float().cpu().flatten(1), self.centers).argmin(1)  # (n,) the nearest mode

    def conditional_metrics(self, fake: torch.Tensor, y: torch.Tensor) -> dict[str, Any]:
        """cond_accuracy: the share of G(z, y) nearest to mode y. cond_on_mode: for each class y, the share of G(z, y)
        within n_sigmas stds of mode y itself (NaN for a class not asked for); cond_on_mode_min: the worst class's.
        cond_std_ratio: for each class, G(z, y)'s std against the data's (NaN under 2 samples); its mean over classes."""
        x, y = fake.detach().float().cpu().flatten(1), y.cpu()
        nearest = self.classify(x)  # (n,)
        on_mode = (x - self.centers[y]).norm(dim=1) <= self.n_sigmas * self.std  # (n,); a non-finite sample is off
        shares = [on_mode[y == c].float().mean().item() if (y == c).any() else math.nan for c in range(self.classes)]
        # A tight blob beside mode y passes cond_on_mode as well as a G that draws the mode's own Gaussian; the spread
        # tells them apart: G(z, y)'s std along each axis around its own mean, against the data's (1: the same spread).
        spreads = [x[y == c].std(0).mean().item() / self.std if (y == c).sum() > 1 else math.nan for c in range(self.classes)]
        return {
            "cond_accuracy": (nearest == y).float().mean().item(),
            "cond_on_mode_min": min(s for s in shares if not math.isnan(s)),
            "cond_on_mode": shares,
            "cond_std_ratio_mean": float(np.nanmean(spreads)),
            "cond_std_ratio": spreads,
        }

    def batches(self, batch_size: int, generator: torch.Generator, device: torch.device) -> BatchStream:
        return DrawStream(self.sample, batch_size, generator, device)

    def evaluate(self, fake: torch.Tensor) -> dict[str, Any]:
        return mode_metrics(fake, self.centers, self.std, self.n_sigmas, self.min_share)

    def describe(self, fake: torch.Tensor) -> dict[str, Any]:
        m = self.evaluate(fake)
        return {"modes covered": f"{m['modes_covered']} of {m['modes']}", "high quality": m["high_quality"]}

    def _figure(self, fake: torch.Tensor, d_prob: DProb | None, title: str, labels: torch.Tensor | None = None) -> Any:
        values = fake.detach().float().cpu()
        lo, hi = self.centers.min().item() - 1.5, self.centers.max().item() + 1.5
        if self.sample_shape[0] == 1:
            xs = torch.linspace(lo, hi, 600)
            p = torch.exp(-0.5 * ((xs[:, None] - self.centers[:, 0]) / self.std) ** 2).mean(1) / (self.std * math.sqrt(2 * math.pi))
            d = d_prob(xs[:, None]).flatten().cpu().numpy() if d_prob else None
            return density_figure(xs.numpy(), p.numpy(), values.flatten().numpy(), d, title)
        real = self.sample(len(values), torch.Generator().manual_seed(0))
        shade = None if labels is None else labels.cpu().numpy() / self.classes  # a conditional G's points coloured by class
        return scatter_figure(real.numpy(), values.numpy(), self.centers.numpy(), (lo, hi), title, shade)

    def log_samples(self, writer: SummaryWriter, step: int, fake: torch.Tensor, d_prob: DProb, labels: torch.Tensor | None = None) -> None:
        log_figure(writer, "samples", self._figure(fake, d_prob, f"step {step}", labels), step)

    def save_samples(self, fake: torch.Tensor, out: Path, labels: torch.Tensor | None = None) -> list[Path]:
        out.mkdir(parents=True, exist_ok=True)
        txt, png = out / "samples.txt", out / "samples.png"
        np.savetxt(txt, fake.detach().double().cpu().flatten(1).numpy(), fmt="%.6f", header=f"{len(fake)} samples of G, one per line")
        save_figure(self._figure(fake, None, f"{len(fake)} samples of G", labels), png)
        return [txt, png]


class Ring(Mixture):
    """`modes` Gaussians evenly spaced on a circle (8 of std 0.02 on radius 2 in Metz et al. 2017)."""

    def __init__(self, modes: int = 8, radius: float = 2.0, std: float = 0.02, n_sigmas: float = 3.0, min_share: float = 0.25) -> None:
        k = whole("data.modes", modes, 1, 1000)
        angle = torch.arange(k) * 2 * math.pi / k
        r = nonnegative("data.radius", radius)
        super().__init__(torch.stack([r * angle.cos(), r * angle.sin()], 1), std, n_sigmas, min_share)


class Grid(Mixture):
    """`side` x `side` Gaussians on a square grid `spacing` apart, centred on 0 (25 in the VEEGAN/PacGAN papers)."""

    def __init__(self, side: int = 5, spacing: float = 2.0, std: float = 0.05, n_sigmas: float = 3.0, min_share: float = 0.25) -> None:
        s = whole("data.side", side, 1, 100)
        axis = (torch.arange(s) - (s - 1) / 2) * nonnegative("data.spacing", spacing)
        super().__init__(torch.cartesian_prod(axis, axis), std, n_sigmas, min_share)


class Line(Mixture):
    """`modes` Gaussians on the real line, `spacing` apart and centred on 0."""

    def __init__(self, modes: int = 4, spacing: float = 4.0, std: float = 0.5, n_sigmas: float = 3.0, min_share: float = 0.25) -> None:
        k = whole("data.modes", modes, 1, 1000)
        centers = (torch.arange(k) - (k - 1) / 2) * nonnegative("data.spacing", spacing)
        super().__init__(centers[:, None], std, n_sigmas, min_share)
