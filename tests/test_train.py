"""A few real training steps for every data x model x loss that should work, read back from the run folder."""

from __future__ import annotations

import json
import math
from importlib.resources import files
from pathlib import Path

import pytest
import torch

from gan_cli import checkpoint
from tests.conftest import QUICK, run_train
from tests.tb import events

LOSSES = sorted(p.stem for p in (Path(str(files("gan_cli.conf"))) / "loss").glob("*.yaml"))  # every loss, new ones too
COMBOS = [(d, m, l) for d, m in (("gaussian", "mlp"), ("mnist", "mlp"), ("mnist", "dcgan")) for l in LOSSES]


def overrides(data: str, model: str, loss: str, mnist_root: Path) -> list[str]:
    extra = [f"data.root={mnist_root}", "data.download=false"] if data == "mnist" else []
    return [f"data={data}", f"model={model}", f"loss={loss}", *QUICK, *extra]


@pytest.mark.parametrize(("data", "model", "loss"), COMBOS, ids=["-".join(c) for c in COMBOS])
def test_a_few_steps_leave_a_complete_run_folder(data: str, model: str, loss: str, mnist_root: Path, tmp_path: Path) -> None:
    metrics = run_train(overrides(data, model, loss, mnist_root), tmp_path)
    assert metrics["status"] == "completed" and metrics["step"] == 4
    assert json.loads((tmp_path / "metrics.json").read_text()) == json.loads(json.dumps(metrics))

    acc = events(tmp_path / "tb")
    tags = acc.Tags()
    for tag in ("loss/D", "loss/G", "D/real", "D/fake", "perf/steps_per_sec"):
        points = acc.Scalars(tag)
        assert [p.step for p in points] == [2, 4], tag
        assert all(math.isfinite(p.value) for p in points), tag
    if loss in ("nonsat", "minimax", "relativistic"):  # probabilities; the other losses log D's raw outputs
        for tag in ("D/real", "D/fake"):
            assert all(0 <= p.value <= 1 for p in acc.Scalars(tag))
    assert ("raw" in metrics["d_meaning"]) == (loss not in ("nonsat", "minimax", "relativistic")), metrics["d_meaning"]  # the record says which
    if data == "mnist":
        ev = metrics["eval"]
        assert {"fd", "kid", "classifier_score", "precision", "recall", "modes_covered", "success", "collapsed"} <= set(ev)
        assert ev["n_fake"] == 500 and ev["reference"] == "MNIST test (64)" and len(ev["extractor_sha256"]) == 64
        assert 1 <= ev["classifier_score"] <= 10 and sum(ev["class_histogram"]) == 500
        assert ev["floor"]["classifier_score"] > 9.5 and ev["floor"]["fd"] < 1  # the real-data floor rides along
        assert [p.step for p in acc.Scalars("eval/fd")] == [2, 4]
        assert "samples" in tags["images"]
        image = acc.Images("samples")[-1]
        assert image.step == 4 and image.width > 28 * 4  # a grid of the 16 preview samples
    else:
        assert "density" in tags["images"]  # the p_data / p_g / D(x) figure
        assert "G/samples" in tags["histograms"]
        assert {"G/mean", "G/std"} <= set(tags["scalars"])
        for tag in ("eval/w1", "eval/ks", "eval/success"):
            assert [p.step for p in acc.Scalars(tag)] == [2, 4], tag  # every eval.every steps and at the last one
        ev = metrics["eval"]
        assert ev["n"] == 500 and ev["target_mean"] == 4.0 and isinstance(ev["success"], bool)
        assert acc.Scalars("final/w1")[-1].value == pytest.approx(ev["w1"])  # the final evaluation, at eval.n
    hparams = acc.PluginTagToContent("hparams")
    assert hparams, "no hparams record"

    ckpt = tmp_path / "checkpoints"
    assert (ckpt / "last.pt").is_file() and (ckpt / "step_0000002.pt").is_file()
    assert not list(ckpt.glob(".*tmp")), "a temporary checkpoint file was left behind"


def test_checkpoint_describes_itself(tmp_path: Path) -> None:
    run_train(["steps=6", *QUICK[1:], "keep_ckpts=1"], tmp_path)
    state = checkpoint.load(tmp_path / "checkpoints" / "last.pt")
    assert state["format"] == checkpoint.FORMAT and state["step"] == 6
    for key in ("G", "D", "opt_g", "opt_d", "scaler_g", "scaler_d", "rng", "data_stream", "config", "choices", "overrides", "arch", "gan_cli_version", "torch_version"):
        assert key in state, key
    assert state["config"]["steps"] == 6 and state["config"]["data"]["mean"] == 4.0
    assert state["arch"] == {"sample_shape": [1], "latent_dim": state["config"]["latent"]["dim"], "bounded": False}
    assert isinstance(state["rng"]["torch"], torch.Tensor)
    # keep_ckpts=1: only the newest periodic file besides last.pt
    assert sorted(p.name for p in (tmp_path / "checkpoints").iterdir()) == ["last.pt", "step_0000004.pt"]
    # the file is plain data: the safe loader reads it
    torch.load(tmp_path / "checkpoints" / "last.pt", weights_only=True)


def final_weights(run_dir: Path) -> dict[str, torch.Tensor]:
    return checkpoint.load(run_dir / "checkpoints" / "last.pt")["G"]


def test_same_seed_same_run_on_cpu(tmp_path: Path) -> None:
    run_train(["seed=7", *QUICK], tmp_path / "a")
    run_train(["seed=7", *QUICK], tmp_path / "b")
    run_train(["seed=8", *QUICK], tmp_path / "c")
    a, b, c = (final_weights(tmp_path / x) for x in "abc")
    assert all(torch.equal(a[k], b[k]) for k in a)
    assert not all(torch.equal(a[k], c[k]) for k in a)


def test_k_discriminator_steps_per_generator_step(tmp_path: Path) -> None:
    run_train(["d_steps=3", "g_steps=2", *QUICK], tmp_path)
    state = checkpoint.load(tmp_path / "checkpoints" / "last.pt")
    # Adam counts its own updates: 4 rounds x 3 D updates, 4 rounds x 2 G updates.
    assert int(next(iter(state["opt_d"]["state"].values()))["step"]) == 12
    assert int(next(iter(state["opt_g"]["state"].values()))["step"]) == 8


DIVERGE = ["data=mnist", "model=mlp", "optim.d.lr=1e30", "optim.g.lr=1e30"]  # ReLU nets overflow to inf at once


def test_diverging_run_is_recorded_and_keeps_its_last_good_checkpoint(mnist_root: Path, tmp_path: Path) -> None:
    metrics = run_train([*DIVERGE, f"data.root={mnist_root}", "steps=50", *QUICK[1:]], tmp_path)
    assert metrics["status"] == "diverged"
    assert 1 <= metrics["diverged_at"] <= 50 and metrics["step"] == metrics["diverged_at"] - 1
    assert json.loads((tmp_path / "metrics.json").read_text())["status"] == "diverged"
    last = tmp_path / "checkpoints" / "last.pt"
    if last.exists():  # any checkpoint that was written holds finite weights
        state = checkpoint.load(last)
        assert all(torch.isfinite(t).all() for t in state["G"].values() if t.is_floating_point())


@pytest.mark.gpu
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
@pytest.mark.parametrize("amp", ["fp16", "bf16"])
@pytest.mark.parametrize("model", ["mlp", "dcgan"])
def test_mixed_precision_on_cuda(model: str, amp: str, mnist_root: Path, tmp_path: Path) -> None:
    quick = [o for o in QUICK if not o.startswith("device=")]
    tricks = "+reg=[feature_matching,infogan,r1,spectral_norm,ema]"  # the tricks whose paths meet autocast's outputs
    metrics = run_train([f"model={model}", "data=mnist", f"data.root={mnist_root}", "data.download=false", "device=cuda", f"amp={amp}", tricks, *quick], tmp_path)
    assert metrics["status"] == "completed"
    state = checkpoint.load(tmp_path / "checkpoints" / "last.pt")
    # the gradient scalers' state travels with the checkpoint; bfloat16 needs no scaling
    assert bool(state["scaler_g"]) == bool(state["scaler_d"]) == (amp == "fp16")


def test_every_point_of_an_eval_curve_has_the_same_sample_size(tmp_path: Path) -> None:
    """eval/* holds eval.n_during samples at every point, the last included; eval.n is for the final/* numbers only."""
    quick = ["steps=5", "batch_size=8", "log_every=5", "sample_every=5", "eval.every=2", "eval.n_during=200", "device=cpu"]
    curves = {}
    for n in (200, 500):  # eval.n must change nothing on the curve
        metrics = run_train([*quick, f"eval.n={n}"], tmp_path / str(n))
        acc = events(tmp_path / str(n) / "tb")
        curves[n] = {tag: [(p.step, p.value) for p in acc.Scalars(tag)] for tag in acc.Tags()["scalars"] if tag.startswith("eval/")}
        assert curves[n]["eval/n"] == [(2, 200), (4, 200), (5, 200)]
        assert metrics["eval"]["n"] == n and acc.Scalars("final/w1")[-1].value == pytest.approx(metrics["eval"]["w1"])
    assert curves[200] == curves[500]
    assert metrics["eval"]["w1"] != curves[500]["eval/w1"][-1][1]  # the final 500 samples are not the curve's 200


def _trainer(loss: str, *extra: str):  # noqa: ANN202
    from gan_cli.build import build
    from gan_cli.loop import Trainer
    from gan_cli.train import loop_options
    from tests.conftest import compose_config

    cfg, _ = compose_config("train", [f"loss={loss}", "model.dropout=0", "batch_size=16", "device=cpu", *extra])
    torch.manual_seed(0)
    return Trainer(build(cfg), loop_options(cfg))


@pytest.mark.parametrize(
    ("loss", "shown"),
    [
        ("nonsat", lambda logits, others: torch.sigmoid(logits)),
        ("minimax", lambda logits, others: torch.sigmoid(logits)),
        ("relativistic", lambda logits, others: torch.sigmoid(logits - others.mean())),  # more real than the other batch's average
        ("wgan_gp", lambda logits, others: logits),
        ("hinge", lambda logits, others: logits),
        ("lsgan", lambda logits, others: logits),
    ],
)
def test_d_real_and_d_fake_are_what_each_loss_makes_of_ds_outputs(loss: str, shown) -> None:  # noqa: ANN001
    import copy

    trainer = _trainer(loss)
    D = copy.deepcopy(trainer.exp.D)  # D as the step judged the batches, before its update
    torch.manual_seed(1)
    _, d_real, d_fake = trainer.d_step()[:, 0].tolist()  # (3, K): the one member of an ordinary run
    torch.manual_seed(1)  # the same noise, so the same fake batch
    z = trainer.exp.latent.sample(len(trainer.last_real), trainer.exp.device)
    with torch.no_grad():
        real_logits, fake_logits = D(trainer.last_real).float(), D(trainer.exp.G(z)).float()
    assert d_real == pytest.approx(shown(real_logits, fake_logits).mean().item(), rel=1e-5, abs=1e-6)
    assert d_fake == pytest.approx(shown(fake_logits, real_logits).mean().item(), rel=1e-5, abs=1e-6)


def test_wgan_gp_logs_the_critics_raw_scores(tmp_path: Path) -> None:
    """Without the penalty, D's loss is mean D(fake) - mean D(real): the logged D/* must add up to it exactly."""
    run_train(["loss=wgan_gp", "loss.gp_weight=0", "steps=6", "log_every=1", "eval.n_during=0", "eval.n=100", "device=cpu"], tmp_path)
    acc = events(tmp_path / "tb")
    real, fake, loss_d = ([p.value for p in acc.Scalars(tag)] for tag in ("D/real", "D/fake", "loss/D"))
    assert len(loss_d) == 6
    for r, f, l in zip(real, fake, loss_d):
        assert f - r == pytest.approx(l, rel=1e-4, abs=1e-6)


def test_the_density_figure_draws_what_d_real_shows(tmp_path: Path) -> None:
    """wgan_gp: the 1-D figure's D(x) is the raw critic score, on an axis that fits it, not a sigmoid squeezed into [0, 1]."""
    from gan_cli.log import RunLog
    from gan_cli.plots import density_figure

    trainer = _trainer("wgan_gp")
    drawn = []
    trainer.exp.data.log_samples = lambda writer, step, fake, d_curve, labels=None: drawn.append(d_curve)
    log = RunLog(tmp_path)
    trainer.log_samples([log])
    log.close()
    xs = torch.linspace(-4.0, 12.0, 50)[:, None]
    trainer.exp.D.eval()
    with torch.no_grad():
        assert torch.allclose(drawn[0](xs), trainer.exp.D(xs).float())
    x = xs.flatten().numpy()
    fig = density_figure(x, x * 0, x, d=x / 4, title="")  # D(x) from -1 to 3
    low, high = fig.axes[1].ylim
    assert low <= -1 and high >= 3  # a critic's score has no fixed scale: the axis fits it


def test_a_frozen_d_parameter_stays_frozen_and_unchanged_through_training_rounds() -> None:
    trainer = _trainer("nonsat")
    frozen, trained = list(trainer.exp.D.parameters())[:2]
    frozen.requires_grad_(False)  # e.g. a trick or a user fine-tuning only D's head
    before, trained_before = frozen.detach().clone(), trained.detach().clone()
    for _ in range(3):
        trainer.d_step()
        trainer.g_step()
    assert not frozen.requires_grad and torch.equal(frozen, before)
    assert trained.requires_grad and not torch.equal(trained, trained_before)  # the rest of D trained


def test_the_shown_rate_leaves_out_evaluations_pictures_and_checkpoints(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """On the loop's clock every evaluation, picture and checkpoint takes 100 s (nothing sleeps): an interval that held
    one would read at most 2 steps / 100 s = 0.02 it/s, while two real training steps of this toy take milliseconds.
    The margin is wide: only training steps slower than a second each (or the 100 s counted) read below 1 it/s."""
    import contextlib
    import io
    import re
    import time
    import types

    from gan_cli import loop, saving
    from gan_cli.train import train
    from tests.conftest import compose_config

    slow = [0.0]  # seconds the fake slow work has added to the loop's clock
    monkeypatch.setattr(loop, "time", types.SimpleNamespace(perf_counter=lambda: time.perf_counter() + slow[0]))

    def taking_100_s(method):  # noqa: ANN001, ANN202
        def slowed(*args, **kwargs):  # noqa: ANN002, ANN003, ANN202
            slow[0] += 100.0
            return method(*args, **kwargs)

        return slowed

    for owner, name in ((loop.Trainer, "evaluate"), (loop.Trainer, "log_samples"), (saving.RunCheckpoints, "save")):
        monkeypatch.setattr(owner, name, taking_100_s(getattr(owner, name)))
    quick = ["steps=6", "batch_size=8", "log_every=2", "sample_every=2", "ckpt_every=2", "eval.every=2", "eval.n=200", "eval.n_during=200", "preview_n=16", "device=cpu"]
    cfg, choices = compose_config("train", quick)
    out = io.StringIO()  # not a terminal: the plain progress lines
    with contextlib.redirect_stdout(out):
        train(cfg, tmp_path, choices=choices, overrides=quick)

    printed = [float(r) for r in re.findall(r"^step \d+/6 .* (\d+) it/s", out.getvalue(), re.MULTILINE)]
    logged = [p.value for p in events(tmp_path / "tb").Scalars("perf/steps_per_sec")]
    assert slow[0] >= 600  # the slow work did run in the intervals (2, 4] and (4, 6]
    assert len(printed) == len(logged) == 3, out.getvalue()
    assert min(printed) > 1 and min(logged) > 1, (printed, logged)


IMPORTS_OF_A_RUN = """
import json, sys
from gan_cli.cli import main
main(sys.argv[1:])
print(json.dumps(sorted(sys.modules)))
"""


def test_the_default_run_imports_only_what_it_uses(tmp_path: Path) -> None:
    """`gan train` on the 1-D default, evaluation and picture included, loads no module that only other paths use:
    scipy (the 1-D metrics compute with torch.special), torchvision and the image metrics (MNIST only), torch._dynamo
    (torch's optimisers import it; gan_cli.optim.Adam does not: 2 s) and matplotlib (figures are drawn with Pillow).
    Each would add to every run's start-up; a fresh process, since this one has imported everything."""
    import subprocess
    import sys

    from tests.commands import ENV

    args = ["train", "steps=1", f"hydra.run.dir={tmp_path}"]
    done = subprocess.run([sys.executable, "-c", IMPORTS_OF_A_RUN, *args], env=ENV, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    modules = json.loads(done.stdout.strip().splitlines()[-1])
    assert json.loads((tmp_path / "metrics.json").read_text())["eval"]["n"] == 10000  # it did evaluate
    unwanted = ("scipy", "torchvision", "gan_cli.metrics.images", "gan_cli.eval.classifier", "torch._dynamo", "matplotlib")
    assert [m for m in modules if m.split(".")[0] in unwanted or m.startswith(unwanted[2:])] == []
