"""Spectral normalisation of D (Miyato et al. 2018): each layer's weight is divided by its largest
singular value (one power iteration per step), bounding D's Lipschitz constant.

Our own parametrization rather than torch.nn.utils.parametrizations.spectral_norm: torch's writes u and v
with `F.normalize(..., out=...)`, which torch.func.vmap cannot batch ("aten::div.out"), so a population of
D's stacked and run through vmap(functional_call) would fail. This one gives the same numbers, draws the
same random numbers at init, and keeps torch's state_dict keys (parametrizations.weight.original,
parametrizations.weight.0._u, parametrizations.weight.0._v), so checkpoints made with torch's still load.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn
from torch.nn.utils import parametrize

from gan_cli.hooks import Hooks

INIT_ITERATIONS = 15  # torch's spectral_norm starts u, v this many power iterations in


class SpectralNormWeight(nn.Module):
    """weight -> weight / sigma, sigma = u . (W v) with u, v from the power method on W as a matrix.

    `dim` is the weight's output dimension, moved to the front before flattening to a matrix:
    0 for Linear and Conv2d, 1 for ConvTranspose2d (whose weight is (in, out, kH, kW)).
    """

    def __init__(self, weight: torch.Tensor, dim: int = 0, n_power_iterations: int = 1, eps: float = 1e-12) -> None:
        super().__init__()
        if weight.ndim < 2:
            raise ValueError(f"SpectralNormWeight needs a weight of 2 or more dimensions, got shape {tuple(weight.shape)}")
        self.dim = dim % weight.ndim
        self.n_power_iterations = n_power_iterations
        self.eps = eps
        with torch.no_grad():
            h, w = self._as_matrix(weight).shape
            u = weight.new_empty(h).normal_(0, 1)  # u drawn before v, as torch does, so a seed gives torch's u and v
            v = weight.new_empty(w).normal_(0, 1)
            self.register_buffer("_u", F.normalize(u, dim=0, eps=eps))
            self.register_buffer("_v", F.normalize(v, dim=0, eps=eps))
            self._power_method(self._as_matrix(weight), INIT_ITERATIONS)

    def _as_matrix(self, weight: torch.Tensor) -> torch.Tensor:
        if self.dim != 0:
            weight = weight.movedim(self.dim, 0)
        return weight.flatten(1)  # (out, rest)

    @torch.no_grad()
    def _power_method(self, weight_mat: torch.Tensor, iterations: int) -> None:
        # In place with copy_ (not out=): the buffers are stacked per member under vmap, and a batched copy_ into a
        # batched buffer is supported; in place also keeps DataParallel replicas writing to the one buffer, as in torch.
        for _ in range(iterations):
            self._u.copy_(F.normalize(torch.mv(weight_mat, self._v), dim=0, eps=self.eps))
            self._v.copy_(F.normalize(torch.mv(weight_mat.H, self._u), dim=0, eps=self.eps))

    def forward(self, weight: torch.Tensor) -> torch.Tensor:
        # In float32 under amp too: CUDA's autocast runs torch.mv in half precision, which vdot refuses to pair with
        # the float32 u, and which would round the power method's u and v every step; the layer casts the result.
        with torch.autocast(weight.device.type, enabled=False):
            weight_mat = self._as_matrix(weight)
            if self.training:
                self._power_method(weight_mat, self.n_power_iterations)
            # Clones so a later forward's in-place update does not invalidate this one's graph (loss = D(real) - D(fake)).
            u = self._u.clone(memory_format=torch.contiguous_format)
            v = self._v.clone(memory_format=torch.contiguous_format)
            sigma = torch.vdot(u, torch.mv(weight_mat, v))
            return weight / sigma

    def right_inverse(self, value: torch.Tensor) -> torch.Tensor:
        return value  # the stored `original` is the unnormalised weight, as in torch


def spectral_norm(module: nn.Module, name: str = "weight") -> nn.Module:
    """Register SpectralNormWeight on `module.<name>`, choosing the output dimension as torch's spectral_norm does."""
    transposed = isinstance(module, (nn.ConvTranspose1d, nn.ConvTranspose2d, nn.ConvTranspose3d))
    parametrize.register_parametrization(module, name, SpectralNormWeight(getattr(module, name), dim=1 if transposed else 0))
    return module


LAYERS = (nn.Linear, nn.Conv2d, nn.ConvTranspose2d)


def spectrally_normalised(net: nn.Module) -> bool:
    """Whether any layer of `net` has its weight spectrally normalised."""
    return any(isinstance(m, SpectralNormWeight) for m in net.modules())


def normalise_like(D: nn.Module, added: nn.Module) -> None:
    """Spectral norm on the Linear and Embedding layers of `added` (a head a wrapper puts on D after the tricks, such
    as a conditioning's label layers) when D's own layers have it: D's logit is then Lipschitz-bounded as a whole."""
    if spectrally_normalised(D):
        for module in list(added.modules()):
            if isinstance(module, (*LAYERS, nn.Embedding)):
                spectral_norm(module)


class SpectralNorm(Hooks):
    def wrap_d(self, D: nn.Module, sample_shape: tuple[int, ...]) -> nn.Module:
        for module in list(D.modules()):
            if isinstance(module, LAYERS):
                spectral_norm(module)
        return D
