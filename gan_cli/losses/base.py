"""The interface between a GAN loss and the training loop.

The loop calls `d_loss` and `g_loss` on raw logits of D (and a loss's hooks, e.g. a gradient
penalty), so a new loss is one small subclass; the loop never needs to know its name.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from gan_cli.hooks import Hooks


class GANLoss(Hooks):
    """Binary cross-entropy for D: D maximises V(D, G) = E log D(x) + E log(1 - D(G(z)))."""

    # True when g_loss needs D's logits on a real batch (relativistic losses); the loop skips that forward otherwise.
    needs_real_logits_in_g = False

    def d_loss(self, real_logits: torch.Tensor, fake_logits: torch.Tensor) -> torch.Tensor:
        """-V(D, G): BCE with real -> 1 and fake -> 0. The caller passes D(G(z).detach())."""
        # From logits (softplus inside BCE-with-logits), so a confident D never gives log(0).
        real = F.binary_cross_entropy_with_logits(real_logits, torch.ones_like(real_logits))
        fake = F.binary_cross_entropy_with_logits(fake_logits, torch.zeros_like(fake_logits))
        return real + fake

    def g_loss(self, fake_logits: torch.Tensor, real_logits: torch.Tensor | None = None) -> torch.Tensor:
        """What G minimises, given D's logits on G(z) (not detached), and on real data when asked for."""
        raise NotImplementedError
