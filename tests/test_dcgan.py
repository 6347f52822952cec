"""The all-convolutional DCGAN's whole-image convolutions (G's 7x7 of a 1x1 image, D's 7x7 logit), computed as
matrix products: the same function, weights and checkpoints as torch's convolutions in their place; and the
channels-last layout of the other convolutions on CPU, which changes only the rounding."""

from __future__ import annotations

import copy

import pytest
import torch
from torch import nn

from gan_cli.device import fast_layout
from gan_cli.models import dcgan
from gan_cli.regs.spectral_norm import SpectralNorm


def _nets(seed: int = 0) -> tuple[nn.Module, nn.Module]:
    torch.manual_seed(seed)
    return dcgan.build((1, 28, 28), 10, True, ngf=4, ndf=4, fc=0)


def _old_layout(seed: int = 0) -> tuple[nn.Module, nn.Module]:
    """G and D as they were built before: torch's ConvTranspose2d and Conv2d in the same places, the same init."""
    torch.manual_seed(seed)
    G = dcgan.Generator.__new__(dcgan.Generator)
    nn.Module.__init__(G)
    G.fc = 0
    G.net = nn.Sequential(
        nn.ConvTranspose2d(10, 8, 7, 1, 0, bias=False), nn.BatchNorm2d(8), nn.ReLU(True),
        nn.ConvTranspose2d(8, 4, 4, 2, 1, bias=False), nn.BatchNorm2d(4), nn.ReLU(True),
        nn.ConvTranspose2d(4, 1, 4, 2, 1), nn.Tanh(),
    )  # fmt: skip
    G.apply(dcgan._init_weights)
    D = dcgan.Discriminator(4, 0)
    D.net[-1] = nn.Conv2d(8, 1, 7, 1, 0)
    D.net[-1].apply(dcgan._init_weights)
    return G, D


def test_a_seed_draws_the_same_initial_weights_as_before() -> None:
    (G, _), (old_G, _) = _nets(3), _old_layout(3)
    assert G.state_dict().keys() == old_G.state_dict().keys()
    for (name, new), old in zip(G.state_dict().items(), old_G.state_dict().values(), strict=True):
        assert torch.equal(new, old), name


def test_an_old_layout_state_dict_loads_and_gives_the_same_outputs() -> None:
    old_G, old_D = _old_layout(1)
    z, x = torch.randn(6, 10), torch.randn(6, 1, 28, 28)
    old_G(z), old_D(x)  # a training forward: batch statistics move
    G, D = _nets(2)
    G.load_state_dict(old_G.state_dict(), strict=True)  # nothing to map: the weights keep their layout
    D.load_state_dict(old_D.state_dict(), strict=True)
    for mode in (True, False):
        G.train(mode), D.train(mode), old_G.train(mode), old_D.train(mode)
        torch.testing.assert_close(G(z), old_G(z))
        torch.testing.assert_close(D(x), old_D(x))


def test_the_gradients_are_the_convolutions() -> None:
    G, D = _nets()
    old_G, old_D = _old_layout()
    old_D.load_state_dict(D.state_dict())
    z = torch.randn(5, 10)
    for g, d in ((G, D), (old_G, old_D)):
        d(g(z)).square().sum().backward()
    for new, old in ((G.net[0], old_G.net[0]), (D.net[-1], old_D.net[-1])):
        torch.testing.assert_close(new.weight.grad, old.weight.grad)
    torch.testing.assert_close(D.net[-1].bias.grad, old_D.net[-1].bias.grad)


def test_other_input_sizes_fall_back_to_torchs_convolution() -> None:
    conv, whole = nn.Conv2d(3, 2, 5), dcgan.WholeConv2d(3, 2, 5)
    up, whole_up = nn.ConvTranspose2d(3, 2, 5), dcgan.WholeConvTranspose2d(3, 2, 5)
    whole.load_state_dict(conv.state_dict()), whole_up.load_state_dict(up.state_dict())
    x = torch.randn(2, 3, 9, 9)
    torch.testing.assert_close(whole(x), conv(x))
    torch.testing.assert_close(whole_up(x), up(x))
    torch.testing.assert_close(whole_up(x[..., :1, :1]), up(x[..., :1, :1]))  # with a bias


def test_spectral_norm_still_normalises_the_logit_layer() -> None:
    _, D = _nets()
    D = SpectralNorm().wrap_d(D, (1, 28, 28)).eval()  # eval: no power iteration between the two reads
    head = D.net[-1]
    assert hasattr(head, "parametrizations")
    f = torch.randn(4, 8, 7, 7)
    torch.testing.assert_close(head(f), nn.functional.conv2d(f, head.weight, head.bias))


@pytest.mark.parametrize("fc", [0, 16])
def test_channels_last_on_cpu_changes_nothing_but_rounding(fc: int) -> None:
    """Outputs and gradients as close to a float64 reference as the plain layout's (batch norm over 6 samples
    magnifies float32's rounding in the gradients to about 1e-4 of their scale, in either layout)."""
    torch.manual_seed(0)
    G, D = dcgan.build((1, 28, 28), 10, True, ngf=4, ndf=4, fc=fc)
    fast_G, fast_D = (fast_layout(copy.deepcopy(net), torch.device("cpu")) for net in (G, D))
    assert fast_G.net[-2].weight.is_contiguous(memory_format=torch.channels_last)  # the 4x4 convolutions are
    assert fast_G.net[0].weight.is_contiguous()  # a whole-image one is not: its matrix product reads it as it is
    ref_G, ref_D = copy.deepcopy(G).double(), copy.deepcopy(D).double()
    z = torch.randn(6, 10)
    for g, d in ((G, D), (fast_G, fast_D), (ref_G, ref_D)):
        d(g(z.to(next(g.parameters()).dtype))).square().sum().backward()
    for g in (G, fast_G):
        torch.testing.assert_close(g(z), ref_G(z.double()).float())
    for ref, *nets in ((ref_G, G, fast_G), (ref_D, D, fast_D)):
        for r, *ps in zip(ref.parameters(), *(n.parameters() for n in nets), strict=True):
            for p in ps:
                torch.testing.assert_close(p.grad, r.grad.float(), rtol=0, atol=1e-3 * r.grad.abs().max().item())
