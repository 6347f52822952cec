"""Hinge loss (Lim & Ye 2017; Miyato et al. 2018): D wants real logits above 1 and fake below -1."""

from __future__ import annotations

import torch
import torch.nn.functional as F

from gan_cli.losses.base import GANLoss


class Hinge(GANLoss):
    """D ignores samples already beyond the margin, so it stops pushing where it is sure."""

    title = "hinge"
    d_meaning = "mean raw score of D (no probability: D wants real above 1, fake below -1)"

    def d_loss(self, real_logits: torch.Tensor, fake_logits: torch.Tensor) -> torch.Tensor:
        return F.relu(1 - real_logits).mean(0) + F.relu(1 + fake_logits).mean(0)

    def g_loss(self, fake_logits: torch.Tensor, real_logits: torch.Tensor | None = None) -> torch.Tensor:
        return -fake_logits.mean(0)
