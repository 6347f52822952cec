"""The non-saturating heuristic: G minimises -log D(G(z)) (Goodfellow et al. 2014, sec. 3)."""

from __future__ import annotations

import torch
import torch.nn.functional as F

from gan_cli.losses.base import BCELoss


class NonSaturating(BCELoss):
    """Same fixed point as minimax, but strong gradients early, when D rejects G(z) easily."""

    title = "non-saturating"

    def g_loss(self, fake_logits: torch.Tensor, real_logits: torch.Tensor | None = None) -> torch.Tensor:
        # -log sigmoid(l) = softplus(-l), i.e. BCE against the "real" label, computed stably.
        return F.softplus(-fake_logits).mean(0)
