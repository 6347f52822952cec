"""AC-GAN (Odena et al. 2017): D's logit stays unconditional, and a classifier head on D's features also tells
the class; D learns it on real and fake samples, and G is trained to make its fakes' classes easy to tell.
G takes y as cond.g says (see base)."""

from __future__ import annotations

import torch
from torch import nn

from gan_cli.cond.base import Conditional, LabelledD
from gan_cli.hooks import DStep, GStep
from gan_cli.models.checks import nonnegative


class AuxD(LabelledD):
    def __init__(self, D: nn.Module, feature_dim: int, classes: int) -> None:
        super().__init__(D, classes)
        self.classify = nn.Linear(feature_dim, classes)  # (B, classes): logits of y
        self._seen: list[tuple[torch.Tensor, torch.Tensor]] = []  # the last two batches D judged, with their features

    def forward(self, x: torch.Tensor, y: torch.Tensor | None = None) -> torch.Tensor:
        f = self.D.features(x)
        self._seen = [(x, f), *self._seen[:1]]
        return self.D.head(f)  # the label never enters the real/fake logit

    def class_logits(self, x: torch.Tensor) -> torch.Tensor:
        # A D step has just judged its real and its fake batch, a G step its fake one: both heads read those
        # features, as one forward pass with two heads does. Computing them again made an MNIST DCGAN round 1.46x as
        # long, and gave the class head other dropout masks than the logit's. Any other batch is computed afresh.
        f = next((f for seen, f in self._seen if seen is x), None)
        return self.classify((self.D.features(x) if f is None else f).flatten(1).float())


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
