"""AC-GAN (Odena et al. 2017): D's logit stays unconditional, and a classifier head on D's features also tells
the class; D learns it on real and fake samples, and G is trained to make its fakes' classes easy to tell.
G takes y as cond.g says (see base)."""

from __future__ import annotations

import torch
from torch import nn

from gan_cli.cond.base import Conditional, LabelledD
from gan_cli.hooks import DStep, GStep, JudgedFeatures
from gan_cli.models.checks import nonnegative


class AuxD(LabelledD):
    def __init__(self, D: nn.Module, feature_dim: int, classes: int) -> None:
        super().__init__(D, classes)
        self.classify = nn.Linear(feature_dim, classes)  # (B, classes): logits of y
        self.judged = JudgedFeatures(2)  # a D step's real and fake batch

    def forward(self, x: torch.Tensor, y: torch.Tensor | None = None) -> torch.Tensor:
        return self.D.head(self.judged.remember(x, self.D.features(x)))  # the label never enters the real/fake logit

    def class_logits(self, x: torch.Tensor) -> torch.Tensor:
        # Computing the judged batches' features again made an MNIST DCGAN round 1.46x as long, and gave the class
        # head other dropout masks than the logit's.
        return self.classify(self.judged.of(x, self.D.features).flatten(1).float())


class ACGAN(Conditional):
    def __init__(self, weight: float = 1.0, g: str = "concat") -> None:
        super().__init__(g)
        self.weight = nonnegative("cond.weight", weight)  # of the auxiliary cross-entropy; the paper adds it with 1

    def wrap(self, D: nn.Module, feature_dim: int) -> LabelledD:
        return AuxD(D, feature_dim, self.classes)

    def _ce(self, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        return nn.functional.cross_entropy(self.D.class_logits(x), y).reshape(1)  # (K=1,): conditioning runs alone

    def d_extra(self, s: DStep) -> torch.Tensor:
        assert s.y_real is not None and s.y_fake is not None
        return self.weight * (self._ce(s.real, s.y_real) + self._ce(s.fake, s.y_fake))

    def g_extra(self, s: GStep) -> torch.Tensor:
        assert s.y_fake is not None
        return self.weight * self._ce(s.fake, s.y_fake)
