"""Fully connected G and D, sized from the data.

On MNIST G is the vanilla GAN's of PyTorch-GAN: 100 -> 128 -> 256 -> 512 -> 1024 -> 784 (tanh) with batch
norm after every hidden layer but the first; D is the tutorial MLP's 784 -> 1024 -> 512 -> 256 -> 1 with
dropout 0.3; LeakyReLU throughout. The older image MLP (G 256-512-1024 without batch norm) is
`model.g_norm=none model.hidden=[256,512,1024]`; PyTorch-GAN's D is `model.d_hidden=[512,256] model.dropout=0`.
On 1-D data it is two LeakyReLU layers of 32 (the 50-line GAN example's sizes; its tanh is `model.act=tanh`); on
points in the plane, two LeakyReLU layers of 128 as in the mode-collapse benchmarks (Metz et al. 2017).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import torch
from torch import nn

from gan_cli.errors import UserError
from gan_cli.models import checks
from gan_cli.models.base import SequentialDiscriminator

NORMS = ("batch", "layer", "none")


def _normalisation(kind: str, width: int) -> nn.Module | None:
    # Batch norm mixes a batch's samples; layer norm normalises each sample alone (safe in D, and with wgan_gp or r1).
    return {"batch": lambda: nn.BatchNorm1d(width), "layer": lambda: nn.LayerNorm(width), "none": lambda: None}[kind]()


def _leaky() -> nn.Module:
    return nn.LeakyReLU(0.2)  # keeps gradients alive where ReLU units die in adversarial training


ACTIVATIONS: dict[str, Callable[[], nn.Module]] = {"tanh": nn.Tanh, "leaky_relu": _leaky}


@dataclass(frozen=True)
class Defaults:
    """What `build` uses for each option left null, by the kind of sample."""

    hidden: list[int]
    d_hidden: list[int] | None  # None: G's widths reversed
    act: Callable[[], nn.Module]
    dropout: float
    g_norm: str
    d_norm: str


def _defaults(numel: int) -> Defaults:
    if numel == 1:
        # LeakyReLU: with normal noise G can be the exact (linear) map, and it costs a tenth of tanh's time in a population
        return Defaults([32, 32], None, _leaky, 0.0, "none", "none")
    if numel < 64:
        return Defaults([128, 128], None, _leaky, 0.0, "none", "none")  # points in the plane
    # Images: PyTorch-GAN's G with batch norm (without it G collapses to a few speckled strokes: 6 modes, score 2.3 at an
    # epoch) and the tutorial MLP's D with dropout, which leads PyTorch-GAN's 784-512-256 D for the first 6,250 steps
    # (score 4.65 against 4.03 at 3,125, 6.19 against 5.78 at 6,250; seed 0) but draws level by 7,500 (6.16, 6.31).
    # Dropout 0 read 7.22 against 6.38 on seed 0, but on untuned seeds 10-12 only 7.10 against 6.83 with fewer digits
    # covered (8, 10, 9 of 10 against 10, 9, 10), so 0.3 stays (docs/results.md)
    return Defaults([128, 256, 512, 1024], [1024, 512, 256], _leaky, 0.3, "batch", "none")


class Generator(nn.Module):
    rank_agnostic = True  # forward works on (K, B, width) as on (B, width): a population may run it without vmap

    def __init__(
        self, latent_dim: int, sample_shape: Sequence[int], hidden: Sequence[int], bounded: bool, act: Callable[[], nn.Module], norm: str
    ) -> None:
        super().__init__()
        self.sample_shape = tuple(sample_shape)
        layers: list[nn.Module] = []
        width = latent_dim
        for i, h in enumerate(hidden):
            layers.append(nn.Linear(width, h))  # (B, h)
            normalise = _normalisation(norm, h) if i > 0 else None  # not on the first layer, as in PyTorch-GAN: it would only rescale z
            if normalise is not None:
                layers.append(normalise)  # (B, h)
            layers.append(act())
            width = h
        layers.append(nn.Linear(width, math.prod(sample_shape)))  # (B, numel)
        if bounded:
            layers.append(nn.Tanh())  # data scaled to [-1, 1]
        self.net = nn.Sequential(*layers)

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        return self.net(z).view(*z.shape[:-1], *self.sample_shape)  # (B, *sample_shape); a population's (K, B, ...)


class Discriminator(SequentialDiscriminator):
    def __init__(self, sample_shape: Sequence[int], hidden: Sequence[int], dropout: float, act: Callable[[], nn.Module], norm: str) -> None:
        super().__init__()
        layers: list[nn.Module] = [nn.Flatten()]  # (B, numel)
        width = math.prod(sample_shape)
        for i, h in enumerate(hidden):
            layers.append(nn.Linear(width, h))  # (B, h)
            normalise = _normalisation(norm, h) if i > 0 else None  # not on the first layer, as in the DCGAN's D
            if normalise is not None:
                layers.append(normalise)  # (B, h)
            layers.append(act())
            if dropout > 0:
                layers.append(nn.Dropout(dropout))
            width = h
        layers.append(nn.Linear(width, 1))  # (B, 1) logit
        self.net = nn.Sequential(*layers)


def _widths(key: str, widths: Sequence[int], first: int, last: int) -> list[int]:
    if isinstance(widths, str) or not isinstance(widths, Sequence) or not 1 <= len(widths) <= 16:
        raise UserError(f"{key}={widths!r} is not allowed: give 1 to 16 layer widths, e.g. {key}=[256,512].")
    widths = list(widths)
    chain = [first, *(checks.whole(f"{key}[]", h, 1, 65536) for h in widths), last]
    checks.size(key, sum(a * b + b for a, b in zip(chain, chain[1:])))
    return widths


def _norm(key: str, value: str) -> str:
    if value not in NORMS:
        raise UserError(f"{key}={value!r} is not one of {', '.join(NORMS)}; e.g. {key}=none for layers without normalisation.")
    return value


def build(
    sample_shape: Sequence[int],
    latent_dim: int,
    bounded: bool,
    hidden: Sequence[int] | None = None,  # G's layer widths; null: [128, 256, 512, 1024] for images, [128, 128] for 2-D, [32, 32] for 1-D
    d_hidden: Sequence[int] | None = None,  # D's layer widths from the input on; null: [1024, 512, 256] for images, else G's reversed
    dropout: float | None = None,  # D's dropout after each hidden layer; null: 0.3 for images, else 0
    g_norm: str | None = None,  # G's normalisation after each hidden layer but the first: batch, layer or none; null: batch for images, else none
    d_norm: str | None = None,  # D's normalisation after each hidden layer but the first: batch, layer or none; null: none
    act: str | None = None,  # the hidden layers' activation: tanh or leaky_relu (slope 0.2); null: leaky_relu
) -> tuple[nn.Module, nn.Module]:
    numel = math.prod(sample_shape)
    default = _defaults(numel)
    hidden = _widths("model.hidden", hidden if hidden is not None else default.hidden, latent_dim, numel)
    d_hidden = d_hidden if d_hidden is not None else default.d_hidden if default.d_hidden is not None else list(reversed(hidden))
    d_hidden = _widths("model.d_hidden", d_hidden, numel, 1)
    dropout = checks.fraction("model.dropout", dropout) if dropout is not None else default.dropout
    g_norm = _norm("model.g_norm", g_norm if g_norm is not None else default.g_norm)
    d_norm = _norm("model.d_norm", d_norm if d_norm is not None else default.d_norm)
    if act is not None and act not in ACTIVATIONS:
        raise UserError(f"model.act={act!r} is not one of {', '.join(ACTIVATIONS)}; e.g. model.act=leaky_relu.")
    activation = ACTIVATIONS[act] if act is not None else default.act
    G = Generator(latent_dim, sample_shape, hidden, bounded, activation, g_norm)
    return G, Discriminator(sample_shape, d_hidden, dropout, activation, d_norm)
