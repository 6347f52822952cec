"""Fully connected G and D, sized from the data.

On MNIST this is the classic MLP GAN of the tutorials: G 100 -> 256 -> 512 -> 1024 -> 784 (tanh),
D 784 -> 1024 -> 512 -> 256 -> 1 with LeakyReLU and dropout. On 1-D data it is a small tanh MLP,
as in the 50-line GAN example; on points in the plane, two LeakyReLU layers of 128 as in the
mode-collapse benchmarks (Metz et al. 2017).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence

import torch
from torch import nn

from gan_cli.errors import UserError
from gan_cli.models import checks
from gan_cli.models.base import SequentialDiscriminator


def _leaky() -> nn.Module:
    return nn.LeakyReLU(0.2)  # keeps gradients alive where ReLU units die in adversarial training


def _defaults(numel: int) -> tuple[list[int], Callable[[], nn.Module], float]:
    """Hidden widths, activation and D's dropout for samples of `numel` numbers."""
    if numel == 1:
        return [32, 32], nn.Tanh, 0.0  # tanh keeps the 1-D toy's density smooth
    if numel < 64:
        return [128, 128], _leaky, 0.0  # points in the plane
    return [256, 512, 1024], _leaky, 0.3  # images: a fully connected D memorises pixels and wins without dropout


class Generator(nn.Module):
    def __init__(self, latent_dim: int, sample_shape: Sequence[int], hidden: Sequence[int], bounded: bool, act: Callable[[], nn.Module]) -> None:
        super().__init__()
        self.sample_shape = tuple(sample_shape)
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


class Discriminator(SequentialDiscriminator):
    def __init__(self, sample_shape: Sequence[int], hidden: Sequence[int], dropout: float, act: Callable[[], nn.Module]) -> None:
        super().__init__()
        layers: list[nn.Module] = [nn.Flatten()]  # (B, numel)
        width = math.prod(sample_shape)
        for h in reversed(hidden):  # D mirrors G: wide near the pixels, narrow near the logit
            layers += [nn.Linear(width, h), act()]  # (B, h)
            if dropout > 0:
                layers.append(nn.Dropout(dropout))
            width = h
        layers.append(nn.Linear(width, 1))  # (B, 1) logit
        self.net = nn.Sequential(*layers)


def build(
    sample_shape: Sequence[int],
    latent_dim: int,
    bounded: bool,
    hidden: Sequence[int] | None = None,  # G's layer widths (D uses them reversed); null: [256, 512, 1024] for images, [128, 128] for 2-D, [32, 32] for 1-D
    dropout: float | None = None,  # D's dropout after each hidden layer; null: 0.3 for images, else 0
) -> tuple[nn.Module, nn.Module]:
    default_hidden, act, default_dropout = _defaults(math.prod(sample_shape))
    hidden = list(hidden) if hidden is not None else default_hidden
    if not 1 <= len(hidden) <= 16:
        raise UserError(f"model.hidden={hidden!r} is not allowed: give 1 to 16 layer widths, e.g. model.hidden=[256,512].")
    widths = [latent_dim, *(checks.whole("model.hidden[]", h, 1, 65536) for h in hidden), math.prod(sample_shape)]
    checks.size("model.hidden", sum(a * b + b for a, b in zip(widths, widths[1:])))
    dropout = checks.fraction("model.dropout", dropout) if dropout is not None else default_dropout
    return Generator(latent_dim, sample_shape, hidden, bounded, act), Discriminator(sample_shape, hidden, dropout, act)
