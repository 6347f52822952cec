"""R1 gradient penalty (Mescheder et al. 2018): D pays gamma/2 * ||grad_x D(x)||^2 on real data,
so it cannot grow steep around the data, which makes training converge locally."""

from __future__ import annotations

import torch
from torch import nn

from gan_cli.hooks import DStep, Hooks, batch_norm_advice
from gan_cli.models.checks import nonnegative


class R1(Hooks):
    def __init__(self, gamma: float = 1.0) -> None:
        self.gamma = nonnegative("reg.r1.gamma", gamma)

    def d_extra(self, s: DStep) -> torch.Tensor:
        real = s.real.detach().requires_grad_(True)
        (grad,) = torch.autograd.grad(s.D(real).float().sum(), real, create_graph=True)
        return 0.5 * self.gamma * s.members.mean(grad.flatten(1).pow(2).sum(1))

    def advice(self, D: nn.Module) -> str | None:
        return batch_norm_advice(D, "reg r1")
