"""Generator EMA (Karras et al. 2018; Yazici et al. 2019): sample from a running average of G's weights.

The average irons out the oscillation that GAN training ends in, so its samples are steadier
and usually better than the last G's. Sampling, evaluation and the checkpoint's sampling weights use it.
"""

from __future__ import annotations

import copy
from typing import Any

import torch
from torch import nn

from gan_cli.hooks import Hooks
from gan_cli.models.checks import fraction


class EMA(Hooks):
    def __init__(self, beta: float = 0.999) -> None:
        self.beta = fraction("reg.ema.beta", beta)  # weight of the past; 0.999 averages over ~1000 G steps
        self.ema: nn.Module | None = None

    def attach(self, G: nn.Module, D: nn.Module) -> None:
        self.ema = copy.deepcopy(G).requires_grad_(False)

    @torch.no_grad()
    def after_g_step(self, G: nn.Module) -> None:
        assert self.ema is not None
        for avg, p in zip(self.ema.parameters(), G.parameters()):
            avg.lerp_(p, 1 - self.beta)
        for avg, b in zip(self.ema.buffers(), G.buffers()):  # batch-norm statistics: follow G's own
            avg.copy_(b)

    def sampler(self) -> nn.Module | None:
        return self.ema

    def state_dict(self) -> dict[str, Any]:
        return {"ema": self.ema.state_dict()} if self.ema is not None else {}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        assert self.ema is not None
        self.ema.load_state_dict(state["ema"])
