"""The 1-D toy of the GAN tutorials: learn N(4, 1.25) from noise."""

from __future__ import annotations

import math
from typing import Any

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
    def dist(self) -> Any:
        import scipy.stats  # at the first evaluation or picture: most of a second, which building the data need not pay

        return scipy.stats.norm(loc=self.mean, scale=self.std)

    def sample(self, n: int, generator: torch.Generator | None = None) -> torch.Tensor:
        return torch.randn(n, 1, generator=generator).mul_(self.std).add_(self.mean)  # (n, 1); in place: a population draws K of these a step
