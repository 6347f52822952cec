"""One-sided label smoothing (Salimans et al. 2016): D's target for real samples is `real_label`
(e.g. 0.9) instead of 1, so D stops pushing real logits to infinity; fakes keep target 0."""

from __future__ import annotations

import torch

from gan_cli.hooks import DStep, Hooks
from gan_cli.errors import UserError


class LabelSmoothing(Hooks):
    def __init__(self, real_label: float = 0.9) -> None:
        if not isinstance(real_label, (int, float)) or isinstance(real_label, bool) or not 0 < real_label <= 1:
            raise UserError(f"reg.label_smoothing.real_label={real_label!r} is not allowed: it must be in (0, 1], e.g. 0.9.")
        self.real_label = float(real_label)

    def d_extra(self, s: DStep) -> torch.Tensor:
        # BCE(l, t) = softplus(l) - t*l, so BCE(l, real_label) - BCE(l, 1) = (1 - real_label) * l: the
        # smoothing is this term added to the BCE losses (for other losses it is the same pull on D(x)).
        return (1 - self.real_label) * s.real_logits.float().mean()
