"""InfoGAN's categorical code (Chen et al. 2016): z ends in a one-hot code c (latent.categories), and a head
Q on D's features learns to tell c back from G(z). G is trained to make that easy, so it gives each value of c
a look of its own (on MNIST, mostly a digit of its own) instead of one continuous map from noise to all digits,
which has to cross between digits somewhere and there draws blends of two."""

from __future__ import annotations

import torch
from torch import nn

from gan_cli.errors import UserError
from gan_cli.hooks import DStep, GStep, HeadOnD, Hooks, feature_dim
from gan_cli.models.checks import nonnegative, whole


class WithQ(HeadOnD):
    """D with InfoGAN's Q beside its logit: both read D's last hidden features, so Q costs one small MLP."""

    def __init__(self, D: nn.Module, feature_dim: int, categories: int, hidden: int) -> None:
        super().__init__(D)
        self._seen: tuple[torch.Tensor, torch.Tensor] | None = None  # the last batch D judged and its features
        self.q = nn.Sequential(
            nn.Linear(feature_dim, hidden),  # (B, hidden)
            nn.BatchNorm1d(hidden),
            nn.LeakyReLU(0.2, True),
            nn.Linear(hidden, categories),  # (B, categories): logits of c
        )

    def head(self, f: torch.Tensor) -> torch.Tensor:
        return self.D.head(f)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        f = self.features(x)
        self._seen = (x, f)
        return self.head(f)

    def code_logits(self, x: torch.Tensor) -> torch.Tensor:
        # The loop has just judged this very batch (the fake one), so its features are reused: recomputing them
        # cost a quarter of the DCGAN's step. Any other batch is computed afresh.
        f = self._seen[1] if self._seen is not None and self._seen[0] is x else self.features(x)
        # Q runs in float32 outside autocast, and under amp the reused features are in autocast's bfloat16 or float16.
        return self.q(f.flatten(1).float())


class InfoGAN(Hooks):
    def __init__(self, categories: int, weight: float = 1.0, hidden: int = 128) -> None:
        # A trick on the list is never silently off: without a code there is nothing for Q to read back.
        if not isinstance(categories, int) or isinstance(categories, bool) or categories < 2:
            raise UserError(
                f"+reg=[infogan] needs a categorical code of at least 2 values, but latent.categories={categories!r}. "
                "Give latent.categories=10 (what +reg=[infogan] sets), or leave infogan out of +reg for no code."
            )
        self.categories = categories
        self.weight = nonnegative("reg.infogan.weight", weight)  # lambda; the paper's 1 for a categorical code
        self.hidden = whole("reg.infogan.hidden", hidden, 1, 65536)

    def wrap_d(self, D: nn.Module, sample_shape: tuple[int, ...]) -> nn.Module:
        return WithQ(D, feature_dim(D, sample_shape), self.categories, self.hidden).to(next(D.parameters()).device)

    def _mutual_information_loss(self, s: DStep | GStep) -> torch.Tensor:
        # Cross-entropy of Q(c | G(z)) against the c that z carried: minus the variational bound on I(c; G(z)),
        # up to the code's fixed entropy. Both D (through Q) and G minimise it.
        code_logits = s.members.apply(s.D, lambda D, x: _q_of(D).code_logits(x), s.fake)
        return self.weight * s.members.mean(nn.functional.cross_entropy(code_logits, s.z[:, -self.categories :].argmax(1), reduction="none"))

    def d_extra(self, s: DStep) -> torch.Tensor:
        return self._mutual_information_loss(s)

    def g_extra(self, s: GStep) -> torch.Tensor:
        return self._mutual_information_loss(s)


def _q_of(D: nn.Module) -> WithQ:
    """The WithQ inside D, under any head a later trick put on top of it."""
    while not isinstance(D, WithQ):
        D = D.D
    return D
