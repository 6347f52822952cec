"""The yardstick of benchmarks/speed.py: what `gan train OVERRIDES` trains, in the bare PyTorch loop a user would write.

    python benchmarks/bare_loop.py [--rounds 300] [--warmup 50] OVERRIDES...    # prints rounds per second

The same G and D objects (gan-cli's model builders), batch, noise, Adam settings, non-saturating BCE loss, D steps
per round, learning-rate decay and, where the command has them, InfoGAN's Q and G's EMA; nothing else: no logging,
no hooks, no checks, default memory layout. Only the non-saturating loss is written out (every benchmarked row uses it).
"""

from __future__ import annotations

import argparse
import copy
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import torch
import torch.nn.functional as F
from hydra import compose, initialize_config_module
from omegaconf import DictConfig
from torch import nn

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from gan_cli import resolvers  # noqa: E402
from gan_cli.build import arch_of, build_models, make  # noqa: E402


def config(overrides: list[str]) -> DictConfig:
    resolvers.register()
    with initialize_config_module("gan_cli.conf", version_base="1.3"):
        return compose("train", overrides=overrides)


def real_batches(cfg: DictConfig, data: object, device: torch.device) -> Iterator[torch.Tensor]:
    """Shuffled epochs of the image tensor, or fresh draws of the 1-D Gaussian."""
    B = cfg.batch_size
    if not hasattr(data, "images"):
        mean, std = float(cfg.data.mean), float(cfg.data.std)
        while True:
            yield (torch.randn(B, 1) * std + mean).to(device)
    images = data.images().to(device)
    while True:
        order = torch.randperm(len(images), device=device)
        for i in range(0, len(images) - B + 1, B):
            yield images[order[i : i + B]]


def setup(cfg: DictConfig) -> tuple[Callable[[], None], torch.device]:
    """One round of training as a closure, and the device it trains on."""
    if cfg.threads is not None:
        torch.set_num_threads(cfg.threads)
    torch.manual_seed(cfg.seed)
    data, latent, device = make(cfg.data, "data"), make(cfg.latent, "latent"), make(cfg.device, "device")
    G, D = build_models(cfg.model, arch_of(data, latent))
    G, D = G.to(device), D.to(device)
    reg, k = cfg.get("reg") or {}, latent.categories
    Q = None
    if "infogan" in reg:  # InfoGAN's Q on D's features: fc, batch norm, LeakyReLU, fc to the code's logits
        width, h = D.features(torch.zeros(2, *data.sample_shape, device=device)).flatten(1).shape[1], reg.infogan.hidden
        Q = nn.Sequential(nn.Linear(width, h), nn.BatchNorm1d(h), nn.LeakyReLU(0.2, True), nn.Linear(h, k)).to(device)
    d_params = [*D.parameters(), *(Q.parameters() if Q is not None else [])]
    # Adam as a user writes it: torch's default implementation, the config's rates and betas
    opt_g = torch.optim.Adam(G.parameters(), lr=cfg.optim.g.lr, betas=tuple(cfg.optim.g.betas))
    opt_d = torch.optim.Adam(d_params, lr=cfg.optim.d.lr, betas=tuple(cfg.optim.d.betas))
    decay = [torch.optim.lr_scheduler.LinearLR(o, 1.0, 0.0, total_iters=cfg.steps) for o in (opt_g, opt_d)] if cfg.lr_decay == "linear" else []
    ema, ema_rate = (copy.deepcopy(G).requires_grad_(False), 1 - reg.ema.beta) if "ema" in reg else (None, 0.0)
    batches, B, d_steps = real_batches(cfg, data, device), cfg.batch_size, cfg.d_steps
    ones, zeros = torch.ones(B, 1, device=device), torch.zeros(B, 1, device=device)

    def one_round() -> None:
        for _ in range(d_steps):
            z = latent.sample(B, device)
            with torch.no_grad():
                fake = G(z)
            f_fake = D.features(fake)
            loss = F.binary_cross_entropy_with_logits(D(next(batches)).view(B, 1), ones)
            loss = loss + F.binary_cross_entropy_with_logits(D.head(f_fake).view(B, 1), zeros)
            if Q is not None:  # Q learns to read the code back from G's samples
                loss = loss + F.cross_entropy(Q(f_fake.flatten(1)), z[:, -k:].argmax(1))
            opt_d.zero_grad()
            loss.backward()
            opt_d.step()
        for p in d_params:  # G's step needs gradients through D, not D's own
            p.requires_grad_(False)
        z = latent.sample(B, device)
        f_fake = D.features(G(z))
        loss = F.softplus(-D.head(f_fake)).mean()
        if Q is not None:
            loss = loss + F.cross_entropy(Q(f_fake.flatten(1)), z[:, -k:].argmax(1))
        opt_g.zero_grad()
        loss.backward()
        opt_g.step()
        for p in d_params:
            p.requires_grad_(True)
        if ema is not None:
            with torch.no_grad():
                for a, p in zip(ema.parameters(), G.parameters()):
                    a.lerp_(p, ema_rate)
                for a, b in zip(ema.buffers(), G.buffers()):
                    a.copy_(b)
        for s in decay:
            s.step()

    return one_round, device


def rate(overrides: list[str], rounds: int, warmup: int) -> float:
    """Rounds per second over `rounds` rounds after `warmup` untimed ones."""
    one_round, device = setup(config(overrides))
    for _ in range(warmup):
        one_round()
    sync = torch.cuda.synchronize if device.type == "cuda" else lambda: None  # the GPU's queue is part of the time
    sync()
    start = time.perf_counter()
    for _ in range(rounds):
        one_round()
    sync()
    return rounds / (time.perf_counter() - start)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rounds", type=int, default=300)
    parser.add_argument("--warmup", type=int, default=50)
    args, overrides = parser.parse_known_args()
    print(f"{rate(overrides, args.rounds, args.warmup):.4f}")


if __name__ == "__main__":
    main()
