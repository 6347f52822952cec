"""The losses against hand-computed values, their gradients, and the optimal discriminator."""

from __future__ import annotations

import math

import pytest
import torch

from gan_cli.losses.base import GANLoss
from gan_cli.losses.minimax import Minimax
from gan_cli.losses.nonsat import NonSaturating

LOSSES = [Minimax(), NonSaturating()]


def normal_pdf(x: torch.Tensor, mean: float, std: float) -> torch.Tensor:
    return torch.exp(-0.5 * ((x - mean) / std) ** 2) / (std * math.sqrt(2 * math.pi))


def sigmoid(x: float) -> float:
    return 1 / (1 + math.exp(-x))


@pytest.mark.parametrize("loss", LOSSES, ids=lambda l: type(l).__name__)
def test_d_loss_is_bce_real_one_fake_zero(loss: GANLoss) -> None:
    real, fake = torch.tensor([2.0, -1.0]), torch.tensor([0.5, -3.0])
    expected = -(sum(math.log(sigmoid(r)) for r in (2.0, -1.0)) / 2) - (sum(math.log(1 - sigmoid(f)) for f in (0.5, -3.0)) / 2)
    assert loss.d_loss(real, fake).item() == pytest.approx(expected, rel=1e-6)
    assert loss.d_loss(torch.zeros(3), torch.zeros(3)).item() == pytest.approx(2 * math.log(2))  # -V at D = 1/2


def test_g_losses_hand_computed() -> None:
    logits = torch.tensor([2.0, -1.0, 0.0])
    minimax = sum(math.log(1 - sigmoid(l)) for l in (2.0, -1.0, 0.0)) / 3
    nonsat = -sum(math.log(sigmoid(l)) for l in (2.0, -1.0, 0.0)) / 3
    assert Minimax().g_loss(logits).item() == pytest.approx(minimax, rel=1e-6)
    assert NonSaturating().g_loss(logits).item() == pytest.approx(nonsat, rel=1e-6)


@pytest.mark.parametrize("loss", LOSSES, ids=lambda l: type(l).__name__)
def test_finite_values_and_gradients_at_extreme_logits(loss: GANLoss) -> None:
    logits = torch.tensor([-1e4, -50.0, 0.0, 50.0, 1e4], requires_grad=True)
    total = loss.d_loss(logits, logits) + loss.g_loss(logits)
    total.backward()
    assert torch.isfinite(total) and torch.isfinite(logits.grad).all()


@pytest.mark.parametrize("loss", LOSSES, ids=lambda l: type(l).__name__)
def test_gradient_signs(loss: GANLoss) -> None:
    real = torch.zeros(4, requires_grad=True)
    fake = torch.zeros(4, requires_grad=True)
    loss.d_loss(real, fake).backward()
    assert (real.grad < 0).all()  # descending the D loss raises D(x) ...
    assert (fake.grad > 0).all()  # ... and lowers D(G(z))
    fake_for_g = torch.zeros(4, requires_grad=True)
    loss.g_loss(fake_for_g).backward()
    assert (fake_for_g.grad < 0).all()  # G wants D to call its samples real


def test_minimax_saturates_where_nonsat_does_not() -> None:
    """Early in training D rejects fakes confidently (logit -10): the saturating loss gives G almost nothing."""
    grads = {}
    for loss in LOSSES:
        l = torch.full((1,), -10.0, requires_grad=True)
        loss.g_loss(l).backward()
        grads[type(loss).__name__] = abs(l.grad.item())
    assert grads["Minimax"] == pytest.approx(sigmoid(-10), rel=1e-4)
    assert grads["NonSaturating"] == pytest.approx(sigmoid(10), rel=1e-4)
    assert grads["NonSaturating"] > 1000 * grads["Minimax"]


def test_d_trained_with_this_loss_approaches_the_optimal_discriminator() -> None:
    """D*(x) = p_data / (p_data + p_g) (Goodfellow et al., Prop. 1), for fixed p_data = N(4, 1.25), p_g = N(2, 1)."""
    torch.manual_seed(0)
    D = torch.nn.Sequential(torch.nn.Linear(1, 32), torch.nn.Tanh(), torch.nn.Linear(32, 32), torch.nn.Tanh(), torch.nn.Linear(32, 1))
    opt = torch.optim.Adam(D.parameters(), lr=3e-3)
    loss = NonSaturating()
    for _ in range(1500):
        real = torch.randn(512, 1) * 1.25 + 4
        fake = torch.randn(512, 1) + 2
        opt.zero_grad()
        loss.d_loss(D(real).squeeze(1), D(fake).squeeze(1)).backward()
        opt.step()
    xs = torch.linspace(1.0, 6.0, 11)[:, None]
    p_data, p_g = normal_pdf(xs, 4.0, 1.25), normal_pdf(xs, 2.0, 1.0)
    with torch.no_grad():
        d = torch.sigmoid(D(xs))
    assert torch.allclose(d, p_data / (p_data + p_g), atol=0.05)
