"""Every trick composes with every loss for a few real steps; the state tricks keep survives resume."""

from __future__ import annotations

import json
from importlib.resources import files
from pathlib import Path

import pytest
import torch
import torch.nn.functional as F

from gan_cli import checkpoint
from gan_cli.errors import UserError
from gan_cli.hooks import DStep
from gan_cli.latent import Latent
from gan_cli.population import Members
from gan_cli.sample import load_generator
from tests.conftest import compose_config, run_train
from tests.tb import events

CONF = Path(str(files("gan_cli.conf")))
REGS = sorted(p.stem for p in (CONF / "reg").glob("*.yaml"))
LOSSES = sorted(p.stem for p in (CONF / "loss").glob("*.yaml"))
FEW = ["steps=4", "batch_size=16", "log_every=2", "sample_every=2", "ckpt_every=2", "eval.every=2", "eval.n=200", "eval.n_during=100", "preview_n=50", "device=cpu"]


@pytest.mark.parametrize("reg", REGS)
@pytest.mark.parametrize("loss", LOSSES)
def test_every_trick_with_every_loss(reg: str, loss: str, tmp_path: Path) -> None:
    if reg == "label_smoothing" and loss in ("hinge", "wgan_gp"):  # no target for real samples to smooth
        with pytest.raises(UserError, match="drop label_smoothing"):
            run_train(["data=ring2d", f"loss={loss}", f"+reg=[{reg}]", *FEW], tmp_path)
        return
    metrics = run_train(["data=ring2d", f"loss={loss}", f"+reg=[{reg}]", *FEW], tmp_path)
    assert metrics["status"] == "completed" and metrics["step"] == 4
    assert all(p.value == p.value for p in events(tmp_path / "tb").Scalars("loss/D"))  # finite, logged


@pytest.mark.parametrize("model", ["mlp", "dcgan"])
def test_all_tricks_at_once_on_images(model: str, mnist_root: Path, tmp_path: Path) -> None:
    mnist = ["data=mnist", f"model={model}", f"data.root={mnist_root}", "data.download=false"]
    metrics = run_train([*mnist, "loss=nonsat", f"+reg=[{','.join(REGS)}]", *FEW], tmp_path)  # a loss every trick fits
    assert metrics["status"] == "completed"
    state = checkpoint.load(tmp_path / "checkpoints" / "last.pt")
    assert "G_sample" in state  # EMA: what gan sample draws from ...
    assert any(not torch.equal(state["G_sample"][k], state["G"][k]) for k in state["G"])  # ... is not G itself
    G, _, _ = load_generator(state, torch.device("cpu"))
    assert all(torch.equal(v, state["G_sample"][k]) for k, v in G.state_dict().items())


def test_regs_are_a_list_in_the_order_given() -> None:
    cfg, _ = compose_config("train", ["+reg=[r1,ema]", "reg.r1.gamma=5"])
    assert list(cfg.reg) == ["r1", "ema"] and cfg.reg.r1.gamma == 5


def test_tricks_with_state_resume_exactly(tmp_path: Path) -> None:
    tricks = ["data=ring2d", "+reg=[ema,historical_averaging,infogan,instance_noise,minibatch_discrimination]", "lr_decay=none", "batch_size=32", "eval.n=200", "eval.n_during=100", "device=cpu"]
    run_train([*tricks, "steps=12", "ckpt_every=12"], tmp_path / "straight")
    run_train([*tricks, "steps=6", "ckpt_every=6", "reg.instance_noise.anneal=2"], tmp_path / "run")  # noise anneals over 12 steps in both
    run_train([*tricks, "resume=auto", "steps=12", "reg.instance_noise.anneal=1"], tmp_path / "run")
    a = checkpoint.load(tmp_path / "straight" / "checkpoints" / "last.pt")
    b = checkpoint.load(tmp_path / "run" / "checkpoints" / "last.pt")
    for part in ("G", "D", "G_sample"):
        assert all(torch.equal(a[part][k], b[part][k]) for k in a[part]), part
    assert json.loads((tmp_path / "run" / "metrics.json").read_text())["step"] == 12
    with pytest.raises(UserError, match="cannot resume with a different reg"):
        run_train(["data=ring2d", "+reg=[ema]", "resume=auto"], tmp_path / "run")


@pytest.mark.parametrize("penalty", ["loss=wgan_gp", "+reg=[r1]"])
def test_a_per_sample_penalty_on_a_batch_norm_critic_comes_with_advice(penalty: str, tmp_path: Path) -> None:
    from tests.commands import gan

    def start(*extra: str) -> str:
        done = gan("train", "model=dcgan", penalty, *extra, "dry_run=true", "device=cpu", f"hydra.run.dir={tmp_path / 'run'}")
        return " ".join(done.stdout.split())

    advised = start()
    assert "D has batch norm" in advised and "add model.d_norm=layer" in advised
    assert "batch norm" not in start("model.d_norm=layer")  # per-sample layer norm: nothing to say


def test_a_categorical_code_is_one_hot_uniform_and_leaves_codeless_noise_as_it_was() -> None:
    plain = Latent(dim=3).sample(5, generator=torch.Generator().manual_seed(7))
    assert torch.equal(plain, torch.randn(5, 3, generator=torch.Generator().manual_seed(7)))  # old runs repeat
    latent = Latent(dim=3, categories=4)
    z = latent.sample(4000, generator=torch.Generator().manual_seed(7))
    assert z.shape == (4000, latent.width) == (4000, 7)
    assert torch.equal(latent.sample(5, generator=torch.Generator().manual_seed(7))[:, :3], plain)  # noise first, then the code
    assert torch.equal(z[:, 3:].sum(1), torch.ones(4000)) and set(z[:, 3:].unique().tolist()) == {0.0, 1.0}
    shares = torch.bincount(latent.code(z), minlength=4) / 4000
    assert shares.min() > 0.22 and shares.max() < 0.28  # 4000 draws: sd 0.007 a share, so over 4 sd; reads 0.240-0.259


@pytest.mark.parametrize(("weight", "code_sets_the_mode"), [(1.0, True), (0.0, False)])
def test_infogan_gives_each_value_of_the_code_a_mode_of_its_own(weight: float, code_sets_the_mode: bool, tmp_path: Path) -> None:
    """Four 1-D modes, a code of four values: with InfoGAN's term, the code picks the mode; without it, it does not."""
    run_train(["data=gaussian_mixture_1d", "+reg=[infogan]", "latent.categories=4", f"reg.infogan.weight={weight}", "steps=300", "eval.n=1000", "eval.n_during=0", "device=cpu"], tmp_path)
    G, _, latent = load_generator(checkpoint.load(tmp_path / "checkpoints" / "last.pt"), torch.device("cpu"))
    assert latent.categories == 4
    z = latent.sample(4000, generator=torch.Generator().manual_seed(0))
    code, x = latent.code(z), G(z).detach().flatten()
    within = sum(x[code == k].var() * (code == k).sum() for k in range(4)) / len(x)  # spread left once the code is known
    if code_sets_the_mode:  # measured at 300 steps, seeds 0-5: 0.0013 to 0.015; without the term 0.90 or more
        assert within / x.var() < 0.1
        centres = torch.stack([x[code == k].mean() for k in range(4)]).sort().values
        assert centres.diff().min() > 3 * within.sqrt()  # four codes, four places that do not overlap (seeds 0-5: 5.8-6.4)
    else:  # measured at 300 steps, seeds 0-5: 0.90 to 0.99
        assert within / x.var() > 0.5


def test_infogans_head_reuses_the_features_of_the_batch_d_just_judged_and_only_that_one() -> None:
    from gan_cli.models.mlp import build
    from gan_cli.regs.infogan import InfoGAN

    _, D = build((2,), latent_dim=4, bounded=False, hidden=[8], dropout=0.0)
    D = InfoGAN(categories=3).wrap_d(D, (2,))
    D.eval()  # batch norm by running statistics: the same input gives the same features either way
    x, other = torch.randn(5, 2), torch.randn(5, 2)
    passes, inner = [], D.D.features
    D.D.features = lambda t: passes.append(t) or inner(t)  # counts D's passes over a batch
    D(x)
    reused = D.code_logits(x)
    assert len(passes) == 1  # Q read the features D's verdict came from
    assert torch.equal(reused, D.code_logits(x.clone()))  # a copy is not the batch judged: computed afresh, equal
    assert not torch.equal(D.code_logits(other), reused) and len(passes) == 3
    reused.sum().backward()  # the reused features carry D's graph, so Q's loss trains D's body too
    assert next(D.D.parameters()).grad is not None


def test_minibatch_std_has_a_finite_gradient_when_the_batch_collapsed() -> None:
    """All features equal (G collapsed to one point): the case the feature exists for must not read as divergence."""
    from gan_cli.models.mlp import build
    from gan_cli.regs.minibatch_std import MinibatchStd

    torch.manual_seed(0)
    _, D = build((2,), latent_dim=4, bounded=False, hidden=[8], dropout=0.0)
    D = MinibatchStd().wrap_d(D, (2,))
    D(torch.ones(6, 2)).sum().backward()  # six equal samples: the batch's standard deviation is 0
    grads = {name: p.grad for name, p in D.named_parameters()}
    assert grads["weight"] is not None and all(torch.isfinite(g).all() for g in grads.values() if g is not None), grads


@pytest.mark.parametrize("loss", ["wgan_gp", "hinge"])
def test_label_smoothing_is_refused_before_training_with_a_loss_that_has_no_real_target(loss: str, tmp_path: Path) -> None:
    with pytest.raises(UserError, match="drop label_smoothing from \\+reg") as e:
        run_train(["data=ring2d", f"loss={loss}", "+reg=[label_smoothing]", *FEW], tmp_path)
    assert "works with loss=nonsat, minimax, relativistic and lsgan" in str(e.value)
    assert not (tmp_path / "tb").exists() and not (tmp_path / "checkpoints").exists()  # nothing trained, nothing written


def test_label_smoothing_with_wgan_gp_ends_in_one_paragraph_from_the_command_line(tmp_path: Path) -> None:
    from tests.commands import assert_clean_error, gan

    done = gan("train", "loss=wgan_gp", "+reg=[label_smoothing]", "device=cpu", f"hydra.run.dir={tmp_path / 'run'}", status=None)
    assert_clean_error(done, "the WGAN-GP loss has none", "drop label_smoothing from +reg")
    assert not (tmp_path / "run" / "tb").exists()


def _d_loss_gradients(loss_name: str, real_logits: torch.Tensor, fake_logits: torch.Tensor, smoothed: bool) -> tuple[torch.Tensor, torch.Tensor]:
    from gan_cli.build import make

    cfg, _ = compose_config("train", [f"loss={loss_name}", "+reg=[label_smoothing]"])
    loss, trick = make(cfg.loss, "loss"), make(cfg.reg.label_smoothing, "reg.label_smoothing")
    assert trick.use_loss(loss) is None
    real, fake = real_logits.clone().requires_grad_(True), fake_logits.clone().requires_grad_(True)
    total = loss.d_loss(real, fake)
    if smoothed:
        total = total + trick.d_extra(DStep(torch.nn.Identity(), real, fake, real, fake, torch.zeros(len(real), 1), Members([0]))).sum()
    total.backward()
    return real.grad, fake.grad


@pytest.mark.parametrize(
    ("loss", "d_loss_with_target"),
    [
        ("nonsat", lambda r, f, t: F.binary_cross_entropy_with_logits(r, torch.full_like(r, t)) + F.binary_cross_entropy_with_logits(f, torch.zeros_like(f))),
        ("minimax", lambda r, f, t: F.binary_cross_entropy_with_logits(r, torch.full_like(r, t)) + F.binary_cross_entropy_with_logits(f, torch.zeros_like(f))),
        ("lsgan", lambda r, f, t: 0.5 * ((r - t).pow(2).mean() + f.pow(2).mean())),
        (
            "relativistic",
            lambda r, f, t: F.binary_cross_entropy_with_logits(r - f.mean(), torch.full_like(r, t))
            + F.binary_cross_entropy_with_logits(f - r.mean(), torch.zeros_like(f)),
        ),
    ],
)
def test_label_smoothing_trains_d_as_if_real_samples_had_the_smoothed_target(loss: str, d_loss_with_target) -> None:
    """The same thing for every loss it accepts: D's gradient is the one of its loss with real target 0.9 instead of 1."""
    real_logits, fake_logits = torch.tensor([2.0, -1.0, 0.3]), torch.tensor([0.5, -3.0, 1.5])
    got = _d_loss_gradients(loss, real_logits, fake_logits, smoothed=True)
    real, fake = real_logits.clone().requires_grad_(True), fake_logits.clone().requires_grad_(True)
    d_loss_with_target(real, fake, 0.9).backward()
    assert torch.allclose(got[0], real.grad, atol=1e-6) and torch.allclose(got[1], fake.grad, atol=1e-6), (got, real.grad, fake.grad)
    assert not torch.allclose(_d_loss_gradients(loss, real_logits, fake_logits, smoothed=False)[0], real.grad)  # it did change
