"""Concatenation (Mirza & Osindero 2014): G takes y as cond.g says (see base), and D joins an embedding of y to
its last hidden features, then a small MLP turns the pair into the label's share of the logit."""

from __future__ import annotations

import torch
from torch import nn

from gan_cli.cond.base import Conditional, LabelledD
from gan_cli.models.checks import whole


class ConcatD(LabelledD):
    def __init__(self, D: nn.Module, feature_dim: int, classes: int, embed: int, hidden: int) -> None:
        super().__init__(D, classes)
        self.embed = nn.Embedding(classes, embed)  # (B, embed)
        self.mlp = nn.Sequential(
            nn.Linear(feature_dim + embed, hidden),  # (B, hidden): features and label side by side
            nn.LeakyReLU(0.2),
            nn.Linear(hidden, 1),  # (B, 1)
        )

    def label_logit(self, f: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        return self.mlp(torch.cat([f.float(), self.embed(y)], 1)).flatten()  # (B,)


class Concat(Conditional):
    def __init__(self, embed: int = 16, hidden: int = 128, g: str = "concat") -> None:
        super().__init__(g)
        self.embed = whole("cond.embed", embed, 1, 4096)
        self.hidden = whole("cond.hidden", hidden, 1, 65536)

    def wrap(self, D: nn.Module, feature_dim: int) -> LabelledD:
        return ConcatD(D, feature_dim, self.classes, self.embed, self.hidden)
