"""The minibatch standard deviation feature (Karras et al. 2018), the simple cousin of minibatch
discrimination: D's logit gets w x (mean over features of the batch's standard deviation)."""

from __future__ import annotations

import torch
from torch import nn

from gan_cli.hooks import HeadOnD, Hooks


class MinibatchStdLayer(HeadOnD):
    def __init__(self, D: nn.Module) -> None:
        super().__init__(D)
        self.weight = nn.Parameter(torch.zeros(1))  # starts neutral; D learns how much spread to expect

    def head(self, f: torch.Tensor) -> torch.Tensor:
        # One number per batch: low when G collapses. The epsilon (Karras et al.'s 1e-8) keeps the gradient finite
        # when a batch's features are all equal, which is exactly the collapse this feature is there to catch.
        spread = (f.flatten(1).float().var(0, unbiased=False) + 1e-8).sqrt().mean()
        return self.D.head(f) + self.weight * spread


class MinibatchStd(Hooks):
    def wrap_d(self, D: nn.Module, sample_shape: tuple[int, ...]) -> nn.Module:
        return MinibatchStdLayer(D).to(next(D.parameters()).device)
