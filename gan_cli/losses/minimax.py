"""The original saturating game: G minimises log(1 - D(G(z)))."""

from __future__ import annotations

import torch
import torch.nn.functional as F

from gan_cli.losses.base import BCELoss


class Minimax(BCELoss):
    """G descends V(D, G) directly; its gradient vanishes while D rejects fakes confidently."""

    title = "minimax"

    def g_loss(self, fake_logits: torch.Tensor, real_logits: torch.Tensor | None = None) -> torch.Tensor:
        # log(1 - sigmoid(l)) = -softplus(l): exact and finite for any logit.
        return -F.softplus(fake_logits).mean(0)
