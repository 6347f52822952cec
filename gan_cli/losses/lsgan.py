"""Least-squares GAN (Mao et al. 2017): D regresses real to 1 and fake to 0; G pulls fakes to 1."""

from __future__ import annotations

import torch

from gan_cli.losses.base import GANLoss


class LeastSquares(GANLoss):
    """Penalises fakes by their distance from the real target, so G gets gradients even from
    samples D classifies correctly (where the sigmoid of the BCE losses saturates)."""

    title = "least-squares"
    # Not a probability, though with targets 1 and 0 the best D is p_data / (p_data + p_g) as well (Mao et al., Prop. 1).
    d_meaning = "mean raw output of D, a regression towards real 1 and fake 0 (no sigmoid; may leave [0, 1])"
    has_real_target = True  # real samples regress to 1: label smoothing lowers that target

    def retarget_real(self, real_logits: torch.Tensor, fake_logits: torch.Tensor, target: float) -> torch.Tensor:
        # The exact change of d_loss when real samples regress to `target` instead of 1.
        return 0.5 * ((real_logits - target).pow(2) - (real_logits - 1).pow(2)).mean(0)

    def d_loss(self, real_logits: torch.Tensor, fake_logits: torch.Tensor) -> torch.Tensor:
        return 0.5 * ((real_logits - 1).pow(2).mean(0) + fake_logits.pow(2).mean(0))

    def g_loss(self, fake_logits: torch.Tensor, real_logits: torch.Tensor | None = None) -> torch.Tensor:
        return 0.5 * (fake_logits - 1).pow(2).mean(0)
