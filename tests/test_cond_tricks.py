"""Tricks on a conditional D(x, y): spectral norm reaches the label layers, R1 and WGAN-GP penalise the gradient
w.r.t. x of D(x, y) with the real batch's labels, and both train."""

from __future__ import annotations

import math
from pathlib import Path

import pytest
import torch

from gan_cli import checkpoint
from gan_cli.build import build
from gan_cli.hooks import DStep, Hooks
from gan_cli.loop import Trainer
from gan_cli.losses.wgan_gp import gradient_penalty
from gan_cli.regs.r1 import R1
from gan_cli.train import loop_options
from tests.conftest import compose_config, run_train
from tests.test_cond import METHODS, RING


class LastDStep(Hooks):
    def d_extra(self, s: DStep) -> None:
        self.step = s


def one_d_step(overrides: list[str]) -> tuple[Trainer, DStep]:
    cfg, _ = compose_config("train", ["data=ring2d", "batch_size=16", "device=cpu", *overrides])
    trainer = Trainer(build(cfg), loop_options(cfg))
    spy = LastDStep()
    trainer.hooks.append(spy)
    trainer.d_step()
    return trainer, spy.step


@pytest.mark.parametrize("method", METHODS)
def test_spectral_norm_reaches_the_conditioning_layers(method: str) -> None:
    trainer, _ = one_d_step([f"cond={method}", "+reg=[spectral_norm]"])
    D = trainer.exp.D
    layers = [m for part in D.label_layers() for m in part.modules() if isinstance(m, (torch.nn.Linear, torch.nn.Embedding))]
    assert layers
    for layer in layers:
        # The weight D uses is divided by its largest singular value (15 power iterations at the start, one a step).
        assert torch.linalg.matrix_norm(layer.weight.detach(), 2).item() == pytest.approx(1.0, abs=0.05), layer


def gradient_penalty_of(D: torch.nn.Module, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """R1's term by hand: the mean squared gradient w.r.t. x of D(x, y), halved (gamma 1)."""
    x = x.detach().requires_grad_(True)
    (grad,) = torch.autograd.grad(D(x, y).sum(), x)
    return 0.5 * grad.flatten(1).pow(2).sum(1).mean()


def test_r1_penalises_the_gradient_of_d_given_the_real_labels() -> None:
    trainer, s = one_d_step(["cond=projection", "+reg=[r1]"])
    r1 = next(h for h in trainer.hooks if isinstance(h, R1))
    term = r1.d_extra(s).item()
    assert term == pytest.approx(gradient_penalty_of(s.D, s.real, s.y_real).item(), rel=1e-5)
    assert term != pytest.approx(gradient_penalty_of(s.D, s.real, (s.y_real + 1) % 8).item(), rel=1e-3)  # y matters


def test_wgan_gp_penalises_the_interpolates_given_the_real_labels() -> None:
    _, s = one_d_step(["cond=projection", "loss=wgan_gp"])
    torch.manual_seed(1)
    penalty = gradient_penalty(s.D, s.real, s.fake)
    torch.manual_seed(1)
    eps = torch.rand(len(s.real), 1)  # the same mixing weights the penalty drew
    x = (eps * s.real + (1 - eps) * s.fake).requires_grad_(True)
    (grad,) = torch.autograd.grad(s.D(x, s.y_real).sum(), x)
    assert torch.allclose(penalty, (grad.norm(dim=1) - 1).pow(2), rtol=1e-5)


@pytest.mark.parametrize("trick", ["+reg=[r1]", "loss=wgan_gp"])
def test_a_conditional_run_with_a_gradient_penalty_trains(trick: str, tmp_path: Path) -> None:
    metrics = run_train([*RING, "cond=projection", trick, "steps=40", "eval.every=40", "eval.n=400", "eval.n_during=400"], tmp_path)
    assert metrics["status"] == "completed" and math.isfinite(metrics["eval"]["cond_accuracy"])
    state = checkpoint.load(tmp_path / "checkpoints" / "last.pt")
    assert state["step"] == 40 and all(torch.isfinite(t).all() for t in state["D"].values() if t.is_floating_point())
