"""Many seeds of one setting trained at once: the members' networks stacked into one, run as batched matrix products
(plain layers) or through `torch.func.vmap` (any other).

An ordinary run is a population of one. The loop never asks which it has: it draws each member's batch and noise,
reduces every loss per member through `Members`, and gets back one number per member. Member k's parameters are
slice k of every stacked tensor, its losses are summed with the others', so its gradient is exactly its own; one
Adam over the stacked tensors is K independent Adams, since Adam works element by element.
"""

from __future__ import annotations

import copy
from collections.abc import Callable, Sequence
from typing import Any

import torch
from hydra.utils import get_class
from omegaconf import DictConfig, OmegaConf
from torch import nn
from torch.func import functional_call, stack_module_state, vmap

from gan_cli.distributed import Ranks
from gan_cli.errors import UserError
from gan_cli.latent import Latent
from gan_cli.rng import rng_state


class Stacked(nn.Module):
    """K networks of one architecture as one: `stack` is member 0's module tree holding every member's tensors
    along a new first dimension. Inputs and outputs are the members' batches one after another (K*B rows)."""

    def __init__(self, nets: Sequence[nn.Module]) -> None:
        super().__init__()
        self.count = len(nets)
        params, buffers = stack_module_state(list(nets))
        self.stack = copy.deepcopy(nets[0])
        for name, value in params.items():
            _put(self.stack, name, nn.Parameter(value.detach().clone()))
        for name, value in buffers.items():
            _put(self.stack, name, value.clone())
        self._index()
        self._template = [copy.deepcopy(nets[0])]  # member(k)'s shape; in a list: not a child module
        # A network of plain layers runs on the stacked tensors directly (batched matrix products), without
        # vmap's cost per operation, which on a toy network is most of the step; any other runs through vmap.
        self._direct = [batched(self.stack)]

    def apply_each(self, fn: Callable[..., torch.Tensor], *xs: torch.Tensor) -> torch.Tensor:
        """fn(member's network, member's rows of each x) for every member at once; rows back in member order."""
        parts = [x.view(self.count, -1, *x.shape[1:]) for x in xs]  # (K, B, ...)
        if self._direct[0] is not None:
            out = fn(self._direct[0], *parts)
            return out.reshape(-1, *out.shape[2:]) if out.dim() > 1 else out  # a (K*B,) logit vector is already flat
        call = self._call[0]

        def one(member: tuple[torch.Tensor, ...], *rows: torch.Tensor) -> torch.Tensor:
            call.fn = fn
            return functional_call(call, dict(zip(self._names, member)), rows, tie_weights=False, strict=False)

        # "different": dropout and other random layers draw independently for every member, as in separate runs.
        out = vmap(one, randomness="different")(self._tensors, *parts)
        return out.reshape(-1, *out.shape[2:])

    def member(self, k: int) -> nn.Module:
        """Member k's network on its own (a copy of its tensors, in the stack's mode), for work that concerns one
        member, such as its pictures: the stack would compute every member's rows to get one's."""
        net = copy.deepcopy(self._template[0]).train(self.stack.training)
        net.load_state_dict(take(self.stack.state_dict(), k))
        return net

    def _index(self) -> None:
        """The stacked tensors, once: functional_call swaps them in by name at every call, and walking the module
        tree for them each time cost more than the arithmetic of a toy network."""
        named = [*self.stack.named_parameters(), *self.stack.named_buffers()]
        self._names = [f"net.{n}" for n, _ in named]
        self._tensors = tuple(t for _, t in named)
        self._call = [_Call(self.stack)]  # in a list: not a child module, so the state stays the stack's own

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.apply_each(lambda net, rows: net(rows), x)

    def features(self, x: torch.Tensor) -> torch.Tensor:
        return self.apply_each(lambda net, rows: net.features(rows), x)

    def train(self, mode: bool = True) -> Stacked:
        self.stack.train(mode)  # the mode functional_call runs the member's layers in (dropout, power iterations)
        if self._direct[0] is not None:
            self._direct[0].train(mode)
        return super().train(mode)

    # The state is the member's own keys with a leading member dimension, so member k's is `take(state, k)`.
    def state_dict(self, *args: Any, **kwargs: Any) -> dict[str, Any]:  # type: ignore[override]
        return self.stack.state_dict(*args, **kwargs)

    def load_state_dict(self, state: Any, strict: bool = True, assign: bool = False) -> Any:  # type: ignore[override]
        result = self.stack.load_state_dict(state, strict=strict, assign=assign)
        self._index()  # assign=True puts new tensors in
        return result

    def _apply(self, fn: Any, recurse: bool = True) -> Stacked:
        super()._apply(fn, recurse)  # .to(device) and the like may replace the tensors
        self._index()
        if hasattr(self, "_template"):  # member(k) lives where the stack does
            self._template[0]._apply(fn, recurse)
        return self


class _Call(nn.Module):
    """Lets functional_call run any function of a network, not only its forward."""

    def __init__(self, net: nn.Module) -> None:
        super().__init__()
        self.net = net
        self.fn: Callable[..., torch.Tensor] = lambda net, *rows: net(*rows)

    def forward(self, *rows: torch.Tensor) -> torch.Tensor:
        return self.fn(self.net, *rows)


class _BatchedLinear(nn.Module):
    """A stacked nn.Linear (weight (K, out, in)) on (K, B, in) rows: one batched matrix product for all members."""

    def __init__(self, linear: nn.Linear) -> None:
        super().__init__()
        self.linear = [linear]  # in a list: the stacked parameters stay the stack's own

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        weight, bias = self.linear[0].weight, self.linear[0].bias
        if weight.shape[2] == 1:  # one input (a 1-D sample or noise): an outer product, which broadcasting does ~8x faster
            return x * weight.transpose(1, 2) if bias is None else torch.addcmul(bias.unsqueeze(1), x, weight.transpose(1, 2))
        if bias is None:
            return torch.bmm(x, weight.transpose(1, 2))
        return torch.baddbmm(bias.unsqueeze(1), x, weight.transpose(1, 2))  # (K, B, out)


# Layers that act on each row (or each number) alone, so they work on (K, B, ...) as they are.
_ROWWISE = (nn.Tanh, nn.LeakyReLU, nn.ReLU, nn.Sigmoid, nn.Identity, nn.Dropout)


def batched(net: nn.Module) -> nn.Module | None:
    """A copy of a stacked network that runs on (K, B, ...) inputs without vmap, sharing its tensors; None when
    one of its layers is not plain (batch norm, a trick's head, a parametrised weight): those need vmap."""
    if isinstance(net, nn.Linear) and not hasattr(net, "parametrizations"):
        return _BatchedLinear(net)
    if isinstance(net, nn.Flatten):
        return nn.Flatten(net.start_dim + 1, net.end_dim + 1 if net.end_dim >= 0 else net.end_dim)  # after the member dimension
    if isinstance(net, _ROWWISE):
        return net
    # Containers whose own code works on (K, B, ...) rows as on (B, ...): nn.Sequential, and models that say so.
    if not (type(net) is nn.Sequential or getattr(type(net), "rank_agnostic", False)) or net._parameters or net._buffers:
        return None
    children = {name: batched(child) for name, child in net._modules.items()}
    if any(child is None for child in children.values()):
        return None
    clone = copy.copy(net)
    clone.__dict__ = dict(net.__dict__)  # its own module table; the same attributes otherwise
    clone._modules = children  # type: ignore[assignment]
    return clone


def _put(root: nn.Module, name: str, value: torch.Tensor) -> None:
    """Replace the parameter or buffer `name` (dotted) of `root` by `value`, whatever its shape."""
    owner_name, _, leaf = name.rpartition(".")
    owner = root.get_submodule(owner_name)
    if isinstance(value, nn.Parameter):
        owner._parameters[leaf] = value
    else:
        owner._buffers[leaf] = value


def member_overrides(overrides: list[str], seed: int) -> list[str]:
    """A member's command line as the ordinary run of its seed would have had it: seed=S, no population=."""
    kept = [o for o in overrides if o.lstrip("+~").partition("=")[0] not in ("seed", "population")]
    return [*kept, f"seed={seed}"]


def check(cfg: DictConfig) -> None:
    """Refuse, before any work, what a population cannot do."""
    if cfg.population == 1:
        return
    if cfg.resume is not None:
        raise UserError(
            f"resume={cfg.resume} with population={cfg.population}: a population is not continued as a whole; each member is "
            "an ordinary run of its own. Continue one with gan train resume=RUN/seed=S, or start the population afresh."
        )
    if _conditional(OmegaConf.select(cfg, "cond._target_")):
        raise UserError(
            f"cond={cfg.cond._target_.rsplit('.', 1)[-1].lower()} with population={cfg.population}: a population's networks "
            "are stacked copies of one architecture that take no labels. Train each seed as its own run (gan train -m seed=0,1,2 ...), or drop cond=."
        )
    if cfg.divergence.retries:
        raise UserError(
            f"divergence.retries={cfg.divergence.retries} with population={cfg.population}: in a population a diverged member "
            "is frozen and counted as diverged while the others go on. Drop divergence.retries, or train that seed alone to retry it."
        )


def _conditional(target: Any) -> bool:
    """Whether cond._target_ names a conditional method (an unknown one is left to the build's own message)."""
    try:
        return bool(getattr(get_class(target), "conditional", False)) if isinstance(target, str) else False
    except Exception:  # noqa: BLE001 - hydra raises several kinds for a bad path
        return False


def take(state: Any, k: int) -> Any:
    """Member k's part of a population's state: slice k of every tensor with a member dimension. Tensors without
    one (0-d, such as Adam's shared step count) are shared by every member and kept as they are."""
    if isinstance(state, torch.Tensor):
        return state[k].clone() if state.dim() > 0 else state.clone()
    if isinstance(state, dict):
        return {key: take(value, k) for key, value in state.items()}
    if isinstance(state, (list, tuple)):
        return type(state)(take(value, k) for value in state)
    return state


class Members:
    """The runs one Trainer trains: their seeds, and how a quantity is computed for each of them.

    Every method returns one value per member (shape (K,)); tensors of samples hold the members' rows one
    after another. With one member every method is the plain computation: an ordinary run.
    """

    def __init__(self, seeds: Sequence[int], noise: Sequence[torch.Generator] = (), ranks: Ranks | None = None) -> None:
        self.seeds = list(seeds)
        self.count = len(self.seeds)
        # Each member's own noise stream (a population), or the run's shared by every rank (torchrun); an ordinary
        # run draws from the global RNG, as it always has.
        self.noise = list(noise)
        self.ranks = ranks or Ranks()  # the processes one run is trained on (torchrun); one outside it

    def latent(self, latent: Latent, n: int, device: torch.device) -> torch.Tensor:
        """(K*n, width): n rows of noise for each member, from the member's own stream. Under torchrun, this rank's n
        rows of the global batch's noise, which every rank draws whole from the run's stream."""
        if self.ranks.world > 1:
            return self.ranks.share(latent.sample(n * self.ranks.world, generator=self.noise[0])).to(device)
        if not self.noise:
            return latent.sample(n, device)
        return latent.sample_each(n, self.noise, device)

    def uniform(self, n: int, device: torch.device) -> torch.Tensor:
        """(n,) draws from U(0, 1) for n rows of the batch (e.g. a penalty's mixing weights), from the global RNG as
        before; under torchrun, this rank's share of the global batch's draws, as for `latent`."""
        if self.ranks.world > 1:
            return self.ranks.share(torch.rand(n * self.ranks.world, generator=self.noise[0])).to(device)
        return torch.rand(n, device=device)

    def rng_state(self, k: int) -> dict[str, Any]:
        """The RNG state member k's checkpoint holds: its noise stream in the place of the global torch RNG's."""
        return rng_state() | ({"torch": self.noise[k].get_state()} if self.noise else {})

    def mean(self, per_sample: torch.Tensor) -> torch.Tensor:
        """(K,): each member's mean over its own batch."""
        return per_sample.reshape(self.count, -1).mean(1)

    def map(self, fn: Callable[..., torch.Tensor], *batches: torch.Tensor) -> torch.Tensor:
        """(K,) or (K, n): fn (a function of whole batches, e.g. a loss) on each member's part of the batches, in
        one call: fn gets each batch as (B, K, ...), the members side by side, and averages over dim 0 (the batch)
        only, as every loss does. An ordinary run's batches come as (B, 1, ...), and fn's mean is the plain one."""
        if self.count == 1:  # one view per batch, not two: each is a node in the loss's backward
            out = fn(*(b.unsqueeze(1) for b in batches))
        else:
            out = fn(*(b.reshape(self.count, -1, *b.shape[1:]).transpose(0, 1) for b in batches))
        return out.reshape(self.count, -1).squeeze(1)

    def own(self, net: nn.Module, k: int) -> nn.Module:
        """Member k's network alone: an ordinary run's is the network itself."""
        return net.member(k) if isinstance(net, Stacked) else net

    def apply(self, net: nn.Module, fn: Callable[..., torch.Tensor], *xs: torch.Tensor) -> torch.Tensor:
        """fn(member's network, member's rows) for every member, rows back in member order: for what a network
        computes beyond its forward (InfoGAN's code logits, D's features)."""
        return net.apply_each(fn, *xs) if isinstance(net, Stacked) else fn(net, *xs)

    def total(self, per_element: torch.Tensor) -> torch.Tensor:
        """(K,): each member's sum of a tensor shaped like a network's parameter (stacked in a population)."""
        return per_element.reshape(self.count, -1).sum(1) if self.count > 1 else per_element.sum().reshape(1)
