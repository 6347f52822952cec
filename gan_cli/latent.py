"""The latent noise z that G turns into samples."""

from __future__ import annotations

import torch

from gan_cli.errors import UserError

DISTRIBUTIONS = ("normal", "uniform")
MAX_DIM = 65536  # far beyond any GAN's z; a bound keeps a typo from asking for terabytes


class Latent:
    """z ~ N(0, I) or U(-1, 1)^dim, drawn on the device the models live on."""

    def __init__(self, dim: int = 100, dist: str = "normal") -> None:
        if not isinstance(dim, int) or isinstance(dim, bool) or not 1 <= dim <= MAX_DIM:
            raise UserError(f"latent.dim={dim!r} must be a whole number from 1 to {MAX_DIM} (e.g. latent.dim=100).")
        if dist not in DISTRIBUTIONS:
            raise UserError(f"latent.dist={dist!r} is not known; use one of: {', '.join(DISTRIBUTIONS)}.")
        self.dim = dim
        self.dist = dist

    def sample(self, n: int, device: torch.device | str = "cpu", generator: torch.Generator | None = None) -> torch.Tensor:
        """(n, dim) noise; pass `generator` for a batch that must not disturb the global RNG."""
        if self.dist == "normal":
            return torch.randn(n, self.dim, device=device, generator=generator)
        # U(-1, 1): centred like the normal prior, as in the 1-D toy of the 50-line GAN example.
        return torch.rand(n, self.dim, device=device, generator=generator) * 2 - 1
