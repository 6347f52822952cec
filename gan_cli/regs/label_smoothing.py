"""One-sided label smoothing (Salimans et al. 2016): D's target for real samples is `real_label`
(e.g. 0.9) instead of 1, so D stops pushing real logits to infinity; fakes keep target 0."""

from __future__ import annotations

import torch

from gan_cli.errors import UserError
from gan_cli.hooks import DStep, Hooks
from gan_cli.losses.base import GANLoss


class LabelSmoothing(Hooks):
    def __init__(self, real_label: float = 0.9) -> None:
        if not isinstance(real_label, (int, float)) or isinstance(real_label, bool) or not 0 < real_label <= 1:
            raise UserError(f"reg.label_smoothing.real_label={real_label!r} is not allowed: it must be in (0, 1], e.g. 0.9.")
        self.real_label = float(real_label)
        self.loss: GANLoss | None = None

    def use_loss(self, loss: GANLoss) -> str | None:
        if not loss.has_real_target:  # a critic's score or a margin: there is no label to smooth
            return (
                f"+reg=[label_smoothing] lowers the target D's loss gives real samples, and the {loss.title} loss has none: "
                "its D scores samples rather than fitting them to a label. Label smoothing works with loss=nonsat, minimax, relativistic and lsgan; "
                "with this loss drop label_smoothing from +reg: its margin or penalty already keeps D from running away "
                "(+reg=[spectral_norm] tempers D further with any loss)."
            )
        self.loss = loss
        return None

    def d_extra(self, s: DStep) -> torch.Tensor:
        assert self.loss is not None, "build() hands every trick the run's loss"
        loss, target = self.loss, self.real_label
        return s.members.map(lambda r, f: loss.retarget_real(r, f, target), s.real_logits.float(), s.fake_logits.float())
