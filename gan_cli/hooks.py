"""The loop's plug points. Losses and stabilisation tricks implement the hooks they need, and the
loop calls every hook of every one of them in order, so a new trick never adds a branch to the loop.

Once: use_loss (tricks only), wrap_d, then attach. Each round: on_round -> d_steps x (D step, after_d_step) -> g_steps x (G step, after_g_step).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import torch
from torch import nn

if TYPE_CHECKING:
    from gan_cli.data.base import Data
    from gan_cli.latent import Latent
    from gan_cli.losses.base import GANLoss
    from gan_cli.population import Members


@dataclass
class DStep:
    """What a D update sees. `real` and `fake` are what D was shown (after d_input); fake is detached."""

    D: nn.Module
    real: torch.Tensor
    fake: torch.Tensor
    real_logits: torch.Tensor
    fake_logits: torch.Tensor
    z: torch.Tensor  # the noise `fake` was made from
    members: Members  # the runs trained at once: a term is one value per member (members.mean, .map, .total)
    y_real: torch.Tensor | None = None  # (B,) the real batch's classes under a conditional GAN (cond=...), else None
    y_fake: torch.Tensor | None = None  # (B,) the classes `fake` was asked for (z's one-hot tail), else None


@dataclass
class GStep:
    """What a G update sees. `fake` carries G's graph; `real` is the round's last real batch."""

    D: nn.Module
    G: nn.Module
    real: torch.Tensor
    fake: torch.Tensor
    fake_logits: torch.Tensor
    z: torch.Tensor  # the noise `fake` was made from
    members: Members
    y_real: torch.Tensor | None = None  # as in DStep
    y_fake: torch.Tensor | None = None


class Hooks:
    """Every hook does nothing by default; a trick overrides the ones it needs."""

    def use_loss(self, loss: GANLoss) -> str | None:
        """Called once when the run is built, with its loss: returns why this trick cannot work with that loss
        (one paragraph that says what to do instead), or None. A trick whose term depends on the loss keeps it here."""
        return None

    def attach(self, G: nn.Module, D: nn.Module) -> None:
        """Called once the models are built (and D wrapped), before training: keep copies, averages."""

    def wrap_d(self, D: nn.Module, sample_shape: tuple[int, ...]) -> nn.Module:
        """Change D before its optimiser is made (spectral norm, a minibatch layer)."""
        return D

    def on_round(self, step: int, steps: int) -> None:
        """Called before each round, with the number of rounds done so far and the total."""

    def d_input(self, x: torch.Tensor) -> torch.Tensor:
        """What D is shown of a real or fake batch (e.g. with instance noise)."""
        return x

    def d_extra(self, s: DStep) -> torch.Tensor | None:
        """A term added to D's loss (a gradient penalty, label smoothing, ...): one value per member, shape (K,).
        The step's tensors hold every member's rows one member after another; s.members reduces them per member."""
        return None

    def g_extra(self, s: GStep) -> torch.Tensor | None:
        """A term added to G's loss (feature matching, ...), one value per member as in d_extra."""
        return None

    def after_d_step(self, D: nn.Module) -> None:
        """Called after each optimiser step of D."""

    def after_g_step(self, G: nn.Module) -> None:
        """Called after each optimiser step of G (EMA, running averages)."""

    def advice(self, D: nn.Module) -> str | None:
        """A line shown before training when this hook and the models do not suit each other."""
        return None

    def sampler(self) -> nn.Module | None:
        """A generator to draw samples from instead of G (the EMA of G), or None."""
        return None

    def eval_metrics(self, data: Data, latent: Latent, z: torch.Tensor, fake: torch.Tensor, D: nn.Module) -> dict[str, Any]:
        """Numbers of what the trick promises (InfoGAN: codes read back), added to an evaluation of the samples
        fake = G(z); D is the run's D (one member's, in eval mode). None by default."""
        return {}

    def state_dict(self) -> dict[str, Any]:
        """What the hook keeps across steps, for exact resume."""
        return {}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        pass


class HeadOnD(nn.Module):
    """Base of tricks that add a term to D's logit: D's own features, then `head` (which may call D.head)."""

    def __init__(self, D: nn.Module) -> None:
        super().__init__()
        self.D = D

    def features(self, x: torch.Tensor) -> torch.Tensor:
        return self.D.features(x)

    def head(self, f: torch.Tensor) -> torch.Tensor:
        raise NotImplementedError

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.features(x))


class JudgedFeatures:
    """D's features of the last `size` batches it judged, by the batch tensor itself: a second head on D's features
    (InfoGAN's Q, AC-GAN's classifier) reads the batch the loop has just judged without running D's body again, as
    one forward pass with two heads does; any other batch is computed afresh."""

    def __init__(self, size: int) -> None:
        self.size = size
        self.seen: list[tuple[torch.Tensor, torch.Tensor]] = []

    def remember(self, x: torch.Tensor, f: torch.Tensor) -> torch.Tensor:
        self.seen = [(x, f), *self.seen[: self.size - 1]]
        return f

    def of(self, x: torch.Tensor, compute: Callable[[torch.Tensor], torch.Tensor]) -> torch.Tensor:
        f = next((f for seen, f in self.seen if seen is x), None)
        return compute(x) if f is None else f


def features(D: nn.Module, x: torch.Tensor) -> torch.Tensor:
    """D's last hidden features of `x`, flattened to (B, F): what feature matching and minibatch layers use."""
    return D.features(x).flatten(1)  # a population's D (population.Stacked) gives each member's own


def feature_dim(D: nn.Module, sample_shape: tuple[int, ...]) -> int:
    """F of `features`: the width a head on D's features (a minibatch layer, InfoGAN's Q) is built for."""
    was_training = D.training
    D.eval()  # a probe must not move batch-norm statistics
    with torch.no_grad():
        dim = D.features(torch.zeros(2, *sample_shape, device=next(D.parameters()).device)).flatten(1).shape[1]
    D.train(was_training)
    return dim


def batch_norm_advice(D: nn.Module, what: str) -> str | None:
    """Advice for a per-sample gradient penalty on a D whose batch norm mixes the samples of a batch."""
    while isinstance(D, HeadOnD):  # the model's own layers: heads the tricks add (InfoGAN's Q) have their own norms
        D = D.D
    if any(isinstance(m, nn.modules.batchnorm._BatchNorm) for m in D.modules()):
        return (
            f"note: {what} penalises each sample's gradient, but D has batch norm, which mixes the samples of a batch, "
            "so the penalty is only approximate; with model=dcgan add model.d_norm=layer (per-sample layer norm, as in WGAN-GP)."
        )
    return None


def reports_metrics(hooks: list[Hooks]) -> bool:
    """Whether any of the hooks adds numbers to an evaluation (so D is worth preparing for it)."""
    return any(type(h).eval_metrics is not Hooks.eval_metrics for h in hooks)


@torch.no_grad()
def hook_metrics(hooks: list[Hooks], data: Data, latent: Latent, z: torch.Tensor, fake: torch.Tensor, D: nn.Module) -> dict[str, Any]:
    """Every hook's eval_metrics of fake = G(z), with D in eval mode (batch norm by its running statistics, as G is)."""
    was_training = D.training
    D.eval()
    try:
        return {k: v for h in hooks for k, v in h.eval_metrics(data, latent, z.to(fake.device), fake, D).items()}
    finally:
        D.train(was_training)
