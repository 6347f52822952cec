"""Fully connected G and D, sized from the data.

On MNIST this is the classic GAN of the tutorials: G 100 -> 128 -> 784 (tanh), D 784 -> 128 -> 1.
On 1-D data it is a small tanh MLP, as in the 50-line GAN example.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import torch
from torch import nn


def _default_hidden(sample_numel: int) -> list[int]:
    # One wide layer suffices for 784 pixels; a 1-D density needs depth more than width.
    return [128] if sample_numel > 1 else [32, 32]


class Generator(nn.Module):
    def __init__(self, latent_dim: int, sample_shape: Sequence[int], hidden: Sequence[int], bounded: bool) -> None:
        super().__init__()
        self.sample_shape = tuple(sample_shape)
        image = math.prod(sample_shape) > 1
        # ReLU for images (the classic MNIST MLP); tanh keeps the 1-D toy smooth.
        act = nn.ReLU if image else nn.Tanh
        layers: list[nn.Module] = []
        width = latent_dim
        for h in hidden:
            layers += [nn.Linear(width, h), act()]  # (B, h)
            width = h
        layers.append(nn.Linear(width, math.prod(sample_shape)))  # (B, numel)
        if bounded:
            layers.append(nn.Tanh())  # data scaled to [-1, 1]
        self.net = nn.Sequential(*layers)

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        return self.net(z).view(z.shape[0], *self.sample_shape)  # (B, *sample_shape)


class Discriminator(nn.Module):
    def __init__(self, sample_shape: Sequence[int], hidden: Sequence[int]) -> None:
        super().__init__()
        image = math.prod(sample_shape) > 1
        act = (lambda: nn.LeakyReLU(0.2)) if image else nn.Tanh
        layers: list[nn.Module] = [nn.Flatten()]  # (B, numel)
        width = math.prod(sample_shape)
        for h in reversed(hidden):  # D mirrors G: wide near the pixels, narrow near the logit
            layers += [nn.Linear(width, h), act()]  # (B, h)
            width = h
        layers.append(nn.Linear(width, 1))  # (B, 1) logit
        self.net = nn.Sequential(*layers)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x).squeeze(1)  # (B,)


def build(
    sample_shape: Sequence[int],
    latent_dim: int,
    bounded: bool,
    hidden: Sequence[int] | None = None,  # null: [128] for images, [32, 32] for 1-D
) -> tuple[nn.Module, nn.Module]:
    hidden = list(hidden) if hidden is not None else _default_hidden(math.prod(sample_shape))
    return Generator(latent_dim, sample_shape, hidden, bounded), Discriminator(sample_shape, hidden)
