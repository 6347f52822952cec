"""Draw samples of G: the one place that turns a seed and a count into generated data."""

from __future__ import annotations

import torch
from torch import nn

from gan_cli.latent import Latent


def noise(latent: Latent, n: int, seed: int, by_code: bool = False) -> torch.Tensor:
    """(n, width) noise seeded by `seed`; `by_code`: the same rows, ordered by their categorical code (if any)."""
    z = latent.sample(n, generator=torch.Generator().manual_seed(seed))
    return z[latent.code(z).argsort(stable=True)] if by_code and latent.categories else z


@torch.no_grad()
def generate(G: nn.Module, latent: Latent, n: int, seed: int, device: torch.device, chunk: int = 4096, by_code: bool = False) -> torch.Tensor:
    """(n, *sample_shape) float32 samples on the CPU, from noise seeded by `seed`; G is left in its mode."""
    z = noise(latent, n, seed, by_code)
    was_training = G.training
    G.eval()  # batch norm uses its running statistics: a sample must not depend on its batch-mates
    try:
        return torch.cat([G(part.to(device)).float().cpu() for part in z.split(chunk)])
    finally:
        G.train(was_training)
