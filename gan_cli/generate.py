"""Draw samples of G: the one place that turns a seed and a count into generated data."""

from __future__ import annotations

import torch
from torch import nn

from gan_cli.latent import Latent


@torch.no_grad()
def generate(G: nn.Module, latent: Latent, n: int, seed: int, device: torch.device, chunk: int = 4096) -> torch.Tensor:
    """(n, *sample_shape) float32 samples on the CPU, from noise seeded by `seed`; G is left in its mode."""
    z = latent.sample(n, generator=torch.Generator().manual_seed(seed))
    was_training = G.training
    G.eval()  # batch norm uses its running statistics: a sample must not depend on its batch-mates
    try:
        return torch.cat([G(part.to(device)).float().cpu() for part in z.split(chunk)])
    finally:
        G.train(was_training)
