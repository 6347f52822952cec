"""The 1-D toy of the GAN tutorials: learn N(4, 1.25) from noise."""

from __future__ import annotations

import math
from collections.abc import Callable

import numpy as np
import torch

from gan_cli.data.one_d import OneDimensional
from gan_cli.errors import UserError


class Gaussian(OneDimensional):
    def __init__(self, mean: float = 4.0, std: float = 1.25, mean_tol: float = 0.1, std_tol: float = 0.1) -> None:
        super().__init__(mean_tol, std_tol)
        if not (isinstance(mean, (int, float)) and math.isfinite(mean)):
            raise UserError(f"data.mean={mean!r} must be a finite number (e.g. data.mean=4.0).")
        if not (isinstance(std, (int, float)) and math.isfinite(std) and std > 0):
            raise UserError(f"data.std={std!r} must be a finite number above 0 (e.g. data.std=1.25).")
        self.mean, self.std = float(mean), float(std)

    @property
    def dist(self) -> Normal:
        return Normal(self.mean, self.std)

    def sample(self, n: int, generator: torch.Generator | None = None) -> torch.Tensor:
        return torch.randn(n, 1, generator=generator).mul_(self.std).add_(self.mean)  # (n, 1); in place: a population draws K of these a step


class Normal:
    """N(loc, scale²) with the methods of a frozen scipy.stats.norm that the 1-D metrics and pictures use. Importing
    scipy.stats for them would cost every run 0.7 s of its start-up, and scipy.special 0.2 s: torch.special's ndtr and
    ndtri in float64 agree with scipy's to 1e-15 (torch's cdf reads 0 below -21.8 standard deviations, where
    scipy's is under 1e-105), which is all the metrics (KS, W1) need: tests/test_metrics_one_d.py."""

    def __init__(self, loc: float, scale: float) -> None:
        self.loc, self.scale = float(loc), float(scale)

    def _standard(self, x: np.ndarray | float) -> np.ndarray:
        return (np.asarray(x, dtype=np.float64) - self.loc) / self.scale

    def cdf(self, x: np.ndarray | float) -> np.ndarray:
        return _float64(torch.special.ndtr, self._standard(x))

    def ppf(self, q: np.ndarray | float) -> np.ndarray:
        return _float64(torch.special.ndtri, q) * self.scale + self.loc

    def isf(self, q: np.ndarray | float) -> np.ndarray:
        return -_float64(torch.special.ndtri, q) * self.scale + self.loc

    def pdf(self, x: np.ndarray | float) -> np.ndarray:
        z = self._standard(x)
        return np.exp(-(z**2) / 2.0) / np.sqrt(2 * np.pi) / self.scale

    def support(self) -> tuple[float, float]:
        return -math.inf, math.inf

    def stats(self, moments: str = "mv") -> tuple[float, ...]:
        """Of "mvsk": the mean, variance (scale·scale, as scipy forms it), skewness and excess kurtosis asked for."""
        known = {"m": self.loc, "v": self.scale * self.scale, "s": 0.0, "k": 0.0}
        return tuple(known[m] for m in moments)

    def mean(self) -> float:
        return self.loc

    def std(self) -> float:
        return math.sqrt(self.scale * self.scale)  # the root of the variance, as scipy takes it


def _float64(function: Callable[[torch.Tensor], torch.Tensor], x: np.ndarray | float) -> np.ndarray:
    """A torch.special function on float64 numbers; an array for an array, a numpy float for a number (as scipy)."""
    return function(torch.from_numpy(np.array(x, dtype=np.float64))).numpy()[()]
