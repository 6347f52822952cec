"""Spectral normalisation of D (Miyato et al. 2018): each layer's weight is divided by its largest
singular value (one power iteration per step), bounding D's Lipschitz constant."""

from __future__ import annotations

from torch import nn
from torch.nn.utils.parametrizations import spectral_norm

from gan_cli.hooks import Hooks


class SpectralNorm(Hooks):
    def wrap_d(self, D: nn.Module, sample_shape: tuple[int, ...]) -> nn.Module:
        for module in list(D.modules()):
            if isinstance(module, (nn.Linear, nn.Conv2d, nn.ConvTranspose2d)):
                spectral_norm(module)
        return D
