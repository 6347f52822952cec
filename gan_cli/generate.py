"""Draw samples of G: the one place that turns a seed and a count into generated data."""

from __future__ import annotations

import torch
from torch import nn

from gan_cli.latent import Latent


def noise(latent: Latent, n: int, seed: int, by_code: bool = False, labels: torch.Tensor | None = None) -> torch.Tensor:
    """(n, width) noise seeded by `seed`; `by_code`: the same rows, ordered by their categorical code (if any);
    `labels` (n,): the code of each row set to these (a conditional G's classes) instead of the drawn ones."""
    z = latent.sample(n, generator=torch.Generator().manual_seed(seed))
    if labels is not None:
        latent.set_code(z, labels)
    return z[latent.code(z).argsort(stable=True)] if by_code and latent.categories else z


@torch.no_grad()
def generate(
    G: nn.Module,
    latent: Latent,
    n: int,
    seed: int | list[int],
    device: torch.device,
    chunk: int = 4096,
    by_code: bool = False,
    labels: torch.Tensor | None = None,
) -> torch.Tensor:
    """(n, *sample_shape) float32 samples on `device`, from noise seeded by `seed`; G is left in its mode.

    On `device` because an evaluation measures them there (MNIST's classifier runs on the run's GPU); what needs
    them on the CPU moves them. A population's G (a list of seeds, one per member) gives n samples of each member,
    one member after another."""
    seeds = seed if isinstance(seed, list) else [seed]
    z = torch.stack([noise(latent, n, s, by_code, labels) for s in seeds])  # (K, n, width)
    was_training = G.training
    G.eval()  # batch norm uses its running statistics: a sample must not depend on its batch-mates
    try:
        # Chunks of every member's rows at once: a population's G takes the members' rows one member after another.
        parts = [G(part.reshape(-1, part.shape[-1]).to(device)).float() for part in z.split(chunk, dim=1)]
        return torch.cat([p.view(len(seeds), -1, *p.shape[1:]) for p in parts], 1).flatten(0, 1)
    finally:
        G.train(was_training)
