"""G's conditioning by conditional batch norm (`cond.g=cbn`; de Vries et al. 2017, the G of Miyato & Koyama 2018).

Every batch-norm layer of G standardises without a scale and shift of its own and applies a gain and a bias of the
class instead, read from two embeddings of y that start at gain 1 and bias 0, so G starts as the unconditional G
would. G's own first layer reads z alone: y reaches G only through these layers. The class still travels in z's
one-hot tail (see base), so sampling, evaluation and checkpoints treat a cbn G as any other conditional G.
"""

from __future__ import annotations

import torch
from torch import nn

from gan_cli.errors import UserError


class ClassBatchNorm(nn.Module):
    """Batch norm whose scale and shift are the class's: norm(x) * gain[y] + bias[y]."""

    def __init__(self, norm: nn.modules.batchnorm._BatchNorm, classes: int) -> None:
        super().__init__()
        c = norm.num_features
        # The same kind of layer (1-D or 2-D), its statistics kept as before, without its own affine part.
        self.norm = type(norm)(c, eps=norm.eps, momentum=norm.momentum, affine=False, track_running_stats=norm.track_running_stats)
        self.gain = nn.Embedding(classes, c)  # (B, C)
        self.bias = nn.Embedding(classes, c)  # (B, C)
        nn.init.ones_(self.gain.weight)
        nn.init.zeros_(self.bias.weight)
        # The classes of the rows now passing through: G's layers form an nn.Sequential that hands on one tensor, so
        # ClassConditionalG sets them here before each forward instead.
        self.y: torch.Tensor | None = None

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        assert self.y is not None and len(self.y) == len(x), "ClassConditionalG sets y before every forward"
        shape = (len(x), -1) + (1,) * (x.dim() - 2)  # (B, C) or (B, C, 1, 1)
        return self.norm(x) * self.gain(self.y).view(shape) + self.bias(self.y).view(shape)


class ClassConditionalG(nn.Module):
    """G(z ++ one-hot(y)) = G_own(z) with every batch norm of G_own a ClassBatchNorm of y."""

    def __init__(self, G: nn.Module, classes: int, model: str) -> None:
        super().__init__()
        self.G, self.classes = G, classes
        replaced = 0
        for module in list(G.modules()):
            for child_name, child in list(module.named_children()):
                if isinstance(child, nn.modules.batchnorm._BatchNorm):
                    setattr(module, child_name, ClassBatchNorm(child, classes))
                    replaced += 1
        if not replaced:
            raise UserError(
                f"cond.g=cbn gives G's batch-norm layers a gain and a bias per class, but this G (model={model}) has no "
                "batch norm. With model=mlp add model.g_norm=batch (the MLP's G normalises only on images by default; "
                "g_norm=layer is per-sample layer norm, not batch norm); or use cond.g=concat, which feeds the class "
                "to G's first layer instead."
            )
        self.norms = [m for m in G.modules() if isinstance(m, ClassBatchNorm)]

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        y = z[:, -self.classes :].argmax(1)  # (B,) the classes of z's one-hot tail
        for norm in self.norms:
            norm.y = y
        return self.G(z[:, : -self.classes])  # (B, *sample_shape)
