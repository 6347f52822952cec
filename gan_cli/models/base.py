"""What every D shares: one `nn.Sequential` whose last layer turns D's last hidden features into logits."""

from __future__ import annotations

from itertools import islice

import torch
from torch import nn


class SequentialDiscriminator(nn.Module):
    """D split at its last layer, the parts tricks build on (feature matching, minibatch layers)."""

    net: nn.Sequential  # set by the subclass; its last layer maps features to one logit per sample
    rank_agnostic = True  # its own code works on (K, B, ...) rows as on (B, ...): a population may run it unbatched by vmap

    def features(self, x: torch.Tensor) -> torch.Tensor:
        # Layer by layer: self.net[:-1] would build a new Sequential at every call, 20% of a 1-D D's forward.
        for layer in islice(self.net, len(self.net) - 1):
            x = layer(x)
        return x  # (B, F) or (B, C, H, W): D's last hidden layer

    def head(self, f: torch.Tensor) -> torch.Tensor:
        return self.net[-1](f).flatten()  # (B,) logits

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.features(x))
