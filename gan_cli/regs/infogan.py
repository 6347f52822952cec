"""InfoGAN's categorical code (Chen et al. 2016): z ends in a one-hot code c (latent.categories), and a head
Q on D's features learns to tell c back from G(z). G is trained to make that easy, so it gives each value of c
a look of its own (on MNIST, mostly a digit of its own) instead of one continuous map from noise to all digits,
which has to cross between digits somewhere and there draws blends of two.

Continuous codes (latent.continuous=K, each U(-1, 1)) are read back by a second head of Q that gives a Gaussian
for each: its mean and log standard deviation. Their term is the Gaussian's negative log-likelihood of the code
G was given (the paper's factored Gaussian Q(c | x)), with its own weight: the paper's "smaller lambda" for
continuous codes, whose differential entropy is on another scale than a categorical code's. With
continuous_std set, Q's standard deviation is that number instead of learnt, as in the authors' code (std 1):
a learnt one shrinks to Q's error, and its 1/sigma^2 then multiplies the continuous codes' pull on G."""

from __future__ import annotations

import math

import torch
from torch import nn

from gan_cli.data.base import Data
from gan_cli.errors import UserError
from gan_cli.hooks import DStep, GStep, HeadOnD, Hooks, JudgedFeatures, feature_dim
from gan_cli.latent import MAX_CONTINUOUS, Latent
from gan_cli.metrics.codes import correlations, matching_error
from gan_cli.models.checks import nonnegative, whole

# Q's standard deviations are kept within [0.1, 2]: below 0.1 (a tenth of a code's range) a sharper Q reads a
# code no better, while its 1/sigma^2 multiplies G's gradient; above 2 the Gaussian says nothing about U(-1, 1).
LOG_STD_RANGE = (-2.303, 0.693)


class WithQ(HeadOnD):
    """D with InfoGAN's Q beside its logit: both read D's last hidden features, so Q costs one small MLP."""

    def __init__(self, D: nn.Module, feature_dim: int, categories: int, hidden: int, continuous: int = 0) -> None:
        super().__init__(D)
        self.judged = JudgedFeatures(1)  # the fake batch the loop has just judged
        self.categories, self.continuous = categories, continuous
        body = [
            nn.Linear(feature_dim, hidden),  # (B, hidden)
            nn.BatchNorm1d(hidden),
            nn.LeakyReLU(0.2, True),
        ]
        # One Sequential, named q as it always was, so checkpoints from before continuous codes still load.
        self.q = nn.Sequential(*body, *([nn.Linear(hidden, categories)] if categories else []))  # (B, categories): logits of c
        if continuous:  # built after q, so a run without continuous codes draws its initial weights as before
            self.q_continuous = nn.Linear(hidden, 2 * continuous)  # (B, 2K): each code's mean, then each one's log std

    def head(self, f: torch.Tensor) -> torch.Tensor:
        return self.D.head(f)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.judged.remember(x, self.features(x)))

    def read(self, x: torch.Tensor) -> torch.Tensor:
        """(B, categories + 2K): the categorical code's logits, then each continuous code's mean and log std."""
        # The loop has just judged this very batch (the fake one), so its features are reused: recomputing them
        # cost a quarter of the DCGAN's step. Any other batch is computed afresh.
        f = self.judged.of(x, self.features)
        # Q runs in float32 outside autocast, and under amp the reused features are in autocast's bfloat16 or float16.
        f = f.flatten(1).float()
        if not self.continuous:
            return self.q(f)
        h = self.q[:3](f)  # (B, hidden)
        heads = [self.q[3](h)] if self.categories else []
        return torch.cat([*heads, self.q_continuous(h)], 1)

    def code_logits(self, x: torch.Tensor) -> torch.Tensor:
        """(B, categories) Q's logits of the categorical code."""
        return self.read(x)[:, : self.categories]


class InfoGAN(Hooks):
    def __init__(
        self,
        categories: int,
        weight: float = 1.0,
        hidden: int = 128,
        continuous: int = 0,
        continuous_weight: float = 0.1,
        noise_dim: int | None = None,
        continuous_std: float | None = None,
    ) -> None:
        # A trick on the list is never silently off: without a code there is nothing for Q to read back.
        bad_type = not isinstance(categories, int) or isinstance(categories, bool)
        if bad_type or categories < 0 or categories == 1 or (categories == 0 and not continuous):
            raise UserError(
                f"+reg=[infogan] needs a categorical code of at least 2 values or continuous codes, but latent.categories={categories!r} "
                f"and latent.continuous={continuous!r}. Give latent.categories=10 (what +reg=[infogan] sets) and/or latent.continuous=2, "
                "or leave infogan out of +reg for no code."
            )
        self.categories = categories
        self.continuous = whole("latent.continuous", continuous, 0, MAX_CONTINUOUS)
        if continuous and noise_dim is None:
            raise UserError("reg.infogan.noise_dim is unset: it says where the continuous codes start in z; give reg.infogan.noise_dim=${latent.dim}.")
        self.noise_dim = noise_dim
        self.weight = nonnegative("reg.infogan.weight", weight)  # lambda; the paper's 1 for a categorical code
        self.continuous_weight = nonnegative("reg.infogan.continuous_weight", continuous_weight)
        self.continuous_std = None if continuous_std is None else _fixed_std(continuous_std)
        self.hidden = whole("reg.infogan.hidden", hidden, 1, 65536)

    def wrap_d(self, D: nn.Module, sample_shape: tuple[int, ...]) -> nn.Module:
        return WithQ(D, feature_dim(D, sample_shape), self.categories, self.hidden, self.continuous).to(next(D.parameters()).device)

    def _codes(self, z: torch.Tensor) -> torch.Tensor:
        """(B, K) the continuous codes z carries (after the noise, before any one-hot)."""
        assert self.noise_dim is not None
        return z[:, self.noise_dim : self.noise_dim + self.continuous]

    def _mutual_information_loss(self, s: DStep | GStep) -> torch.Tensor:
        # Minus the variational bound on I(c; G(z)), up to the codes' fixed entropy: the cross-entropy of Q(c | G(z))
        # against the categorical c that z carried, and the Gaussian negative log-likelihood of the continuous ones
        # (up to a constant). Both D (through Q) and G minimise it.
        read = s.members.apply(s.D, lambda D, x: _q_of(D).read(x), s.fake)  # (B, categories + 2K)
        c = self.categories
        loss = self.weight * s.members.mean(nn.functional.cross_entropy(read[:, :c], s.z[:, -c:].argmax(1), reduction="none")) if c else 0.0
        if self.continuous:
            mean, log_std = read[:, c : c + self.continuous], read[:, c + self.continuous :].clamp(*LOG_STD_RANGE)
            if self.continuous_std is not None:  # Q's log-std head is left unused, so checkpoints keep one layout
                log_std = torch.full_like(mean, math.log(self.continuous_std))
            nll = (0.5 * ((self._codes(s.z) - mean) * torch.exp(-log_std)).square() + log_std).sum(1)  # (B,)
            loss = loss + self.continuous_weight * s.members.mean(nll)
        assert isinstance(loss, torch.Tensor)
        return loss

    def d_extra(self, s: DStep) -> torch.Tensor:
        return self._mutual_information_loss(s)

    def g_extra(self, s: GStep) -> torch.Tensor:
        return self._mutual_information_loss(s)

    @torch.no_grad()
    def eval_metrics(self, data: Data, latent: Latent, z: torch.Tensor, fake: torch.Tensor, D: nn.Module) -> dict[str, float]:
        """code_match_error: the categorical code's best one-to-one matching error against the data's classes;
        code_correlation_cK: Pearson's r between continuous code K given to G and the mean Q reads back."""
        metrics: dict[str, float] = {}
        if self.categories and data.classes:
            metrics["code_match_error"] = matching_error(latent.code(z), data.classify(fake), self.categories, data.classes)
        if self.continuous:
            q = _q_of(D)
            means = torch.cat([q.read(part)[:, self.categories : self.categories + self.continuous] for part in fake.split(1000)])
            for k, r in enumerate(correlations(self._codes(z).cpu(), means.cpu()), 1):
                metrics[f"code_correlation_c{k}"] = r
        return metrics


def _fixed_std(value: float) -> float:
    std = nonnegative("reg.infogan.continuous_std", value)
    if std == 0:
        raise UserError("reg.infogan.continuous_std=0 is not allowed: give a standard deviation > 0 (the authors' code: 1), or null for one Q learns.")
    return std


def _q_of(D: nn.Module) -> WithQ:
    """The WithQ inside D, under any head a later trick put on top of it."""
    while not isinstance(D, WithQ):
        D = D.D
    return D
