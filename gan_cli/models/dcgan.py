"""DCGAN (Radford et al. 2016) for 28x28 single-channel images such as MNIST, in InfoGAN's MNIST form.

G: z -> fc 1024 -> fc 7x7 map, then transposed convolutions 7 -> 14 -> 28 with batch norm and ReLU, ending in tanh.
D mirrors it: strided convolutions 28 -> 14 -> 7 with LeakyReLU(0.2), then fc 1024 -> one logit.
The fully connected layers are InfoGAN's (Chen et al. 2016, appendix C.1). Without them (fc=0, the all-convolutional
DCGAN) the digits stay blurry: 2 epochs read classifier score 5.8 and FD-MNIST 68, with them 7.3 and 24.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn

from gan_cli.errors import DataModelMismatch, UserError
from gan_cli.models import checks
from gan_cli.models.base import SequentialDiscriminator

SHAPE = (1, 28, 28)


D_NORMS = ("batch", "layer", "none")


def _init_weights(m: nn.Module) -> None:
    # The DCGAN paper's init: N(0, 0.02) for convolutions, N(1, 0.02) for their normalisation scales. The fully
    # connected layers and their batch norms keep torch's defaults, as in the runs the README reports.
    if isinstance(m, (nn.Conv2d, nn.ConvTranspose2d)):
        nn.init.normal_(m.weight, 0.0, 0.02)
    elif isinstance(m, (nn.BatchNorm2d, nn.GroupNorm)):
        nn.init.normal_(m.weight, 1.0, 0.02)
        nn.init.zeros_(m.bias)


def _plain(conv: nn.modules.conv._ConvNd) -> None:
    # What makes the matrix product below the same function as the convolution it stands in for.
    assert conv.padding == (0, 0) and conv.dilation == (1, 1) and conv.groups == 1 and conv.output_padding == (0, 0)


class WholeConvTranspose2d(nn.ConvTranspose2d):
    """A transposed convolution of a 1x1 image: a Linear layer and a reshape, computed as one. torch's transposed
    convolution took 2.5x the time forward and 4.5x backward (CPU, batch 32, one thread). The weight keeps its layout, so
    checkpoints from before load as they are and a seed draws the same initial weights."""

    matrix_product = True  # reads its weight as a matrix: gan_cli.device.fast_layout leaves its layout alone

    def __init__(self, in_channels: int, out_channels: int, kernel_size: int, bias: bool = True) -> None:
        super().__init__(in_channels, out_channels, kernel_size, bias=bias)
        _plain(self)

    def forward(self, x: torch.Tensor, output_size: list[int] | None = None) -> torch.Tensor:
        if x.shape[-2:] != (1, 1) or output_size is not None:
            return super().forward(x, output_size)
        out = x.flatten(-3) @ self.weight.flatten(1)  # (B, in) @ (in, out*kH*kW)
        out = out.unflatten(-1, self.weight.shape[1:])  # (B, out, kH, kW)
        return out if self.bias is None else out + self.bias[:, None, None]


class WholeConv2d(nn.Conv2d):
    """A convolution whose kernel covers its whole input: one output pixel, a Linear layer of the flattened input,
    computed as one (forward and backward 8x faster than torch's convolution for D's 7x7 logit, as above). Still a Conv2d
    with a Conv2d's weight, so spectral norm, the init and checkpoints treat it as before."""

    matrix_product = True

    def __init__(self, in_channels: int, out_channels: int, kernel_size: int) -> None:
        super().__init__(in_channels, out_channels, kernel_size)
        _plain(self)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if x.shape[-2:] != self.kernel_size:
            return super().forward(x)
        out = nn.functional.linear(x.flatten(-3), self.weight.flatten(1), self.bias)  # (B, out)
        return out[..., None, None]  # (B, out, 1, 1)


def _stem(latent_dim: int, channels: int, fc: int) -> list[nn.Module]:
    """G's layers from z (B, latent_dim) to a (B, channels, 7, 7) map."""
    if not fc:  # the all-convolutional DCGAN: one 7x7 transposed convolution of z seen as a 1x1 image
        return [
            WholeConvTranspose2d(latent_dim, channels, 7, bias=False),  # (B, latent, 1, 1) -> (B, C, 7, 7)
            nn.BatchNorm2d(channels),
            nn.ReLU(True),
        ]
    return [
        nn.Linear(latent_dim, fc, bias=False),  # (B, fc)
        nn.BatchNorm1d(fc),
        nn.ReLU(True),
        nn.Linear(fc, channels * 49, bias=False),  # (B, C*7*7)
        nn.BatchNorm1d(channels * 49),
        nn.ReLU(True),
        nn.Unflatten(1, (channels, 7, 7)),  # (B, C, 7, 7)
    ]


class Generator(nn.Module):
    def __init__(self, latent_dim: int, ngf: int, fc: int) -> None:
        super().__init__()
        self.fc = fc
        self.net = nn.Sequential(
            *_stem(latent_dim, ngf * 2, fc),  # (B, 2ngf, 7, 7)
            nn.ConvTranspose2d(ngf * 2, ngf, 4, 2, 1, bias=False),  # (B, ngf, 14, 14)
            nn.BatchNorm2d(ngf),
            nn.ReLU(True),
            nn.ConvTranspose2d(ngf, 1, 4, 2, 1),  # (B, 1, 28, 28)
            nn.Tanh(),
        )
        self.apply(_init_weights)

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        # Without fc, z enters as a (B, latent, 1, 1) image; the layer indices then match checkpoints from before fc.
        return self.net(z if self.fc else z[:, :, None, None])  # -> (B, 1, 28, 28)


def _norm(kind: str, channels: int, flat: bool = False) -> nn.Module:
    # Batch norm mixes the samples of a batch, so a penalty on one sample's gradient (wgan_gp, r1) leaks
    # into the others; layer norm (one group over C, H, W) normalises each sample alone, as WGAN-GP's critic does.
    batch = nn.BatchNorm1d if flat else nn.BatchNorm2d
    return {"batch": lambda: batch(channels), "layer": lambda: nn.GroupNorm(1, channels), "none": nn.Identity}[kind]()


def _head(channels: int, fc: int, norm: str) -> list[nn.Module]:
    """D's layers from the (B, C, 7, 7) map to (B, 1) logits."""
    if not fc:
        return [WholeConv2d(channels, 1, 7)]  # (B, C, 7, 7) -> (B, 1, 1, 1) logit
    return [
        nn.Flatten(),  # (B, C*7*7)
        nn.Linear(channels * 49, fc, bias=norm == "none"),  # (B, fc)
        _norm(norm, fc, flat=True),
        nn.LeakyReLU(0.2, True),
        nn.Linear(fc, 1),  # (B, 1) logit
    ]


class Discriminator(SequentialDiscriminator):
    def __init__(self, ndf: int, fc: int, norm: str = "batch") -> None:
        super().__init__()
        self.net = nn.Sequential(
            nn.Conv2d(1, ndf, 4, 2, 1),  # (B, ndf, 14, 14); no normalisation on D's input layer
            nn.LeakyReLU(0.2, True),
            nn.Conv2d(ndf, ndf * 2, 4, 2, 1, bias=norm == "none"),  # (B, 2ndf, 7, 7)
            _norm(norm, ndf * 2),
            nn.LeakyReLU(0.2, True),
            *_head(ndf * 2, fc, norm),
        )
        self.apply(_init_weights)


def build(
    sample_shape: Sequence[int],
    latent_dim: int,
    bounded: bool,
    ngf: int = 64,  # G's width; 64 as in the DCGAN paper and pytorch's example
    ndf: int = 64,  # D's width, likewise
    d_norm: str = "batch",  # D's normalisation: batch (the paper's), layer (for wgan_gp and r1) or none
    fc: int = 1024,  # width of the fully connected layer next to z in G and next to the logit in D; 0: none
) -> tuple[nn.Module, nn.Module]:
    if tuple(sample_shape) != SHAPE or not bounded:
        raise DataModelMismatch(
            f"model=dcgan needs 1x28x28 images scaled to [-1, 1] (data=mnist), but the data give samples "
            f"of shape {tuple(sample_shape)}."
        )
    ngf, ndf = checks.whole("model.ngf", ngf, 1, 1024), checks.whole("model.ndf", ndf, 1, 1024)
    fc = checks.whole("model.fc", fc, 0, 8192)
    checks.size("model.fc", fc * (latent_dim + 2 * ngf * 49 + 2 * ndf * 49))  # the fully connected layers hold most weights
    if d_norm not in D_NORMS:
        raise UserError(f"model.d_norm={d_norm!r} is not one of {', '.join(D_NORMS)}; e.g. model.d_norm=layer with loss=wgan_gp.")
    return Generator(latent_dim, ngf, fc), Discriminator(ndf, fc, d_norm)
