"""The latent noise z that G turns into samples."""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn

from gan_cli.errors import UserError

DISTRIBUTIONS = ("normal", "uniform")
MAX_DIM = 65536  # far beyond any GAN's z; a bound keeps a typo from asking for terabytes
MAX_CONTINUOUS = 64  # InfoGAN uses 2 to 5; a G given more learns nothing from each, and Q's head grows with them


class Latent:
    """z ~ N(0, I) or U(-1, 1)^dim, drawn on the device the models live on, optionally followed by `continuous`
    codes drawn from U(-1, 1) and a categorical code: one of `categories` values drawn uniformly, as a one-hot
    block (InfoGAN's c). z is laid out as noise, continuous codes, one-hot, so z always ends in the one-hot."""

    def __init__(self, dim: int = 100, dist: str = "normal", categories: int = 0, continuous: int = 0) -> None:
        if not isinstance(dim, int) or isinstance(dim, bool) or not 1 <= dim <= MAX_DIM:
            raise UserError(f"latent.dim={dim!r} must be a whole number from 1 to {MAX_DIM} (e.g. latent.dim=100).")
        if dist not in DISTRIBUTIONS:
            raise UserError(f"latent.dist={dist!r} is not known; use one of: {', '.join(DISTRIBUTIONS)}.")
        if not isinstance(categories, int) or isinstance(categories, bool) or not 0 <= categories <= MAX_DIM:
            raise UserError(f"latent.categories={categories!r} must be a whole number from 0 (no code) to {MAX_DIM} (e.g. latent.categories=10).")
        if not isinstance(continuous, int) or isinstance(continuous, bool) or not 0 <= continuous <= MAX_CONTINUOUS:
            raise UserError(f"latent.continuous={continuous!r} must be a whole number from 0 (no codes) to {MAX_CONTINUOUS} (e.g. latent.continuous=2).")
        self.dim = dim
        self.dist = dist
        self.categories = categories
        self.continuous = continuous

    @property
    def width(self) -> int:
        """What G takes: the noise, the continuous codes, then the one-hot code."""
        return self.dim + self.continuous + self.categories

    def code(self, z: torch.Tensor) -> torch.Tensor:
        """(n,) the categorical code each row of z carries."""
        return z[:, self.dim + self.continuous :].argmax(1)

    def set_code(self, z: torch.Tensor, code: torch.Tensor) -> None:
        """Make each row of z carry the categorical code (n,) given (a conditional G's class), in place."""
        z[:, self.dim + self.continuous :] = nn.functional.one_hot(code, self.categories).to(z.dtype)

    def continuous_codes(self, z: torch.Tensor) -> torch.Tensor:
        """(n, continuous) the continuous codes each row of z carries: a view, so writing to it changes z."""
        return z[:, self.dim : self.dim + self.continuous]

    def sample(self, n: int, device: torch.device | str = "cpu", generator: torch.Generator | None = None) -> torch.Tensor:
        """(n, width) noise; pass `generator` for a batch that must not disturb the global RNG."""
        if self.dist == "normal":
            z = torch.randn(n, self.dim, device=device, generator=generator)
        else:  # U(-1, 1): centred like the normal prior, as in the 1-D toy of the 50-line GAN example.
            z = torch.rand(n, self.dim, device=device, generator=generator) * 2 - 1
        if not self.categories and not self.continuous:  # no code: the same draws as before codes existed, so old runs repeat exactly
            return z
        parts = [z]
        if self.categories:  # drawn before the continuous codes, so a run without them draws as it always did
            c = torch.randint(self.categories, (n,), device=device, generator=generator)
            parts.append(nn.functional.one_hot(c, self.categories).to(z.dtype))
        if self.continuous:  # U(-1, 1), as InfoGAN's paper draws them; placed between the noise and the one-hot
            parts.insert(1, torch.rand(n, self.continuous, device=device, generator=generator) * 2 - 1)
        return torch.cat(parts, 1)

    def sample_each(self, n: int, generators: Sequence[torch.Generator], device: torch.device | str = "cpu") -> torch.Tensor:
        """(len(generators) * n, width): for each generator in turn the n rows sample(n, generator=g) draws, written
        into one tensor (a population's noise: one call per member, not the four of sample and a concatenation)."""
        if self.categories or self.continuous:  # a code draws more than once per generator: the plain way
            return torch.cat([self.sample(n, generator=g) for g in generators]).to(device)
        z = torch.empty(len(generators), n, self.dim)
        draw = torch.randn if self.dist == "normal" else torch.rand
        for g, rows in zip(generators, z):
            draw(n, self.dim, generator=g, out=rows)
        if self.dist != "normal":
            z = z * 2 - 1  # the same arithmetic as sample's, element by element
        return z.view(-1, self.dim).to(device)
