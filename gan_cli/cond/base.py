"""The conditioning interface, and `cond=none` (the unconditional GAN), which changes nothing.

How labels travel, for every method:
- G: a fake sample's class rides in z as a one-hot tail (latent.categories = the data's classes), so a Linear
  first layer adds a learned embedding of y to z's: Mirza & Osindero's concatenation, and AC-GAN's G (cond.g=concat);
  or G reads z alone and its batch norms take the class from the tail (cond.g=cbn, gan_cli.cond.cbn).
- fake labels are drawn uniformly over the classes with z (Latent.sample); uniform, not the data's label
  frequencies, because every labelled data set here is balanced and a uniform draw needs no pass over the data.
- real labels come with the real batch (Data.labelled_batches), and D is called as D(x, y).
- D's features never see y (only the head does), so feature matching, minibatch layers and InfoGAN's Q are
  unchanged; a trick that calls D on its own batch (R1 on real data, WGAN-GP's interpolates) gets the labels of
  the round's real batch, and any other batch without labels gets D's verdict averaged over the classes.
"""

from __future__ import annotations

from typing import Any

import torch
from torch import nn

from gan_cli.cond.cbn import ClassConditionalG
from gan_cli.data.base import BatchStream, Data
from gan_cli.errors import UserError
from gan_cli.hooks import Hooks, feature_dim
from gan_cli.latent import Latent
from gan_cli.regs.spectral_norm import normalise_like


class Unconditional(Hooks):
    """cond=none: no labels anywhere; every run is the unconditional GAN it always was."""

    conditional = False  # a population trains only unconditional runs (population.check)
    classes = 0

    def bind(self, data: Data, latent: Latent) -> None:
        """Fit the method to the data and z before the models are built (checks and latent.categories)."""

    def hooks(self) -> list[Hooks]:
        """The hooks the loop calls for this method: none for the unconditional GAN, so its runs stay as they were."""
        return []

    def g_width(self, width: int) -> int:
        """The width of z that G's own first layer reads, of z's `width` (noise and one-hot tail)."""
        return width

    def wrap_g(self, G: nn.Module, model: str) -> nn.Module:
        """G as the method needs it (conditional batch norm), before it is trained or loaded; `model` names it in messages."""
        return G

    def batches(self, data: Data, batch_size: int, generator: torch.Generator, device: torch.device) -> BatchStream:
        return data.batches(batch_size, generator, device)

    def split(self, batch: Any) -> tuple[torch.Tensor, torch.Tensor | None]:
        """A real batch as (x, y); y None without labels."""
        return batch, None

    def labels(self, z: torch.Tensor) -> torch.Tensor | None:
        """(B,) the classes the noise rows ask for, or None."""
        return None

    def eval_labels(self, n: int) -> torch.Tensor | None:
        """(n,) the class-balanced labels behind each evaluation, or None."""
        return None

    def evaluate(self, data: Data, fake: torch.Tensor, y: torch.Tensor | None) -> dict[str, Any]:
        """Metrics of the conditioning itself (conditional accuracy, per-class measures), added to the data's."""
        return {}


def balanced(n: int, classes: int) -> torch.Tensor:
    """(n,) labels 0, 0, ..., 1, 1, ...: each class in turn, as equal a share as n allows (a grid's rows)."""
    return torch.arange(n) * classes // n


class LabelledD(nn.Module):
    """D(x, y) = D's own logit of x plus the method's label term on D's features (see `label_logit`)."""

    def __init__(self, D: nn.Module, classes: int) -> None:
        super().__init__()
        self.D, self.classes = D, classes
        self.real_y: torch.Tensor | None = None  # the round's real labels, for tricks that call D(x) themselves

    def features(self, x: torch.Tensor) -> torch.Tensor:
        return self.D.features(x)

    def head(self, f: torch.Tensor) -> torch.Tensor:  # without labels: what tricks that rebuild D's head call
        return self.D.head(f)

    def label_layers(self) -> list[nn.Module]:
        """The layers this wrapper adds to D (all but D itself)."""
        return [m for name, m in self.named_children() if name != "D"]

    def label_logit(self, f: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        """(B,) what the label adds to D's logit, from the flattened features f (B, F)."""
        return torch.zeros(len(f), device=f.device)

    def forward(self, x: torch.Tensor, y: torch.Tensor | None = None) -> torch.Tensor:
        f = self.D.features(x)
        logit = self.D.head(f)  # (B,)
        flat = f.flatten(1)
        if y is None and self.real_y is not None and len(self.real_y) == len(x):
            y = self.real_y
        if y is None:  # a batch without labels (a picture's curve of D): D's verdict averaged over the classes
            each = [self.label_logit(flat, torch.full((len(x),), c, device=x.device)) for c in range(self.classes)]
            return logit + torch.stack(each).mean(0)
        return logit + self.label_logit(flat, y)


G_SIDES = ("concat", "cbn")


class Conditional(Unconditional):
    """What every conditional method shares; a method only says how D takes the label (`wrap`). How G takes it is
    the option `g`, the same for every D-side method: concat (the one-hot tail enters G's first layer with z) or cbn
    (G reads z alone and each of its batch-norm layers has a gain and bias per class: gan_cli.cond.cbn)."""

    conditional = True

    def __init__(self, g: str = "concat") -> None:
        if g not in G_SIDES:
            raise UserError(f"cond.g={g!r} is not one of {', '.join(G_SIDES)}: concat feeds the class to G's first layer with z, cbn to G's batch norms.")
        self.g = g

    def bind(self, data: Data, latent: Latent) -> None:
        name = type(self).__name__.lower()
        if not data.classes:
            raise UserError(
                f"cond={name} needs labelled data, but this data set has no classes. Labelled data sets: data=mnist "
                "(10 digits), data=ring2d and data=grid2d (one class per mode), data=gaussian_mixture_1d (one per "
                "mode); data=gaussian has none. Choose one of those, or cond=none for an unconditional GAN."
            )
        if latent.categories:
            raise UserError(
                f"cond={name} puts the class in z's one-hot tail, where latent.categories={latent.categories} "
                "(InfoGAN's code, +reg=[infogan]) already is. Drop +reg=[infogan] and latent.categories, or use cond=none."
            )
        self.classes = latent.categories = data.classes

    def hooks(self) -> list[Hooks]:
        return [self]

    def g_width(self, width: int) -> int:
        return width - self.classes if self.g == "cbn" else width

    def wrap_g(self, G: nn.Module, model: str) -> nn.Module:
        return ClassConditionalG(G, self.classes, model) if self.g == "cbn" else G

    def wrap(self, D: nn.Module, feature_dim: int) -> LabelledD:
        raise NotImplementedError

    def wrap_d(self, D: nn.Module, sample_shape: tuple[int, ...]) -> nn.Module:
        # Last of the hooks' wraps (build puts the conditioning after the tricks), so D(x, y) is the outermost call.
        self.D = self.wrap(D, feature_dim(D, sample_shape)).to(next(D.parameters()).device)
        for layers in self.D.label_layers():  # spectral norm (+reg=[spectral_norm]) ran before this wrap: it reaches them here
            normalise_like(D, layers)
        return self.D

    def batches(self, data: Data, batch_size: int, generator: torch.Generator, device: torch.device) -> BatchStream:
        return data.labelled_batches(batch_size, generator, device)

    def split(self, batch: Any) -> tuple[torch.Tensor, torch.Tensor | None]:
        x, y = batch
        self.D.real_y = y
        return x, y

    def labels(self, z: torch.Tensor) -> torch.Tensor | None:
        return z[:, -self.classes :].argmax(1)

    def eval_labels(self, n: int) -> torch.Tensor | None:
        return balanced(n, self.classes)

    def evaluate(self, data: Data, fake: torch.Tensor, y: torch.Tensor | None) -> dict[str, Any]:
        assert y is not None
        return data.conditional_metrics(fake, y)
