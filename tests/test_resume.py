"""Nothing lost: a run stopped by a signal, killed outright or failing to write goes on exactly where it was.

The reference is always the same run trained straight through: a continued run must end with
bitwise-equal weights and optimiser states (CPU), and TensorBoard must hold each step once.
"""

from __future__ import annotations

import json
import random
import signal
import subprocess
import time
from pathlib import Path

import pytest
import torch
from tensorboard.plugins.hparams.plugin_data_pb2 import HParamsPluginData

from gan_cli import checkpoint
from gan_cli.errors import UserError
from gan_cli.log import RunLog
from tests.commands import ENV, GAN, assert_clean_error, gan
from tests.conftest import run_train
from tests.tb import events

# 1-D defaults (linear lr decay, k=2) with cheap evaluations. Logging and checkpoint intervals draw
# nothing from any RNG, so runs that differ only in them must train identically.
ONE_D = ["steps=1000", "log_every=10", "sample_every=500", "eval.every=250", "eval.n_during=300", "eval.n=300", "device=cpu"]
# DCGAN on the tests' 256 small MNIST-format images: batch norm, Adam, 6 epochs of reshuffled data, and InfoGAN's Q head.
DCGAN = ["model=dcgan", "+reg=[infogan]", "steps=200", "batch_size=8", "log_every=10", "sample_every=100", "eval.every=100", "eval.n_during=100", "eval.n=100", "preview_n=16", "model.ngf=8", "model.ndf=8", "device=cpu", "threads=1"]


def dcgan(mnist_root: Path) -> list[str]:
    return [*DCGAN, f"data.root={mnist_root}", "data.download=false"]


@pytest.fixture(scope="module")
def straight_one_d(tmp_path_factory: pytest.TempPathFactory) -> dict:
    run = tmp_path_factory.mktemp("straight_one_d")
    run_train([*ONE_D, "ckpt_every=1000"], run)
    return checkpoint.load(run / "checkpoints" / "last.pt")


def assert_same_training_state(a: dict, b: dict) -> None:
    assert a["step"] == b["step"]
    for net in ("G", "D"):
        assert a[net].keys() == b[net].keys()
        for name in a[net]:
            assert torch.equal(a[net][name], b[net][name]), f"{net}.{name} differs"
    for opt in ("opt_g", "opt_d"):
        for index, state in a[opt]["state"].items():
            for key, value in state.items():
                assert torch.equal(value, b[opt]["state"][index][key]), f"{opt} {key} differs"
        assert a[opt]["param_groups"][0]["lr"] == b[opt]["param_groups"][0]["lr"]


def assert_each_step_once(run: Path, every: int, last: int) -> None:
    steps = [p.step for p in events(run / "tb").Scalars("loss/D")]
    assert steps == list(range(every, last + 1, every)), steps


def start(args: list[str]) -> subprocess.Popen[str]:
    return subprocess.Popen([GAN, "train", *args], env=ENV, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def wait_for(path: Path, process: subprocess.Popen[str], timeout: float = 120) -> None:
    deadline = time.monotonic() + timeout
    while not path.exists():
        assert process.poll() is None, f"the run ended before {path.name} appeared: {process.communicate()}"
        assert time.monotonic() < deadline, f"no {path} after {timeout} s"
        time.sleep(0.02)


@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM], ids=["ctrl-c", "sigterm"])
def test_a_signal_checkpoints_and_resume_finishes_the_same_run(signum: int, straight_one_d: dict, tmp_path: Path) -> None:
    run = tmp_path / "run"
    process = start([*ONE_D, "ckpt_every=50", f"hydra.run.dir={run}"])
    wait_for(run / "checkpoints" / "step_0000050.pt", process)
    process.send_signal(signum)
    out, err = process.communicate(timeout=120)
    assert process.returncode == 128 + signum, out + err
    assert "Traceback" not in out + err
    assert f"Continue with: gan train resume={run}" in " ".join(out.split())
    metrics = json.loads((run / "metrics.json").read_text())
    stopped = metrics["step"]
    assert metrics["status"] == "interrupted" and 50 <= stopped < 1000
    assert checkpoint.load(run / "checkpoints" / "last.pt")["step"] == stopped  # the step it stopped at, not an older one

    # Only resume=: the checkpoint brings the rest of the config.
    done = gan("train", f"resume={run}")
    assert f"continuing from step {stopped}" in " ".join(done.stdout.split())
    assert json.loads((run / "metrics.json").read_text())["status"] == "completed"
    assert_same_training_state(checkpoint.load(run / "checkpoints" / "last.pt"), straight_one_d)
    assert_each_step_once(run, 10, 1000)


def test_killed_at_random_moments_and_resumed_each_time(straight_one_d: dict, tmp_path: Path) -> None:
    run = tmp_path / "run"
    args = [*ONE_D, "ckpt_every=20", "resume=auto", f"hydra.run.dir={run}"]  # resume=auto: start afresh the first time
    last = run / "checkpoints" / "last.pt"
    rng = random.Random(0)
    steps_seen = []
    for _ in range(5):
        before = last.stat().st_mtime_ns if last.exists() else None
        process = start(args)
        while not last.exists() or last.stat().st_mtime_ns == before:  # it has trained and saved at least once
            assert process.poll() is None, process.communicate()
            time.sleep(0.01)
        time.sleep(rng.uniform(0, 0.4))  # then a moment anywhere between, or during, checkpoint writes
        process.kill()
        process.wait()
        steps_seen.append(checkpoint.load(last)["step"])  # intact and loadable after every SIGKILL
    assert steps_seen == sorted(steps_seen) and steps_seen[-1] < 1000, steps_seen
    gan("train", *args)
    assert_same_training_state(checkpoint.load(last), straight_one_d)
    assert_each_step_once(run, 10, 1000)
    assert not list((run / "checkpoints").glob(".*.tmp")), "a half-written file of a killed save was left behind"


def test_dcgan_on_mnist_resumes_exactly_across_epochs(mnist_root: Path, tmp_path: Path) -> None:
    run_train([*dcgan(mnist_root), "ckpt_every=200"], tmp_path / "straight")
    run = tmp_path / "run"
    process = start([*dcgan(mnist_root), "ckpt_every=20", f"hydra.run.dir={run}"])
    wait_for(run / "checkpoints" / "step_0000060.pt", process)
    process.send_signal(signal.SIGTERM)
    process.communicate(timeout=120)
    assert process.returncode == 143
    gan("train", f"resume={run / 'checkpoints' / 'step_0000060.pt'}")  # an earlier periodic checkpoint works too
    straight = checkpoint.load(tmp_path / "straight" / "checkpoints" / "last.pt")
    assert_same_training_state(checkpoint.load(run / "checkpoints" / "last.pt"), straight)
    assert any("running_mean" in k for k in straight["D"])  # batch-norm statistics were part of the comparison
    assert_each_step_once(run, 10, 200)


@pytest.fixture
def short_run(tmp_path: Path) -> Path:
    run = tmp_path / "short"
    run_train(["steps=20", "log_every=5", "eval.every=10", "eval.n=200", "eval.n_during=200", "device=cpu"], run)
    return run


def test_a_continued_log_keeps_its_end_when_two_event_files_share_a_second(tmp_path: Path, monkeypatch) -> None:
    """TensorBoard reads a folder's event files in the order of their names, whose counter sorts as text: made in one
    second, "...vm.7.10" comes before "...vm.7.9", and the continued run's purge would wipe its own final points."""
    from tensorboard.summary.writer import event_file_writer

    monkeypatch.setattr(event_file_writer, "_global_uid", event_file_writer.AtomicCounter(9))
    time.sleep(1 - time.time() % 1)  # the start of a second: both files are made within it
    log = RunLog(tmp_path, purge_step=21)
    for step in (25, 30):
        log.scalars(step, {"loss/D": 1.0})
    log.hparams({"seed": 0}, {"final/w1": 0.5}, step=30)
    log.close()
    acc = events(tmp_path / "tb")
    assert [p.step for p in acc.Scalars("loss/D")] == [25, 30]
    assert [p.step for p in acc.Scalars("final/w1")] == [30]
    assert "_hparams_/session_start_info" in acc.PluginTagToContent("hparams")


def test_resume_may_change_steps_and_intervals_but_not_what_the_weights_are(short_run: Path) -> None:
    for override, phrase in (
        ("model=dcgan", "the checkpoint was trained with model=mlp"),
        ("data=mnist", "the checkpoint was trained with data=gaussian"),
        ("seed=5", "seed: 0 in the checkpoint, 5 now"),
        ("latent.dim=3", "latent"),
        ("lr_decay=none", "lr_decay: linear in the checkpoint, none now"),
    ):
        with pytest.raises(UserError, match="cannot resume with") as e:
            run_train([f"resume={short_run}", override], short_run)
        assert phrase in str(e.value), str(e.value)
    # a finished run trained on: more steps, a new log interval, a lower learning rate for D
    metrics = run_train([f"resume={short_run}", "steps=40", "log_every=4", "optim.d.lr=1e-3"], short_run)
    assert metrics["status"] == "completed" and metrics["step"] == 40
    assert metrics["resumed_from"] == str(short_run / "checkpoints" / "last.pt")
    state = checkpoint.load(short_run / "checkpoints" / "last.pt")
    assert state["config"]["steps"] == 40 and state["config"]["optim"]["d"]["lr"] == 1e-3
    assert state["config"]["data"]["mean"] == 4.0  # the rest came from the checkpoint, not from the defaults
    assert "steps=40" in state["overrides"] and "steps=20" not in state["overrides"]
    acc = events(short_run / "tb")
    assert [p.step for p in acc.Scalars("loss/D")] == [5, 10, 15, 20, 24, 28, 32, 36, 40]
    # TensorBoard's HParams view shows the continued run's end, not the record of its first end at step 20
    record = HParamsPluginData.FromString(acc.PluginTagToContent("hparams")["_hparams_/session_start_info"])
    assert record.session_start_info.hparams["steps"].number_value == 40
    assert [p.step for p in acc.Scalars("final/w1")] == [40]


def test_continuing_from_an_earlier_checkpoint_sets_the_later_ones_aside(tmp_path: Path) -> None:
    run, quick = tmp_path / "run", ["eval.n=100", "eval.n_during=100", "device=cpu"]
    run_train(["steps=13", "ckpt_every=4", "keep_ckpts=5", *quick], run)
    ckpts = run / "checkpoints"
    before = {p.name: p.read_bytes() for p in ckpts.glob("step_*.pt")}
    assert sorted(before) == ["step_0000004.pt", "step_0000008.pt", "step_0000012.pt"]
    assert run_train([f"resume={ckpts / 'step_0000004.pt'}", "steps=10"], run)["step"] == 10
    # the old history's later files are kept, apart; the folder holds the new history alone
    aside = ckpts / "superseded_at_step_4"
    assert {p.name: p.read_bytes() for p in aside.iterdir()} == {k: v for k, v in before.items() if k != "step_0000004.pt"}
    assert sorted(p.name for p in ckpts.glob("step_*.pt")) == ["step_0000004.pt", "step_0000008.pt"]
    assert checkpoint.load(ckpts / "step_0000008.pt")["config"]["steps"] == 10
    assert checkpoint.load(ckpts / "last.pt")["step"] == 10
    # continuing from the newest checkpoint moves nothing; going back to step 4 again keeps both old sets
    run_train([f"resume={run}", "steps=11"], run)
    assert [p.name for p in ckpts.iterdir() if p.is_dir()] == ["superseded_at_step_4"]
    run_train([f"resume={ckpts / 'step_0000004.pt'}", "steps=5"], run)
    assert [p.name for p in (ckpts / "superseded_at_step_4_2").iterdir()] == ["step_0000008.pt"]
    assert len(list(aside.iterdir())) == 2


def test_resume_puts_new_optimiser_settings_into_the_optimisers(tmp_path: Path) -> None:
    base = ["lr_decay=none", "eval.n=100", "eval.n_during=100", "device=cpu"]
    run_train([*base, "steps=4"], tmp_path)
    run_train([*base, "resume=auto", "steps=6", "optim.d.lr=1e-3", "optim.g.betas=[0.9,0.99]"], tmp_path)
    state = checkpoint.load(tmp_path / "checkpoints" / "last.pt")
    d, g = state["opt_d"]["param_groups"][0], state["opt_g"]["param_groups"][0]
    assert d["lr"] == pytest.approx(1e-3) and tuple(g["betas"]) == (0.9, 0.99)
    assert g["lr"] == pytest.approx(state["config"]["optim"]["g"]["lr"])  # untouched: the checkpoint's rate


def test_dry_run_checks_and_builds_but_trains_nothing(tmp_path: Path) -> None:
    assert run_train(["dry_run=true", "model=dcgan", "device=cpu"], tmp_path) == {"status": "dry_run"}
    assert not (tmp_path / "checkpoints").exists() and not (tmp_path / "tb").exists()
    with pytest.raises(UserError, match="steps=0 is not allowed"):
        run_train(["dry_run=true", "steps=0", "device=cpu"], tmp_path)


def test_resume_auto_without_a_checkpoint_starts_afresh(tmp_path: Path) -> None:
    metrics = run_train(["resume=auto", "steps=4", "eval.n=100", "eval.n_during=100", "device=cpu"], tmp_path)
    assert metrics["status"] == "completed" and metrics["resumed_from"] is None


def test_a_failed_checkpoint_write_keeps_the_previous_one(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    real_save, calls = torch.save, []

    def disk_fills_up(obj: object, f: object) -> None:
        calls.append(1)
        if len(calls) > 2:  # step 2 writes last.pt and step_0000002.pt; the disk is full from step 4 on
            raise OSError(28, "No space left on device")
        real_save(obj, f)

    monkeypatch.setattr(checkpoint.torch, "save", disk_fills_up)
    with pytest.raises(UserError) as e:
        run_train(["steps=6", "ckpt_every=2", "eval.n=100", "eval.n_during=100", "device=cpu"], tmp_path)
    message = str(e.value)
    assert "could not write the step-4 checkpoint" in message and "No space left on device" in message
    assert f"resume={tmp_path}" in message
    monkeypatch.undo()
    assert checkpoint.load(tmp_path / "checkpoints" / "last.pt")["step"] == 2
    assert not list((tmp_path / "checkpoints").glob(".*.tmp"))


def test_divergence_rolls_back_and_retries_with_lower_learning_rates(mnist_root: Path, tmp_path: Path) -> None:
    mnist = ["data=mnist", "model=mlp", f"data.root={mnist_root}", "data.download=false", "batch_size=8", "eval.n=100", "eval.n_during=100"]
    overrides = [*mnist, "optim.d.lr=1e30", "optim.g.lr=1e30", "steps=20", "log_every=1", "ckpt_every=5", "device=cpu"]
    assert run_train(overrides, tmp_path / "plain")["status"] == "diverged"
    metrics = run_train([*overrides, "divergence.retries=2", "divergence.lr_factor=1e-34"], tmp_path / "retry")
    assert metrics["status"] == "completed" and metrics["step"] == 20
    [retry] = metrics["retries"]  # 1e30 x 1e-34 = 1e-4 trains fine, so one retry was enough
    assert retry["lr_d"] == pytest.approx(1e-4) and retry["back_to"] < retry["diverged_at"]
    state = checkpoint.load(tmp_path / "retry" / "checkpoints" / "last.pt")
    assert state["config"]["optim"]["d"]["lr"] == pytest.approx(1e-4)  # a later resume goes on at the lowered rate
    assert_each_step_once(tmp_path / "retry", 1, 20)


def test_a_second_retry_starts_from_the_same_untouched_start(mnist_root: Path, tmp_path: Path) -> None:
    # No checkpoint before the divergence: both retries go back to the in-memory start state, which the
    # first retry must not have overwritten (1e30 x 1e-17 = 1e13 diverges again; x 1e-17 more = 1e-4 trains).
    mnist = ["data=mnist", "model=mlp", f"data.root={mnist_root}", "data.download=false", "batch_size=8", "eval.n=100", "eval.n_during=100"]
    overrides = [*mnist, "optim.d.lr=1e30", "optim.g.lr=1e30", "steps=10", "ckpt_every=100", "device=cpu"]
    metrics = run_train([*overrides, "divergence.retries=2", "divergence.lr_factor=1e-17"], tmp_path)
    assert metrics["status"] == "completed" and metrics["step"] == 10
    assert [r["back_to"] for r in metrics["retries"]] == [0, 0]
    state = checkpoint.load(tmp_path / "checkpoints" / "last.pt")  # both factors reached the optimisers, not just the record
    for net in ("g", "d"):
        assert state[f"opt_{net}"]["param_groups"][0]["lr"] == pytest.approx(1e-4)
        assert state["config"]["optim"][net]["lr"] == pytest.approx(1e-4)


def test_a_sweep_cannot_resume_one_run(tmp_path: Path) -> None:
    done = gan("train", "-m", "seed=0,1", f"resume={tmp_path}", f"hydra.sweep.dir={tmp_path / 's'}", status=2)
    assert_clean_error(done, "continues one run, not a sweep", "resume=auto")


def test_periodic_checkpoints_are_pruned_by_step_number_not_by_name(tmp_path: Path) -> None:
    """Names are zero-padded to 7 digits, so from step 10,000,000 on they would sort before step_9999999 as text."""
    folder = checkpoint.Folder(tmp_path, keep=2)
    for step in (9_999_998, 9_999_999, 10_000_000, 10_000_001):
        folder.save({"step": step}, step)
    assert sorted(p.name for p in tmp_path.glob("step_*.pt")) == ["step_10000000.pt", "step_10000001.pt"]
    assert torch.load(tmp_path / "last.pt", weights_only=True) == {"step": 10_000_001}
