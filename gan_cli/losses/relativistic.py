"""Relativistic average GAN, non-saturating form (RaGAN, Jolicoeur-Martineau 2019).

D estimates how much more real a real sample looks than the average fake, and vice versa;
G's loss uses real data too, so G also learns by making real samples look less real.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from gan_cli.losses.base import GANLoss


def _bce(logits: torch.Tensor, target: float) -> torch.Tensor:
    return F.binary_cross_entropy_with_logits(logits, torch.full_like(logits, target), reduction="none").mean(0)


class RelativisticAverage(GANLoss):
    needs_real_logits_in_g = True
    title = "relativistic average"
    # D's verdict is relative: sigmoid(C(x_r) - mean C(x_f)) for real samples, sigmoid(C(x_f) - mean C(x_r)) for fakes;
    # the raw C(x) alone has no meaning (adding a constant to it changes no loss).
    d_meaning = "mean probability D gives that a sample is more real than the other batch's average, sigmoid(C(x) - mean C(other))"
    has_real_target = True

    def d_value(self, logits: torch.Tensor, others: torch.Tensor) -> torch.Tensor:
        return torch.sigmoid(logits - others.mean(0))

    def retarget_real(self, real_logits: torch.Tensor, fake_logits: torch.Tensor, target: float) -> torch.Tensor:
        # d_loss gives the relative logit C(x_r) - mean C(x_f) the target 1; as for BCE, lowering it adds (1 - target) x that.
        return (1 - target) * (real_logits - fake_logits.mean(0)).mean(0)

    def d_loss(self, real_logits: torch.Tensor, fake_logits: torch.Tensor) -> torch.Tensor:
        return _bce(real_logits - fake_logits.mean(0), 1.0) + _bce(fake_logits - real_logits.mean(0), 0.0)

    def g_loss(self, fake_logits: torch.Tensor, real_logits: torch.Tensor | None = None) -> torch.Tensor:
        if real_logits is None:
            raise ValueError("the relativistic loss needs D's logits on real data in the G step")
        return _bce(fake_logits - real_logits.mean(0), 1.0) + _bce(real_logits - fake_logits.mean(0), 0.0)
