"""population=K: K seeds trained at once, each member an ordinary run of its seed."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch

from gan_cli import checkpoint
from gan_cli.build import build
from gan_cli.log import RunLog
from gan_cli.loop import Trainer
from gan_cli.train import loop_options
from tests.commands import assert_clean_error, gan
from tests.conftest import QUICK, compose_config, run_train
from tests.tb import events

SEEDS = (3, 4, 5)


def _trainer(population: int, seed: int, *extra: str) -> Trainer:
    cfg, _ = compose_config("train", [f"population={population}", f"seed={seed}", "batch_size=16", "device=cpu", *extra])
    return Trainer(build(cfg), loop_options(cfg), seed=seed)


def _rounds(trainer: Trainer, n: int) -> None:
    for _ in range(n):
        for _ in range(trainer.opts.d_steps):
            trainer.d_step()
        trainer.g_step()


# Every loss, and every trick whose randomness comes only from the member's own seed (init, data order, noise z):
# instance noise, dropout and WGAN-GP's mixing weights draw from the process's RNG, which members share.
CASES = [
    ["loss=nonsat"],
    ["loss=minimax"],
    ["loss=relativistic"],  # compares each sample with its own batch's mean: a member's batch, not the population's
    ["loss=hinge"],
    ["loss=lsgan"],
    ["data=ring2d", "+reg=[r1,ema,historical_averaging]"],
    ["data=ring2d", "+reg=[feature_matching,label_smoothing]"],
    ["data=ring2d", "+reg=[minibatch_std,spectral_norm]"],  # a per-batch statistic, a power iteration per member
    ["data=ring2d", "+reg=[minibatch_discrimination,infogan]"],  # InfoGAN's Q has batch norm: running statistics per member
]


# Parameters whose gradient is zero by construction: Adam turns the rounding noise of that zero into steps of size lr,
# and a batched matmul rounds differently, so these alone would wander apart; both runs keep them frozen. D's last bias
# under the relativistic loss (adding a constant to every logit changes no loss); the bias before batch norm in InfoGAN's Q.
_ZERO_GRADIENT = {"loss=relativistic": "net.5.bias", "+reg=[minibatch_discrimination,infogan]": "q.0.bias"}


def _frozen_where_no_gradient(trainer: Trainer, extra: list[str]) -> Trainer:
    if extra[-1] in _ZERO_GRADIENT:
        params = {name.removeprefix("stack."): p for name, p in trainer.exp.D.named_parameters()}  # a population's D: Stacked
        params[_ZERO_GRADIENT[extra[-1]]].requires_grad_(False)
    return trainer


@pytest.mark.parametrize("extra", CASES, ids=[" ".join(c) for c in CASES])
def test_each_member_trains_exactly_as_the_ordinary_run_of_its_seed(extra: list[str]) -> None:
    """Same init, data order, noise and gradient: after a few rounds member k's whole state is that of the ordinary run
    of seed k, to float tolerance (a batched matmul may add in another order)."""
    population = _frozen_where_no_gradient(_trainer(len(SEEDS), SEEDS[0], *extra), extra)
    _rounds(population, 4)
    for k, seed in enumerate(SEEDS):
        alone = _frozen_where_no_gradient(_trainer(1, seed, *extra), extra)
        _rounds(alone, 4)
        mine, theirs = population.state_dict(k), alone.state_dict()
        for part in ("G", "D", "hooks", "G_sample"):
            _assert_close(mine.get(part), theirs.get(part), f"{part} of seed {seed}")
        for part in ("opt_g", "opt_d"):
            _assert_close(mine[part]["state"], theirs[part]["state"], f"{part} of seed {seed}")
        assert torch.equal(mine["rng"]["torch"], theirs["rng"]["torch"])  # the member's noise stream is where its run's is
        assert mine["data_stream"]["rng"].equal(theirs["data_stream"]["rng"])


def _assert_close(a: object, b: object, where: str) -> None:
    if isinstance(a, torch.Tensor):
        assert isinstance(b, torch.Tensor) and a.shape == b.shape, where
        assert torch.allclose(a.float(), b.float(), rtol=1e-4, atol=1e-5), f"{where}: off by {(a.float() - b.float()).abs().max()}"
    elif isinstance(a, dict):
        assert isinstance(b, dict) and a.keys() == b.keys(), where
        for key in a:
            _assert_close(a[key], b[key], f"{where}.{key}")
    elif isinstance(a, (list, tuple)):
        assert isinstance(b, (list, tuple)) and len(a) == len(b), where
        for i, (x, y) in enumerate(zip(a, b)):
            _assert_close(x, y, f"{where}[{i}]")
    else:
        assert a == b, where


def _grads_of_one_d_step(trainer: Trainer) -> list[torch.Tensor]:
    """D's gradient in the trainer's next D step (the step is then taken as usual)."""
    grads: list[torch.Tensor] = []
    opt, step = trainer.exp.opt_d, trainer.exp.opt_d.step

    def record(*args: object, **kwargs: object) -> object:
        grads.extend(p.grad.clone() for p in trainer.exp.D.parameters())
        return step(*args, **kwargs)

    opt.step = record  # type: ignore[method-assign]
    trainer.d_step()
    opt.step = step  # type: ignore[method-assign]
    return grads


# WGAN-GP's penalty draws its mixing weights from the process's RNG (a population draws them for every member at once),
# so it has no place in the trajectories above; here the batch and noise are given.
@pytest.mark.parametrize("extra", [["loss=relativistic"], ["loss=wgan_gp"], ["data=ring2d", "+reg=[r1,feature_matching,historical_averaging]"]])
def test_each_members_gradient_is_that_of_its_network_alone_on_the_same_batch_and_noise(extra: list[str], monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(torch, "rand", lambda *size, **kwargs: torch.full(size, 0.3))  # WGAN-GP's mixing weights
    population = _trainer(len(SEEDS), SEEDS[0], *extra)
    drawn, draw = [], population.members.latent
    population.members.latent = lambda *a: drawn.append(draw(*a)) or drawn[-1]  # type: ignore[method-assign]
    stacked = _grads_of_one_d_step(population)
    real, z = population.last_real.chunk(len(SEEDS)), drawn[0].chunk(len(SEEDS))
    for k, seed in enumerate(SEEDS):
        alone = _trainer(1, seed, *extra)
        alone.batches = [iter([real[k]])]  # type: ignore[list-item]
        alone.members.latent = lambda *a, z=z[k]: z  # type: ignore[method-assign]
        own = _grads_of_one_d_step(alone)
        assert len(own) == len(stacked)
        for mine, theirs in zip(stacked, own):
            assert torch.allclose(mine[k], theirs, rtol=1e-4, atol=1e-6), f"seed {seed}: off by {(mine[k] - theirs).abs().max()}"
