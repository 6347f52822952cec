"""The losses against hand-computed values, their gradients, and the optimal discriminator."""

from __future__ import annotations

import math

import pytest
import torch

from gan_cli.hooks import DStep
from gan_cli.losses.base import GANLoss
from gan_cli.losses.hinge import Hinge
from gan_cli.losses.lsgan import LeastSquares
from gan_cli.losses.minimax import Minimax
from gan_cli.losses.nonsat import NonSaturating
from gan_cli.losses.relativistic import RelativisticAverage
from gan_cli.losses.wgan_gp import WGANGP, gradient_penalty
from gan_cli.population import Members
from gan_cli.regs.r1 import R1

BCE_LOSSES = [Minimax(), NonSaturating()]
LOSSES = [*BCE_LOSSES, LeastSquares(), Hinge(), RelativisticAverage(), WGANGP()]


def normal_pdf(x: torch.Tensor, mean: float, std: float) -> torch.Tensor:
    return torch.exp(-0.5 * ((x - mean) / std) ** 2) / (std * math.sqrt(2 * math.pi))


def sigmoid(x: float) -> float:
    return 1 / (1 + math.exp(-x))


@pytest.mark.parametrize("loss", BCE_LOSSES, ids=lambda l: type(l).__name__)
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
def test_a_loss_averages_over_the_batch_only_so_members_side_by_side_get_their_own(loss: GANLoss) -> None:
    # A population lays its members' logits side by side, (B, K, 1); each column must get the loss it has alone.
    real, fake = torch.randn(8, 3, 1, generator=torch.Generator().manual_seed(0)).unbind(1), torch.randn(8, 3, 1).unbind(1)
    together = (torch.stack(real, 1), torch.stack(fake, 1))
    for name, fn in (("d_loss", loss.d_loss), ("g_loss", loss.g_loss), ("d_value", lambda r, f: loss.d_value(r, f).mean(0))):
        alone = torch.stack([fn(r, f) for r, f in zip(real, fake)])  # (K, 1)
        assert torch.allclose(fn(*together), alone, atol=1e-6), name


@pytest.mark.parametrize("loss", LOSSES, ids=lambda l: type(l).__name__)
def test_finite_values_and_gradients_at_extreme_logits(loss: GANLoss) -> None:
    logits = torch.tensor([-1e4, -50.0, 0.0, 50.0, 1e4], requires_grad=True)
    total = loss.d_loss(logits, logits) + loss.g_loss(logits, logits.detach())
    total.backward()
    assert torch.isfinite(total) and torch.isfinite(logits.grad).all()


@pytest.mark.parametrize("loss", LOSSES, ids=lambda l: type(l).__name__)
def test_gradient_signs(loss: GANLoss) -> None:
    # at logits 0.5, where no loss is flat (least squares is, for fakes, at 0)
    real = torch.full((4,), 0.5, requires_grad=True)
    fake = torch.full((4,), 0.5, requires_grad=True)
    loss.d_loss(real, fake).backward()
    assert (real.grad < 0).all()  # descending the D loss raises D(x) ...
    assert (fake.grad > 0).all()  # ... and lowers D(G(z))
    fake_for_g = torch.full((4,), 0.5, requires_grad=True)
    loss.g_loss(fake_for_g, torch.full((4,), 0.5)).backward()
    assert (fake_for_g.grad < 0).all()  # G wants D to call its samples real


def test_minimax_saturates_where_nonsat_does_not() -> None:
    """Early in training D rejects fakes confidently (logit -10): the saturating loss gives G almost nothing."""
    grads = {}
    for loss in BCE_LOSSES:
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
    # Largest error over seeds 0-7: 0.006 to 0.040; a 0.9 target for real samples reads 0.10-0.12, an untrained D 0.50.
    assert torch.allclose(d, p_data / (p_data + p_g), atol=0.08)


def test_new_losses_hand_computed() -> None:
    r, f = [2.0, -1.0], [0.5, -3.0]
    real, fake = torch.tensor(r), torch.tensor(f)
    mean = lambda v: sum(v) / len(v)  # noqa: E731
    assert LeastSquares().d_loss(real, fake).item() == pytest.approx(0.5 * (mean([(x - 1) ** 2 for x in r]) + mean([x**2 for x in f])))
    assert LeastSquares().g_loss(fake).item() == pytest.approx(0.5 * mean([(x - 1) ** 2 for x in f]))
    assert Hinge().d_loss(real, fake).item() == pytest.approx(mean([max(0, 1 - x) for x in r]) + mean([max(0, 1 + x) for x in f]))
    assert Hinge().g_loss(fake).item() == pytest.approx(-mean(f))
    assert WGANGP().d_loss(real, fake).item() == pytest.approx(mean(f) - mean(r))
    assert WGANGP().g_loss(fake).item() == pytest.approx(-mean(f))
    bce1, bce0 = (lambda x: -math.log(sigmoid(x))), (lambda x: -math.log(1 - sigmoid(x)))  # noqa: E731
    d = mean([bce1(x - mean(f)) for x in r]) + mean([bce0(x - mean(r)) for x in f])
    g = mean([bce1(x - mean(r)) for x in f]) + mean([bce0(x - mean(f)) for x in r])
    assert RelativisticAverage().d_loss(real, fake).item() == pytest.approx(d, rel=1e-6)
    assert RelativisticAverage().g_loss(fake, real).item() == pytest.approx(g, rel=1e-6)


def _critic() -> torch.nn.Module:
    torch.manual_seed(0)
    return torch.nn.Sequential(torch.nn.Linear(3, 16), torch.nn.Tanh(), torch.nn.Linear(16, 1), torch.nn.Flatten(0))


def test_gradient_penalty_matches_autograd_per_sample() -> None:
    D, real, fake = _critic(), torch.randn(6, 3), torch.randn(6, 3)
    torch.manual_seed(1)
    gp = gradient_penalty(D, real, fake).mean()
    torch.manual_seed(1)
    eps = torch.rand(6, 1)  # the same mixing weights
    x_hat = eps * real + (1 - eps) * fake
    norms = [torch.autograd.functional.jacobian(lambda v: D(v[None]).sum(), x).norm() for x in x_hat]
    assert gp.item() == pytest.approx(torch.stack([(n - 1) ** 2 for n in norms]).mean().item(), rel=1e-5)
    # and D learns from it: the penalty has a gradient with respect to D's weights
    gp.backward()
    assert D[0].weight.grad is not None and D[0].weight.grad.abs().sum() > 0
    # a linear critic with ||w|| = 1 pays nothing
    lin = torch.nn.Linear(3, 1, bias=False)
    with torch.no_grad():
        lin.weight.copy_(torch.tensor([[0.6, 0.8, 0.0]]))
    assert gradient_penalty(lambda x: lin(x).flatten(), real, fake).mean().item() == pytest.approx(0.0, abs=1e-10)


def test_r1_matches_autograd_per_sample() -> None:
    D, real = _critic(), torch.randn(5, 3)
    s = DStep(D, real, real, D(real), D(real), torch.zeros(len(real), 1), Members([0]))
    (penalty,) = R1(gamma=2.0).d_extra(s)  # one value: an ordinary run's one member
    norms2 = [torch.autograd.functional.jacobian(lambda v: D(v[None]).sum(), x).pow(2).sum() for x in real]
    assert penalty.item() == pytest.approx(torch.stack(norms2).mean().item(), rel=1e-5)  # gamma/2 = 1


@pytest.mark.parametrize("fc", [0, 16])
@pytest.mark.parametrize("norm", ["layer", "none"])
def test_dcgan_critic_without_batch_norm_scores_each_sample_alone(norm: str, fc: int) -> None:
    # A per-sample penalty (wgan_gp, r1) needs D(x_i) to depend on x_i only; batch norm breaks that.
    from gan_cli.models.dcgan import build

    torch.manual_seed(0)
    _, D = build((1, 28, 28), latent_dim=8, bounded=True, ngf=4, ndf=4, d_norm=norm, fc=fc)
    x = torch.randn(4, 1, 28, 28)
    other = x.clone()
    other[1:] = torch.randn(3, 1, 28, 28)  # same first sample, new batch-mates
    assert torch.allclose(D(x)[0], D(other)[0], atol=1e-6)
    _, bn = build((1, 28, 28), latent_dim=8, bounded=True, ngf=4, ndf=4, d_norm="batch", fc=fc)
    assert not torch.allclose(bn(x)[0], bn(other)[0], atol=1e-6)  # the contrast: batch norm mixes them


def test_dcgan_refuses_an_unknown_normalisation() -> None:
    from gan_cli.errors import UserError
    from gan_cli.models.dcgan import build

    with pytest.raises(UserError, match="model.d_norm='instance' is not one of batch, layer, none"):
        build((1, 28, 28), latent_dim=8, bounded=True, d_norm="instance")
