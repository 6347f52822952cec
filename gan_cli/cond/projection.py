"""The projection discriminator (Miyato & Koyama 2018): D's logit = psi(phi(x)) + embed(y) . phi(x), where
phi is D's last hidden features (flattened) and psi D's own last layer. G takes y as cond.g says (see base)."""

from __future__ import annotations

import torch
from torch import nn

from gan_cli.cond.base import Conditional, LabelledD


class ProjectionD(LabelledD):
    def __init__(self, D: nn.Module, feature_dim: int, classes: int) -> None:
        super().__init__(D, classes)
        self.embed = nn.Embedding(classes, feature_dim)  # (B, F): one direction in feature space per class
        nn.init.normal_(self.embed.weight, std=0.02)  # starts near the unconditional D, as the paper's code does

    def label_logit(self, f: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        return (self.embed(y) * f.float()).sum(1)  # (B,)


class Projection(Conditional):
    def wrap(self, D: nn.Module, feature_dim: int) -> LabelledD:
        return ProjectionD(D, feature_dim, self.classes)
