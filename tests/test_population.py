"""population=K: K seeds trained at once, each member an ordinary run of its seed."""

from __future__ import annotations

import csv
import json
import math
import shutil
from pathlib import Path

import numpy as np
import pytest
import torch

from gan_cli import checkpoint
from gan_cli.build import build
from gan_cli.log import RunLog
from gan_cli.loop import Trainer
from gan_cli.train import loop_options
from tests.commands import assert_clean_error, gan, run_cli
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


# A population through the commands a user runs: `gan train population=3 seed=5` leaves RUN/seed=5, seed=6, seed=7,
# each a run folder that sample, eval, resume and report take as the ordinary run of its seed.
POPULATION_SEEDS = (5, 6, 7)


@pytest.fixture(scope="module")
def population_run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    run = tmp_path_factory.mktemp("population") / "run"
    status, text = run_cli(["train", f"population={len(POPULATION_SEEDS)}", f"seed={POPULATION_SEEDS[0]}", *QUICK, f"hydra.run.dir={run}"])
    assert status == 0, text
    return run


def test_a_population_leaves_one_complete_run_folder_per_seed(population_run: Path, tmp_path: Path) -> None:
    assert sorted(p.name for p in population_run.glob("seed=*")) == [f"seed={s}" for s in POPULATION_SEEDS]
    assert not (population_run / "metrics.json").exists() and not (population_run / "checkpoints").exists()  # runs are the members
    weights = {}
    for seed in POPULATION_SEEDS:
        member = population_run / f"seed={seed}"
        metrics = json.loads((member / "metrics.json").read_text())
        assert metrics["status"] == "completed" and metrics["step"] == 4 and metrics["seed"] == seed
        assert metrics["overrides"] == [*QUICK, f"seed={seed}"]  # as the ordinary run of its seed: no population=, its own seed
        acc = events(member / "tb")
        for tag in ("loss/D", "loss/G", "D/real", "D/fake", "eval/w1", "eval/ks", "eval/success", "eval/n"):
            points = acc.Scalars(tag)
            assert [p.step for p in points] == [2, 4] and all(math.isfinite(p.value) for p in points), f"seed {seed}: {tag}"
        assert acc.Scalars("final/w1")[-1].value == pytest.approx(metrics["eval"]["w1"])  # its own final evaluation
        assert "density" in acc.Tags()["images"]
        state = checkpoint.load(member / "checkpoints" / "last.pt")
        assert state["step"] == 4 and state["config"]["seed"] == seed and state["config"]["population"] == 1
        assert state["overrides"] == metrics["overrides"]
        assert (member / "checkpoints" / "step_0000002.pt").is_file()
        weights[seed] = state["G"]
    for a, b in ((5, 6), (6, 7), (5, 7)):  # K runs, not one run written K times
        assert not all(torch.equal(weights[a][k], weights[b][k]) for k in weights[a]), (a, b)
    # The folder seed=6 holds the run of seed 6: the ordinary run of seed 6 ends at the same weights, to float
    # tolerance (a batched matmul may add in another order).
    run_train([f"seed={POPULATION_SEEDS[1]}", *QUICK], tmp_path / "alone")
    alone = checkpoint.load(tmp_path / "alone" / "checkpoints" / "last.pt")
    _assert_close(weights[POPULATION_SEEDS[1]], alone["G"], "G of seed 6")


def test_a_members_checkpoint_samples_evaluates_and_resumes_as_an_ordinary_run(population_run: Path, tmp_path: Path) -> None:
    seed = POPULATION_SEEDS[1]
    member = tmp_path / "population" / f"seed={seed}"  # a copy: resuming changes the run, which the other tests read
    shutil.copytree(population_run / f"seed={seed}", member)
    trained = json.loads((member / "metrics.json").read_text())

    status, text = run_cli(["sample", f"ckpt={member}", "n=50", f"out={tmp_path / 'samples'}", "device=cpu"])
    assert status == 0, text
    values = np.loadtxt(tmp_path / "samples" / "samples.txt")
    assert values.shape == (50,) and np.isfinite(values).all()

    # The run's final evaluation drew eval.n=500 samples from noise seed S+2: gan eval on the checkpoint with that
    # noise scores the same G (to float tolerance: the population ran it batched), so the checkpoint is this member's.
    status, text = run_cli(["eval", f"ckpt={member}", "n=500", f"seed={seed + 2}", f"out={tmp_path / 'eval'}", "device=cpu"])
    assert status == 0, text
    evaluated = json.loads((tmp_path / "eval" / "eval.json").read_text())
    assert evaluated["step"] == 4
    for key in ("mean", "std", "w1"):
        assert evaluated["eval"][key] == pytest.approx(trained["eval"][key], rel=1e-4, abs=1e-6), key

    status, text = run_cli(["train", f"resume={member}", "steps=6", "device=cpu"])  # continues in the member's folder
    assert status == 0, text
    metrics = json.loads((member / "metrics.json").read_text())
    assert metrics["status"] == "completed" and metrics["step"] == 6 and metrics["seed"] == seed
    assert metrics["resumed_from"] == str(member / "checkpoints" / "last.pt")
    assert f"seed={seed}" in metrics["overrides"] and not any(o.startswith("population=") for o in metrics["overrides"])
    assert not list(member.glob("seed=*"))  # an ordinary run: no population of one inside it
    assert [p.step for p in events(member / "tb").Scalars("loss/D")] == [2, 4, 6]
    state = checkpoint.load(member / "checkpoints" / "last.pt")
    assert state["step"] == 6 and state["config"]["seed"] == seed and state["config"]["population"] == 1
