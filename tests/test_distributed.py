"""One run on two processes (torchrun, gloo on CPU) is the 1-process run of the same global batch, split.

Each rank takes its half of the batch and noise the 1-process run draws, and the averaged gradient is the global
batch's, so a 2-process run must follow the 1-process run up to the order of float additions (the halves' sums are
added across ranks, not within one batch). With Adam that order can still flip a step: a gradient that is rounding
noise (a bias before batch norm) is scaled to a full step either way, so such comparisons read the gradient itself.
"""

from __future__ import annotations

import json
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import torch
from omegaconf import OmegaConf

from gan_cli import checkpoint, distributed
from gan_cli.errors import UserError
from tests.commands import ENV, run_cli
from tests.conftest import compose_config, run_train
from tests.tb import events

TORCHRUN = str(Path(sys.executable).with_name("torchrun"))
# The 1-D default on a short run; every interval hit, so rank 0's pictures, evaluations and checkpoints are exercised.
ONE_D = ["steps=20", "log_every=5", "sample_every=10", "ckpt_every=10", "eval.every=10", "eval.n=200", "eval.n_during=200", "preview_n=100", "device=cpu", "threads=1"]
# Float32 sums of 256 rows taken in two halves: weights within 1e-6 after 20 rounds (measured: 1.2e-7 at most).
WEIGHTS_TOL = 1e-6


def torchrun(args: list[str], cwd: Path, nproc: int = 2, timeout: float = 300) -> subprocess.CompletedProcess[str]:
    """`torchrun -m gan_cli train ARGS` on `nproc` CPU processes; --standalone: a free port, so tests may run side by side."""
    command = [TORCHRUN, "--standalone", f"--nproc_per_node={nproc}", "-m", "gan_cli", "train", *args]
    return subprocess.run(command, cwd=cwd, env=ENV, capture_output=True, text=True, timeout=timeout)


def start_torchrun(args: list[str], cwd: Path) -> subprocess.Popen[str]:
    command = [TORCHRUN, "--standalone", "--nproc_per_node=2", "-m", "gan_cli", "train", *args]
    return subprocess.Popen(command, cwd=cwd, env=ENV, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)


def max_weight_difference(a: dict, b: dict) -> float:
    return max((a[net][k] - b[net][k]).abs().max().item() for net in ("G", "D") for k in a[net] if a[net][k].is_floating_point())


def the_run_folder(cwd: Path) -> Path:
    """The one run folder under cwd/outputs (every rank names it with rank 0's start time)."""
    (folder,) = [p.parent for p in (cwd / "outputs").glob("*/*/.hydra")]
    return folder


@pytest.mark.slow  # every torchrun test: two processes that each import torch take 20-40 s on the shared 2 cores
def test_two_processes_follow_one_process_and_write_one_ordinary_run_folder(tmp_path: Path) -> None:
    run_train(ONE_D, tmp_path / "one")
    done = torchrun(ONE_D, tmp_path)  # no hydra.run.dir: the folder each rank names must be the same one
    assert done.returncode == 0, done.stdout + done.stderr
    run = the_run_folder(tmp_path)
    one, two = (checkpoint.load(r / "checkpoints" / "last.pt") for r in (tmp_path / "one", run))
    assert max_weight_difference(one, two) < WEIGHTS_TOL
    # rank 0 logs the global batch's loss: the mean of the ranks' halves
    logged = [events(r / "tb").Scalars("loss/D")[-1].value for r in (tmp_path / "one", run)]
    assert logged[1] == pytest.approx(logged[0], rel=1e-5)
    assert json.loads((run / "metrics.json").read_text())["processes"] == 2
    assert len(list((run / "tb").glob("events.out.tfevents.*"))) == 2  # rank 0's scalars and its hparams record: no rank 1 file
    assert (run / "train.log").read_text().count("step 20: loss/D") == 1  # one process's log lines

    # The checkpoint is an ordinary run's: it samples, and it goes on as a 1-process run.
    status, out = run_cli(["sample", f"ckpt={run}", "n=50", f"out={tmp_path / 'samples'}", "device=cpu"])
    assert status == 0, out
    assert np.loadtxt(tmp_path / "samples" / "samples.txt").shape == (50,)
    metrics = run_train([f"resume={run}", "steps=25"], run)
    assert metrics["status"] == "completed" and metrics["step"] == 25 and metrics["processes"] == 1


@pytest.mark.slow
@pytest.mark.parametrize("variant", [["loss=wgan_gp"], ["+reg=[r1]"]], ids=["wgan_gp", "r1"])
def test_two_processes_follow_one_process_with_gradient_penalties(variant: list[str], tmp_path: Path) -> None:
    run_train([*ONE_D, *variant], tmp_path / "one")
    done = torchrun([*ONE_D, *variant, f"hydra.run.dir={tmp_path / 'two'}"], tmp_path)
    assert done.returncode == 0, done.stdout + done.stderr
    one, two = (checkpoint.load(tmp_path / r / "checkpoints" / "last.pt") for r in ("one", "two"))
    assert max_weight_difference(one, two) < WEIGHTS_TOL


def first_gradients(state: dict) -> list[torch.Tensor]:
    """Each parameter's gradient of the first update: Adam's first moment after one step is (1 - beta1) times it."""
    return [s["exp_avg"] for opt in ("opt_g", "opt_d") for s in state[opt]["state"].values()]


@pytest.mark.slow
def test_synchronised_batch_norm_takes_the_global_batch_statistics(tmp_path: Path) -> None:
    # d_steps=1: one update of each network, so Adam's first moments are the first gradients (the 1-D default's k = 2
    # would mix in D's second gradient, taken after an update at D's rate, which moves the rounding).
    bn = [*ONE_D, "steps=1", "d_steps=1", "model.g_norm=batch"]
    run_train(bn, tmp_path / "one")
    one = first_gradients(checkpoint.load(tmp_path / "one" / "checkpoints" / "last.pt"))
    for sync in ("true", "false"):
        done = torchrun([*bn, f"sync_bn={sync}", f"hydra.run.dir={tmp_path / sync}"], tmp_path)
        assert done.returncode == 0, done.stdout + done.stderr
        state = checkpoint.load(tmp_path / sync / "checkpoints" / "last.pt")
        # Float32 sums of 256 rows in two halves: each gradient within 1e-6 of its largest entry (measured: 2e-7),
        # plus 1e-7 for a bias before batch norm, whose gradient is rounding noise of that size.
        worst = max(((a - b).abs().max() / (1e-6 * a.abs().max() + 1e-7)).item() for a, b in zip(one, first_gradients(state), strict=True))
        if sync == "true":
            assert worst < 1, worst
            assert any("running_mean" in k for k in state["G"])
        else:  # each rank's half has statistics of its own: a different gradient (the test sees the difference)
            assert worst > 10, worst


@pytest.mark.slow
def test_a_stopped_two_process_run_resumes_exactly(tmp_path: Path) -> None:
    # dropout: each rank draws its own masks, so the resumed ranks must get back each one's own random stream
    args = ["steps=400", "log_every=10", "sample_every=400", "eval.every=400", "eval.n=200", "eval.n_during=200", "device=cpu", "threads=1", "model.dropout=0.2"]
    straight = torchrun([*args, "ckpt_every=400", f"hydra.run.dir={tmp_path / 'straight'}"], tmp_path)
    assert straight.returncode == 0, straight.stdout + straight.stderr
    run = tmp_path / "run"
    process = start_torchrun([*args, "ckpt_every=20", f"hydra.run.dir={run}"], tmp_path)
    while not (run / "checkpoints" / "step_0000040.pt").exists():
        assert process.poll() is None, process.communicate()
        time.sleep(0.05)
    process.send_signal(signal.SIGINT)  # torchrun passes it to every rank: they agree on the round to stop after
    out, _ = process.communicate(timeout=120)
    metrics = json.loads((run / "metrics.json").read_text())
    assert metrics["status"] == "interrupted" and metrics["signal"] == signal.SIGINT and 40 <= metrics["step"] < 400, out
    assert "torchrun --nproc_per_node=2 -m gan_cli train resume=" in " ".join(out.split())
    assert checkpoint.load(run / "checkpoints" / "last.pt")["step"] == metrics["step"]

    resumed = torchrun([f"resume={run}"], tmp_path)
    assert resumed.returncode == 0, resumed.stdout + resumed.stderr
    a, b = (checkpoint.load(r / "checkpoints" / "last.pt") for r in (run, tmp_path / "straight"))
    assert a["step"] == b["step"] == 400
    assert max_weight_difference(a, b) == 0.0  # the same processes add the same halves in the same order: bitwise
    steps = [p.step for p in events(run / "tb").Scalars("loss/D")]
    assert steps == list(range(10, 401, 10)), steps


@pytest.mark.slow
def test_a_divergence_ends_every_rank_in_the_same_round(mnist_root: Path, tmp_path: Path) -> None:
    run = tmp_path / "run"
    args = ["data=mnist", "model=mlp", "optim.d.lr=1e30", "optim.g.lr=1e30", f"data.root={mnist_root}", "data.download=false"]
    done = torchrun([*args, "steps=50", "batch_size=8", "eval.n=0", "eval.n_during=0", "device=cpu", "threads=1", f"hydra.run.dir={run}"], tmp_path)
    out = done.stdout + done.stderr
    # Both ranks stop in the same round and exit as a diverged run does; torchrun stops a rank still tearing down when
    # the other has exited (-15), which on a loaded machine can happen, so no rank may end any other way.
    codes = re.findall(r"exitcode\s*:\s*(-?\d+)", out)
    assert "3" in codes and set(codes) <= {"3", "-15"}, out
    assert json.loads((run / "metrics.json").read_text())["status"] == "diverged"
    assert "divergence.retries=3" not in out  # not offered where it is refused


def test_what_cannot_run_on_several_processes_is_refused_before_any_work() -> None:
    cfg, _ = compose_config("train", ["device=cpu"])
    two = distributed.Ranks(0, 2)
    distributed.check(cfg, two)  # the defaults run as they are
    for override, phrase in (
        ({"population": 4}, "population=4 under torchrun"),
        ({"batch_size": 255}, "batch_size=255 does not split into 2 equal shares"),
        ({"divergence": {"retries": 2}}, "divergence.retries=2 under torchrun"),
    ):
        with pytest.raises(UserError, match=phrase):
            distributed.check(OmegaConf.merge(cfg, override), two)


def test_a_rank_takes_its_own_rows_of_every_batch() -> None:
    batch = torch.arange(12).view(6, 2)
    x, y = distributed.Ranks(1, 3).share((batch, torch.arange(6)))
    assert torch.equal(x, batch[2:4]) and torch.equal(y, torch.tensor([2, 3]))
    assert distributed.Ranks().share(batch) is batch
