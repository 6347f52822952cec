"""+reg=[spectral_norm]'s own parametrization: torch's numbers and state_dict keys, and it runs under torch.func.vmap."""

from __future__ import annotations

import copy
from collections.abc import Callable

import pytest
import torch
import torch.nn.functional as F
from torch import nn
from torch.nn.utils.parametrizations import spectral_norm as torchs_spectral_norm

from gan_cli.models import dcgan, mlp
from gan_cli.regs.spectral_norm import SpectralNorm, spectral_norm

LAYERS: dict[str, Callable[[], nn.Module]] = {
    "linear": lambda: nn.Linear(6, 5),
    "conv": lambda: nn.Conv2d(3, 4, 3),
    "conv_transpose": lambda: nn.ConvTranspose2d(3, 4, 3),  # weight (in, out, kH, kW): normalised over dim 1
}
SHAPES = {"linear": (8, 6), "conv": (8, 3, 7, 7), "conv_transpose": (8, 3, 7, 7)}


def _uv(layer: nn.Module) -> tuple[torch.Tensor, torch.Tensor]:
    p = layer.parametrizations.weight[0]
    return p._u, p._v


def _fresh_uv(layer: nn.Module, gen: torch.Generator) -> None:
    """Unconverged u, v, so that each power iteration visibly moves sigma (after init they are nearly converged)."""
    for buf in _uv(layer):
        buf.copy_(F.normalize(torch.randn(buf.shape, generator=gen), dim=0))


@pytest.mark.parametrize("kind", list(LAYERS))
def test_a_seed_gives_torchs_u_v_and_state_dict_keys(kind: str) -> None:
    torch.manual_seed(3)
    theirs = torchs_spectral_norm(LAYERS[kind]())
    torch.manual_seed(3)
    ours = spectral_norm(LAYERS[kind]())
    a, b = theirs.state_dict(), ours.state_dict()
    assert list(a) == list(b) == ["bias", "parametrizations.weight.original", "parametrizations.weight.0._u", "parametrizations.weight.0._v"]
    assert all(torch.equal(a[k], b[k]) for k in a)  # same draws, same 15 + 1 power iterations: a seeded run is unchanged


@pytest.mark.parametrize("kind", list(LAYERS))
def test_training_forwards_give_torchs_weights_and_outputs_and_eval_leaves_u_v(kind: str) -> None:
    theirs = torchs_spectral_norm(LAYERS[kind]())
    ours = spectral_norm(LAYERS[kind]())
    with torch.no_grad():
        _fresh_uv(theirs, torch.Generator().manual_seed(0))
        ours.load_state_dict(theirs.state_dict())  # torch's weight, bias, u and v into ours
    x = torch.randn(SHAPES[kind], generator=torch.Generator().manual_seed(1))
    before = ours.eval().weight.detach().clone()  # sigma from the fresh u, v (in eval mode: no power iteration)
    ours.train()
    for _ in range(3):
        torch.testing.assert_close(ours(x), theirs(x))
        torch.testing.assert_close(ours.weight, theirs.weight)
        for mine, torchs in zip(_uv(ours), _uv(theirs)):
            torch.testing.assert_close(mine, torchs)

    ours.eval(), theirs.eval()
    u, v = (t.clone() for t in _uv(ours))
    assert not torch.allclose(ours.weight, before, rtol=0, atol=1e-4)  # the iterations moved sigma: the comparison had teeth
    torch.testing.assert_close(ours(x), theirs(x))
    assert torch.equal(_uv(ours)[0], u) and torch.equal(_uv(ours)[1], v)  # no power iteration in eval mode


def _small_d() -> nn.Module:
    _, D = mlp.build((2,), 4, False, hidden=[16, 16], dropout=0.0)
    return SpectralNorm().wrap_d(D, (2,))


def test_a_population_of_ds_runs_under_vmap_as_each_member_alone() -> None:
    torch.manual_seed(0)
    members = [_small_d() for _ in range(3)]
    with torch.no_grad():
        for i, D in enumerate(members):
            for layer in D.modules():
                if hasattr(layer, "parametrizations"):
                    _fresh_uv(layer, torch.Generator().manual_seed(10 + i))
    alone = copy.deepcopy(members)
    params, buffers = torch.func.stack_module_state(members)
    template = copy.deepcopy(members[0]).to("meta")
    population = torch.func.vmap(lambda p, b, x: torch.func.functional_call(template, {**p, **b}, (x,)), randomness="different")
    x = torch.randn(3, 8, 2, generator=torch.Generator().manual_seed(1))

    u = "net.1.parametrizations.weight.0._u"
    u_before = buffers[u].clone()
    population(params, buffers, x)
    assert not torch.allclose(buffers[u], u_before, rtol=0, atol=1e-4)  # the stacked buffers were updated in place
    out = population(params, buffers, x)  # (3, 8): each member's second forward, two power iterations in
    out.sum().backward()

    for i, D in enumerate(alone):
        D(x[i])
        mine = D(x[i])
        mine.sum().backward()
        torch.testing.assert_close(out[i], mine)
        state = dict(D.named_parameters()) | dict(D.named_buffers())
        for k in buffers:
            torch.testing.assert_close(buffers[k][i], state[k])
        for k in params:
            torch.testing.assert_close(params[k].grad[i], state[k].grad)


@pytest.mark.parametrize("model", ["mlp", "dcgan"])
def test_a_d_saved_with_torchs_spectral_norm_loads_into_ours(model: str) -> None:
    def d() -> nn.Module:
        if model == "mlp":
            return mlp.build((1, 28, 28), 8, True, hidden=[16, 16])[1]
        return dcgan.build((1, 28, 28), 8, True, ngf=4, ndf=4, d_norm="batch", fc=8)[1]

    old = d()
    for layer in list(old.modules()):  # what SpectralNorm.wrap_d did with torch's spectral_norm
        if isinstance(layer, (nn.Linear, nn.Conv2d, nn.ConvTranspose2d)):
            torchs_spectral_norm(layer)
    old(torch.randn(4, 1, 28, 28))  # a training step's power iteration and batch statistics
    new = SpectralNorm().wrap_d(d(), (1, 28, 28))
    new.load_state_dict(old.state_dict(), strict=True)
    x = torch.randn(4, 1, 28, 28)
    torch.testing.assert_close(new.eval()(x), old.eval()(x))


def test_one_backward_through_two_training_forwards_as_a_d_loss_on_real_and_fake_does() -> None:
    D = _small_d()
    real, fake = torch.randn(8, 2), torch.randn(8, 2)
    (D(fake).mean() - D(real).mean()).backward()  # the second forward's in-place u, v update must not spoil the first's graph
    assert all(p.grad is not None and p.grad.isfinite().all() for p in D.parameters())
