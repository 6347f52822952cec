"""Minibatch discrimination (Salimans et al. 2016): D sees, for each sample, how close it is to the
others in its batch, so a collapsed G (whose samples are all alike) is easy to spot."""

from __future__ import annotations

import torch
from torch import nn

from gan_cli.hooks import HeadOnD, Hooks, feature_dim
from gan_cli.models.checks import whole


class MinibatchLayer(HeadOnD):
    """Wraps D: logit = D.head(f) + w . o(f), with o_k(x_i) = sum_j exp(-||M_i,k - M_j,k||_1), M = f T."""

    def __init__(self, D: nn.Module, feature_dim: int, kernels: int, kernel_dim: int) -> None:
        super().__init__(D)
        self.kernels, self.kernel_dim = kernels, kernel_dim
        self.T = nn.Parameter(torch.randn(feature_dim, kernels * kernel_dim) * 0.1)  # (F, K*C)
        self.out = nn.Linear(kernels, 1)

    def head(self, f: torch.Tensor) -> torch.Tensor:
        m = (f.flatten(1).float() @ self.T).view(-1, self.kernels, self.kernel_dim).transpose(0, 1)  # (K, B, C)
        distance = torch.cdist(m, m, p=1)  # (K, B, B): L1 between every pair, per kernel
        closeness = (torch.exp(-distance).sum(2) - 1).T  # (B, K); minus each sample's own exp(0)
        return self.D.head(f) + self.out(closeness).squeeze(1)


class MinibatchDiscrimination(Hooks):
    def __init__(self, kernels: int = 16, kernel_dim: int = 5) -> None:
        self.kernels = whole("reg.minibatch_discrimination.kernels", kernels, 1, 1024)  # B in the paper
        self.kernel_dim = whole("reg.minibatch_discrimination.kernel_dim", kernel_dim, 1, 256)  # C in the paper

    def wrap_d(self, D: nn.Module, sample_shape: tuple[int, ...]) -> nn.Module:
        return MinibatchLayer(D, feature_dim(D, sample_shape), self.kernels, self.kernel_dim).to(next(D.parameters()).device)
