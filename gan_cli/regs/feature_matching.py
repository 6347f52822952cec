"""Feature matching (Salimans et al. 2016): G also matches the mean of D's last hidden features
on real and fake batches, a target that does not move as fast as D's verdict does."""

from __future__ import annotations

import torch

from gan_cli.hooks import GStep, Hooks, features
from gan_cli.models.checks import nonnegative


class FeatureMatching(Hooks):
    def __init__(self, weight: float = 1.0) -> None:
        self.weight = nonnegative("reg.feature_matching.weight", weight)

    def g_extra(self, s: GStep) -> torch.Tensor:
        # Float32 under amp too: both batches are (the loop casts G's samples), and hooks run outside autocast.
        with torch.no_grad():
            real = features(s.D, s.real)
        fake = features(s.D, s.fake)
        # Each member matches the means of its own batches.
        return self.weight * s.members.map(lambda r, f: (r.mean(0) - f.mean(0)).pow(2).sum(-1), real, fake)
