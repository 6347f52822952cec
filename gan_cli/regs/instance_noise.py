"""Instance noise (Sønderby et al. 2017; Arjovsky & Bottou 2017): Gaussian noise on everything D sees,
annealed to 0, so real and fake distributions overlap early and D cannot separate them perfectly."""

from __future__ import annotations

import torch

from gan_cli.hooks import Hooks
from gan_cli.models.checks import nonnegative


class InstanceNoise(Hooks):
    def __init__(self, std: float = 0.1, anneal: float = 1.0) -> None:
        self.start_std = nonnegative("reg.instance_noise.std", std)  # the noise's std at step 0, in data units
        self.anneal = nonnegative("reg.instance_noise.anneal", anneal)  # fraction of the run over which it falls linearly to 0
        self.std = self.start_std

    def on_round(self, step: int, steps: int) -> None:
        self.std = self.start_std * max(0.0, 1.0 - step / max(1.0, self.anneal * steps))

    def d_input(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.std * torch.randn_like(x) if self.std > 0 else x
