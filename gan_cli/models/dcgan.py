"""DCGAN (Radford et al. 2016) for 28x28 single-channel images such as MNIST.

G upsamples 1 -> 7 -> 14 -> 28 with transposed convolutions, batch norm and ReLU, ending in tanh;
D mirrors it with strided convolutions and LeakyReLU(0.2), ending in one logit.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn

from gan_cli.errors import UserError
from gan_cli.models import checks

SHAPE = (1, 28, 28)


D_NORMS = ("batch", "layer", "none")


def _init_weights(m: nn.Module) -> None:
    # The DCGAN paper's init: N(0, 0.02) for convolutions, N(1, 0.02) for normalisation scales.
    if isinstance(m, (nn.Conv2d, nn.ConvTranspose2d)):
        nn.init.normal_(m.weight, 0.0, 0.02)
    elif isinstance(m, (nn.BatchNorm2d, nn.GroupNorm)):
        nn.init.normal_(m.weight, 1.0, 0.02)
        nn.init.zeros_(m.bias)


class Generator(nn.Module):
    def __init__(self, latent_dim: int, ngf: int) -> None:
        super().__init__()
        self.net = nn.Sequential(
            nn.ConvTranspose2d(latent_dim, ngf * 2, 7, 1, 0, bias=False),  # (B, 2ngf, 7, 7)
            nn.BatchNorm2d(ngf * 2),
            nn.ReLU(True),
            nn.ConvTranspose2d(ngf * 2, ngf, 4, 2, 1, bias=False),  # (B, ngf, 14, 14)
            nn.BatchNorm2d(ngf),
            nn.ReLU(True),
            nn.ConvTranspose2d(ngf, 1, 4, 2, 1),  # (B, 1, 28, 28)
            nn.Tanh(),
        )
        self.apply(_init_weights)

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        return self.net(z[:, :, None, None])  # (B, latent, 1, 1) -> (B, 1, 28, 28)


def _norm(kind: str, channels: int) -> nn.Module:
    # Batch norm mixes the samples of a batch, so a penalty on one sample's gradient (wgan_gp, r1) leaks
    # into the others; layer norm (one group over C, H, W) normalises each sample alone, as WGAN-GP's critic does.
    return {"batch": lambda: nn.BatchNorm2d(channels), "layer": lambda: nn.GroupNorm(1, channels), "none": nn.Identity}[kind]()


class Discriminator(nn.Module):
    def __init__(self, ndf: int, norm: str = "batch") -> None:
        super().__init__()
        self.net = nn.Sequential(
            nn.Conv2d(1, ndf, 4, 2, 1),  # (B, ndf, 14, 14); no normalisation on D's input layer
            nn.LeakyReLU(0.2, True),
            nn.Conv2d(ndf, ndf * 2, 4, 2, 1, bias=norm == "none"),  # (B, 2ndf, 7, 7)
            _norm(norm, ndf * 2),
            nn.LeakyReLU(0.2, True),
            nn.Conv2d(ndf * 2, 1, 7, 1, 0),  # (B, 1, 1, 1) logit
        )
        self.apply(_init_weights)

    def features(self, x: torch.Tensor) -> torch.Tensor:
        return self.net[:-1](x)  # (B, 2ndf, 7, 7): what feature matching compares

    def head(self, f: torch.Tensor) -> torch.Tensor:
        return self.net[-1](f).flatten()  # (B,) logits

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.features(x))


def build(
    sample_shape: Sequence[int],
    latent_dim: int,
    bounded: bool,
    ngf: int = 64,  # G's width; 64 as in the DCGAN paper and pytorch's example
    ndf: int = 64,  # D's width, likewise
    d_norm: str = "batch",  # D's normalisation: batch (the paper's), layer (for wgan_gp and r1) or none
) -> tuple[nn.Module, nn.Module]:
    if tuple(sample_shape) != SHAPE or not bounded:
        raise UserError(
            f"model=dcgan needs 1x28x28 images scaled to [-1, 1] (data=mnist), but the data give samples "
            f"of shape {tuple(sample_shape)}."
        )
    ngf, ndf = checks.whole("model.ngf", ngf, 1, 1024), checks.whole("model.ndf", ndf, 1, 1024)
    if d_norm not in D_NORMS:
        raise UserError(f"model.d_norm={d_norm!r} is not one of {', '.join(D_NORMS)}; e.g. model.d_norm=layer with loss=wgan_gp.")
    return Generator(latent_dim, ngf), Discriminator(ndf, d_norm)
