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
from gan_cli.latent import Latent
from gan_cli.log import RunLog
from gan_cli.loop import Trainer
from gan_cli.population import Stacked
from gan_cli.train import loop_options
from tests.commands import assert_clean_error, gan, run_cli
from tests.conftest import QUICK, compose_config, run_train
from tests.tb import events

SEEDS = (3, 4, 5)


def _trainer(population: int, seed: int, *extra: str) -> Trainer:
    cfg, _ = compose_config("train", [f"population={population}", f"seed={seed}", "batch_size=16", "device=cpu", *extra])
    return Trainer(build(cfg), loop_options(cfg))


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
    # compares each sample with its own batch's mean: a member's batch, not the population's. With tanh: a LeakyReLU
    # unit active on the whole batch gives its bias the same zero gradient as D's last bias (see _ZERO_GRADIENT)
    ["model.act=tanh", "loss=relativistic"],
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
# InfoGAN's continuous codes, alone or beside the categorical one: the trajectories agree only to Adam's rounding (a
# weight of Q before its batch norm whose gradient is 1e-8 of the others' takes a step of lr times the sign of that
# rounding, and how a sum rounds changed with what earlier tests of the process left in memory), so each member's
# gradient is compared.
@pytest.mark.parametrize(
    "extra",
    [["loss=relativistic"], ["loss=wgan_gp"], ["data=ring2d", "+reg=[r1,feature_matching,historical_averaging]"], ["data=ring2d", "+reg=[infogan]", "latent.continuous=2"],
     ["data=ring2d", "+reg=[infogan]", "latent.categories=0", "latent.continuous=2"]],
)
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
        # the first member_pictures members (1 by default) draw pictures; the others log numbers only
        assert ("density" in acc.Tags()["images"]) == (seed == POPULATION_SEEDS[0])
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


def test_gan_report_counts_a_populations_members_as_the_runs_of_one_setting(population_run: Path) -> None:
    from gan_cli.report import setting

    status, text = run_cli(["report", str(population_run)])
    assert status == 0, text
    with open(population_run / "report.csv") as f:
        [row] = list(csv.DictReader(f))  # one setting: the members differ by their seed only
    # the setting of ordinary runs of these options: a sweep over seeds and a population fall in the same row
    assert row["setting"] == setting({"choices": {"data": "gaussian", "model": "mlp", "loss": "nonsat"}, "overrides": [*QUICK, "seed=9"]})
    members = [json.loads((population_run / f"seed={s}" / "metrics.json").read_text()) for s in POPULATION_SEEDS]
    succeeded = sum(m["eval"]["success"] for m in members)
    assert row["runs"] == "3" and row["diverged"] == "0" and row["succeeded"] == str(succeeded)
    assert float(row["success_rate"]) == pytest.approx(succeeded / 3)  # gaussian has a success criterion: each member judged
    low, high = float(row["success_ci_low"]), float(row["success_ci_high"])
    assert 0 <= low <= succeeded / 3 <= high <= 1 and high - low > 0.3  # three runs: a wide interval
    assert float(row["w1_mean"]) == pytest.approx(sum(m["eval"]["w1"] for m in members) / 3)
    assert f"{succeeded}/3" in text


# A member that diverges is frozen while the others go on.
LIVE = (0, 2)  # the members that stay finite; member 1 is the one made to diverge
ROUNDS = ["steps=3", "ckpt_every=1", "preview_n=16", "eval.n_during=200"]


def _member_tensors(trainer: Trainer, k: int) -> list[torch.Tensor]:
    """Member k's slice of every stacked tensor of G and D (parameters and buffers), copied."""
    return [t[k].clone() for net in (trainer.exp.G, trainer.exp.D) for t in net.state_dict().values()]


def _same(a: list[torch.Tensor], b: list[torch.Tensor]) -> bool:
    return all(torch.equal(x.nan_to_num(), y.nan_to_num()) for x, y in zip(a, b, strict=True))


def _run(trainer: Trainer, tmp_path: Path) -> tuple[list, list[int], dict[int, list[torch.Tensor]]]:
    """trainer.run with a log per member; returns the results, the steps it asked to checkpoint, and each frozen
    member's tensors as they were when it was frozen."""
    logs = [RunLog(tmp_path / f"member{k}") for k in range(trainer.members.count)]
    saved: list[int] = []
    at_freeze: dict[int, list[torch.Tensor]] = {}
    freeze = trainer.freeze

    def recording_freeze(k: int) -> None:
        freeze(k)
        at_freeze[k] = _member_tensors(trainer, k)

    trainer.freeze = recording_freeze  # type: ignore[method-assign]
    try:
        results = trainer.run(logs, saved.append)
    finally:
        for log in logs:
            log.close()
    return results, saved, at_freeze


def test_a_member_whose_weights_turn_nan_is_frozen_while_the_others_finish(tmp_path: Path) -> None:
    trainer, twin = (_trainer(3, 5, *ROUNDS) for _ in range(2))  # the twin's member 1 stays finite
    for t in (trainer, twin):
        _rounds(t, 2)  # Adam's moments are under way
    start = [_member_tensors(trainer, k) for k in range(3)]
    next(trainer.exp.D.parameters()).data[1].fill_(float("nan"))  # member 1's D blows up, as a diverging run's does
    results, saved, at_freeze = _run(trainer, tmp_path / "population")
    twin_results, _, _ = _run(twin, tmp_path / "twin")

    assert results[1].status == "diverged" and results[1].diverged_at == 1 and results[1].step == 0
    assert [results[k].status for k in LIVE] == ["completed"] * 2 and all(results[k].step == 3 for k in LIVE)
    assert saved == [1, 2]  # the loop went on checkpointing (each run's RunCheckpoints skips the frozen member)
    assert list(at_freeze) == [1]
    assert _same(_member_tensors(trainer, 1), at_freeze[1])  # frozen: not one element moved after the freeze
    for opt in (trainer.exp.opt_d, trainer.exp.opt_g):
        for state in opt.state.values():
            assert all(not state[m][1].any() for m in ("exp_avg", "exp_avg_sq")), "member 1 kept Adam momentum"
    for k in LIVE:  # the others trained on, untouched by member 1's NaN: exactly as if it had never happened
        now = _member_tensors(trainer, k)
        assert all(torch.isfinite(t).all() for t in now), f"NaN reached member {k}"
        assert not _same(now, start[k]), f"member {k} did not train"
        assert all(torch.equal(a, b) for a, b in zip(now, _member_tensors(twin, k), strict=True)), f"member {k} differs from its twin"
        assert results[k].last == pytest.approx(twin_results[k].last | {"perf/steps_per_sec": results[k].last["perf/steps_per_sec"]})
    assert "loss/D" not in events(tmp_path / "population" / "member1" / "tb").Tags()["scalars"]  # a frozen member logs nothing more
    assert [p.step for p in events(tmp_path / "population" / "member0" / "tb").Scalars("loss/D")] == [3]


def test_a_frozen_member_keeps_the_weights_it_had(tmp_path: Path) -> None:
    """Member 1's losses turn infinite while its weights are still finite: from the freeze on they never move, though
    its Adam had momentum (a zero gradient alone would let Adam carry it on)."""
    trainer = _trainer(3, 5, *ROUNDS)
    _rounds(trainer, 2)
    d_step = trainer.d_step

    def d_step_with_an_infinite_loss() -> torch.Tensor:
        values = d_step()
        if trainer.step == 0:
            values[0, 1] = float("inf")  # member 1's D loss of the first round: inf, its gradient as it was
        return values

    trainer.d_step = d_step_with_an_infinite_loss  # type: ignore[method-assign]
    results, _, at_freeze = _run(trainer, tmp_path)
    assert results[1].status == "diverged" and results[1].diverged_at == 1
    assert all(torch.isfinite(t).all() for t in at_freeze[1])
    assert all(torch.equal(a, b) for a, b in zip(_member_tensors(trainer, 1), at_freeze[1], strict=True))
    for k in LIVE:
        assert results[k].status == "completed" and results[k].step == 3


def test_gan_train_records_a_diverged_member_as_diverged_and_the_others_as_completed(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    d_step = Trainer.d_step

    def d_step_blowing_up_member_1(self: Trainer) -> torch.Tensor:
        if self.step == 2:  # in round 3, after the step-2 checkpoints: member 1's D turns NaN, as a diverging run's does
            next(self.exp.D.parameters()).data[1].fill_(float("nan"))
        return d_step(self)

    monkeypatch.setattr(Trainer, "d_step", d_step_blowing_up_member_1)
    # steps=6: a periodic checkpoint (step 4) comes after the divergence, and must pass the frozen member by
    result = run_train([f"population={len(POPULATION_SEEDS)}", f"seed={POPULATION_SEEDS[0]}", "steps=6", *QUICK[1:]], tmp_path)
    assert [m["status"] for m in result["members"]] == ["completed", "diverged", "completed"]
    for k, seed in enumerate(POPULATION_SEEDS):
        member = tmp_path / f"seed={seed}"
        metrics = json.loads((member / "metrics.json").read_text())
        state = checkpoint.load(member / "checkpoints" / "last.pt")
        assert all(torch.isfinite(t).all() for part in ("G", "D") for t in state[part].values() if t.is_floating_point()), seed
        if k == 1:
            assert metrics["status"] == "diverged" and metrics["diverged_at"] == 3 and metrics["step"] == 2 and metrics["eval"] == {}
            assert state["step"] == 2  # its last good checkpoint, not overwritten by the frozen weights at the end
            assert [p.step for p in events(member / "tb").Scalars("loss/D")] == [2]
        else:
            assert metrics["status"] == "completed" and metrics["step"] == 6 and metrics["diverged_at"] is None
            assert state["step"] == 6 and "w1" in metrics["eval"]


@pytest.mark.parametrize(
    ("options", "phrases"),
    [
        (["population=2", "resume=auto"], ["resume=auto with population=2", "resume=RUN/seed=S"]),
        (["population=2", "divergence.retries=2"], ["divergence.retries=2 with population=2", "Drop divergence.retries"]),
        (["population=0"], ["population=0 is not allowed", "from 1 (an ordinary run)"]),
    ],
    ids=["resume", "retries", "zero"],
)
def test_what_a_population_cannot_do_is_refused_in_one_paragraph(options: list[str], phrases: list[str], tmp_path: Path) -> None:
    done = gan("train", *options, "steps=2", "device=cpu", f"hydra.run.dir={tmp_path / 'run'}", status=None)
    assert_clean_error(done, *phrases)
    assert len((done.stdout + done.stderr).strip().splitlines()) == 1, done.stdout + done.stderr  # one paragraph
    assert not list((tmp_path / "run").glob("seed=*")) and not list((tmp_path / "run").rglob("metrics.json"))  # nothing trained


def test_a_populations_folder_given_as_a_checkpoint_names_its_members(population_run: Path) -> None:
    status, text = run_cli(["sample", f"ckpt={population_run}", "n=5", f"out={population_run.parent / 'samples'}"])
    assert status == 2 and "Traceback" not in text
    assert "holds 3 runs (seed=5, seed=6, seed=7)" in " ".join(text.split()) and f"ckpt={population_run / 'seed=5'}" in text


def test_plain_networks_run_as_batched_products_and_the_rest_through_vmap_with_the_same_numbers() -> None:
    plain = _trainer(3, 0)  # the 1-D MLPs: Linear, LeakyReLU, flatten
    headed = _trainer(3, 0, "data=ring2d", "+reg=[minibatch_std]")  # a trick's head on D: needs vmap
    assert plain.exp.G._direct[0] is not None and plain.exp.D._direct[0] is not None
    assert headed.exp.G._direct[0] is not None and headed.exp.D._direct[0] is None
    for net, width in ((plain.exp.G, 1), (plain.exp.D, 1), (headed.exp.G, 16)):
        x = torch.randn(3 * 8, width)
        direct = net(x)
        net._direct[0] = None  # the same network through vmap
        assert torch.allclose(direct, net(x), rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize(("dist", "dim", "categories"), [("uniform", 1, 0), ("normal", 100, 0), ("normal", 4, 3)])
def test_a_populations_noise_is_each_members_own_draw(dist: str, dim: int, categories: int) -> None:
    latent = Latent(dim, dist, categories)
    each = latent.sample_each(7, [torch.Generator().manual_seed(s) for s in SEEDS])
    alone = torch.cat([latent.sample(7, generator=torch.Generator().manual_seed(s)) for s in SEEDS])
    assert torch.equal(each, alone)


def test_a_members_own_network_is_its_slice_of_the_stack_wherever_the_stack_moved() -> None:
    nets = [torch.nn.Sequential(torch.nn.Linear(2, 3), torch.nn.LeakyReLU(0.2), torch.nn.Linear(3, 1)) for _ in range(3)]
    stacked = Stacked(nets).double()  # a move the CPU can make: to float64, as .to(device) would move it
    own = stacked.member(1)
    x = torch.randn(5, 2, dtype=torch.float64)
    assert next(own.parameters()).dtype == torch.float64
    assert torch.equal(own(x), nets[1].double()(x))  # member 1's own numbers, not member 0's
