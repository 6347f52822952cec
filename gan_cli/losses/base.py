"""The interface between a GAN loss and the training loop.

The loop calls `d_loss` and `g_loss` on raw logits of D (and a loss's hooks, e.g. a gradient
penalty), so a new loss is one small subclass; the loop never needs to know its name.

Every loss averages over the batch, dim 0, and over nothing else. The loop lays a population's members side by
side in dim 1 (logits (B, K, 1)), so one call gives each member its own loss, (K, 1); an ordinary run's logits are
(B, 1, 1), and its loss is the plain batch mean.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from gan_cli.hooks import Hooks


class GANLoss(Hooks):
    """What every loss tells the loop: D's and G's losses, and what D's raw outputs mean."""

    # True when g_loss needs D's logits on a real batch (relativistic losses); the loop skips that forward otherwise.
    needs_real_logits_in_g = False
    title = "this"  # how messages name the loss: "the {title} loss"
    # What D/real and D/fake (and D's curve in 1-D figures) show for this loss; the tags are the same for every loss.
    d_meaning = "mean raw output of D"
    # True when D's loss pulls its outputs on real samples towards a target of 1 (a label or a regression
    # target), so that one-sided label smoothing can lower that target: see retarget_real.
    has_real_target = False

    def d_loss(self, real_logits: torch.Tensor, fake_logits: torch.Tensor) -> torch.Tensor:
        """What D minimises, given its logits on a real batch and on D(G(z).detach())."""
        raise NotImplementedError

    def g_loss(self, fake_logits: torch.Tensor, real_logits: torch.Tensor | None = None) -> torch.Tensor:
        """What G minimises, given D's logits on G(z) (not detached), and on real data when asked for."""
        raise NotImplementedError

    def d_value(self, logits: torch.Tensor, others: torch.Tensor) -> torch.Tensor:
        """D's raw outputs on one batch as logged, per sample (see d_meaning). `others` are D's outputs on the
        opposite batch (fakes for a real batch, real samples for a fake one), which a relativistic D compares with."""
        return logits

    def retarget_real(self, real_logits: torch.Tensor, fake_logits: torch.Tensor, target: float) -> torch.Tensor:
        """How much D's loss changes when its target for real samples is `target` instead of 1 (only where
        has_real_target): the term one-sided label smoothing adds to D's loss."""
        raise NotImplementedError(f"{type(self).__name__} has no target for real samples")


class BCELoss(GANLoss):
    """Binary cross-entropy for D: D maximises V(D, G) = E log D(x) + E log(1 - D(G(z)))."""

    d_meaning = "mean probability D gives that a sample is real, sigmoid(logit)"  # 1/2 once p_g = p_data (Prop. 1)
    has_real_target = True

    def d_loss(self, real_logits: torch.Tensor, fake_logits: torch.Tensor) -> torch.Tensor:
        """-V(D, G): BCE with real -> 1 and fake -> 0. The caller passes D(G(z).detach())."""
        # From logits (softplus inside BCE-with-logits), so a confident D never gives log(0).
        real = F.binary_cross_entropy_with_logits(real_logits, torch.ones_like(real_logits), reduction="none").mean(0)
        fake = F.binary_cross_entropy_with_logits(fake_logits, torch.zeros_like(fake_logits), reduction="none").mean(0)
        return real + fake

    def d_value(self, logits: torch.Tensor, others: torch.Tensor) -> torch.Tensor:
        return torch.sigmoid(logits)

    def retarget_real(self, real_logits: torch.Tensor, fake_logits: torch.Tensor, target: float) -> torch.Tensor:
        # BCE(l, t) = softplus(l) - t*l, so BCE(l, target) - BCE(l, 1) = (1 - target) * l.
        return (1 - target) * real_logits.mean(0)
