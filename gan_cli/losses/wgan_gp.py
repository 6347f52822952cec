"""Wasserstein GAN with gradient penalty (Gulrajani et al. 2017).

D is a critic: its mean score on real minus fake estimates the Wasserstein-1 distance, valid
while D is 1-Lipschitz, which the penalty enforces softly on points between real and fake.
"""

from __future__ import annotations

import torch
from torch import nn

from gan_cli.hooks import DStep, batch_norm_advice
from gan_cli.losses.base import GANLoss
from gan_cli.models.checks import nonnegative


def gradient_penalty(D: torch.nn.Module, real: torch.Tensor, fake: torch.Tensor, eps: torch.Tensor | None = None) -> torch.Tensor:
    """(||grad D(x_hat)||_2 - 1)^2 per sample, at x_hat uniformly on the lines between real and fake samples
    (eps: (B,) the mixing weights; drawn here from the global RNG when not given)."""
    eps = torch.rand(real.shape[0], device=real.device) if eps is None else eps
    eps = eps.view(-1, *([1] * (real.dim() - 1)))  # one mixing weight per sample
    x_hat = (eps * real.detach() + (1 - eps) * fake.detach()).requires_grad_(True)
    (grad,) = torch.autograd.grad(D(x_hat).float().sum(), x_hat, create_graph=True)  # create_graph: D learns from it
    return (grad.flatten(1).norm(dim=1) - 1).pow(2)  # (B,): each member's mean is its penalty


class WGANGP(GANLoss):
    title = "WGAN-GP"
    d_meaning = "mean raw critic score (no probability; D/real - D/fake estimates the Wasserstein-1 distance)"

    def __init__(self, gp_weight: float = 10.0) -> None:
        self.gp_weight = nonnegative("loss.gp_weight", gp_weight)  # lambda of the paper

    def d_loss(self, real_logits: torch.Tensor, fake_logits: torch.Tensor) -> torch.Tensor:
        return fake_logits.mean(0) - real_logits.mean(0)  # -(W1 estimate)

    def g_loss(self, fake_logits: torch.Tensor, real_logits: torch.Tensor | None = None) -> torch.Tensor:
        return -fake_logits.mean(0)

    def d_extra(self, s: DStep) -> torch.Tensor:
        return self.gp_weight * s.members.mean(gradient_penalty(s.D, s.real, s.fake, s.members.uniform(len(s.real), s.real.device)))

    def advice(self, D: nn.Module) -> str | None:
        return batch_norm_advice(D, "loss=wgan_gp")
