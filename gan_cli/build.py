"""Config -> objects. The only place that turns a composed config into data, models, loss and optimisers."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import torch
from hydra.errors import InstantiationException
from hydra.utils import instantiate
from omegaconf import DictConfig, OmegaConf
from torch import nn

from gan_cli import distributed
from gan_cli.cond.base import Unconditional
from gan_cli.data.base import Data
from gan_cli.device import fast_layout
from gan_cli.errors import UserError
from gan_cli.hooks import Hooks
from gan_cli.latent import Latent
from gan_cli.losses.base import GANLoss
from gan_cli.population import Members, Stacked
from gan_cli.rng import seed_everything


def make(node: Any, what: str, **kwargs: Any) -> Any:
    """`hydra.utils.instantiate`, with the target's own UserError passed through unwrapped.

    Hydra wraps every failure of a target; a message meant for the user must not arrive
    buried in "Error in call to target ...".
    """
    if isinstance(node, DictConfig) and "_target_" not in node:  # e.g. ~model._target_: instantiate would return the dict
        raise UserError(f"`{what}` has no _target_ (what builds it); drop the override that removed {what}._target_.")
    try:
        return instantiate(node, **kwargs, _convert_="all")
    except InstantiationException as e:
        cause = e.__cause__
        while isinstance(cause, InstantiationException) and cause.__cause__ is not None:
            cause = cause.__cause__
        if isinstance(cause, UserError):
            raise cause from None
        target = OmegaConf.select(node, "_target_") if isinstance(node, DictConfig) else None
        raise UserError(f"could not build `{what}` ({target}) from the config: {cause or e}. Check the `{what}.*` overrides.") from None


def arch_of(data: Data, latent: Latent) -> dict[str, Any]:
    """What a model needs to know about the data; stored in checkpoints so G can be rebuilt without the data."""
    return {"sample_shape": list(data.sample_shape), "latent_dim": latent.width, "bounded": data.bounded}


def build_models(model_cfg: Any, arch: Mapping[str, Any], cond: Unconditional | None = None) -> tuple[nn.Module, nn.Module]:
    """G and D of the model config; `cond` says how G takes a class (conditional batch norm changes G's layers)."""
    cond = cond or Unconditional()
    width = cond.g_width(arch["latent_dim"])
    G, D = make(model_cfg, "model", sample_shape=tuple(arch["sample_shape"]), latent_dim=width, bounded=arch["bounded"])
    model = (str(OmegaConf.select(model_cfg, "_target_")).split(".")[-2:] or ["?"])[0]  # gan_cli.models.mlp.build: mlp
    return cond.wrap_g(G, model), D


def build_regs(node: Any) -> list[Hooks]:
    """The tricks of `+reg=[a,b]`: Hydra places each chosen file's node under reg.<name>."""
    if node is None:
        return []
    if not isinstance(node, DictConfig):
        raise UserError(f"reg={node!r} is not allowed: choose tricks from the reg group, e.g. +reg=[r1,ema].")
    return [make(options, f"reg.{name}") for name, options in node.items()]


@dataclass
class Experiment:
    """Everything a training run is made of, built and on its device."""

    data: Data
    latent: Latent
    G: nn.Module
    D: nn.Module
    loss: GANLoss
    regs: list[Hooks]  # the chosen stabilisation tricks (+reg=[...]), in the order given, then the conditioning's hooks
    opt_g: torch.optim.Optimizer
    opt_d: torch.optim.Optimizer
    device: torch.device
    arch: dict[str, Any]
    members: Members  # the seeds trained together (one: an ordinary run), each with its own noise
    cond: Unconditional  # the class conditioning (cond=...): how labels reach G, D and the losses


def build_cond(node: Any, data: Data, latent: Latent) -> Unconditional:
    """The conditioning of `cond=...` (none when a config predates it), bound to the data's classes and z."""
    cond = make(node, "cond") if node is not None else Unconditional()
    cond.bind(data, latent)  # refuses unlabelled data; a conditional method widens z by the classes' one-hot
    return cond


def build_nets(
    cfg: DictConfig, arch: Mapping[str, Any], cond: Unconditional, hooks: list[Hooks], sample_shape: tuple[int, ...], device: torch.device
) -> tuple[nn.Module, nn.Module]:
    """G and D, with every hook's change to D, seeded by cfg.seed: built as an ordinary run of that seed builds them."""
    seed_everything(cfg.seed)
    G, D = build_models(cfg.model, arch, cond)  # DataModelMismatch for data it cannot take: gan_cli.compat says what works
    G, D = fast_layout(G.to(device), device), fast_layout(D.to(device), device)
    for hook in hooks:  # before the optimiser exists, so it sees any parameters a trick adds to D
        D = hook.wrap_d(D, sample_shape)
    return G, D


def build(cfg: DictConfig) -> Experiment:
    device = make(cfg.device, "device")
    data = make(cfg.data, "data")
    latent = make(cfg.latent, "latent")
    cond = build_cond(cfg.get("cond"), data, latent)
    arch = arch_of(data, latent)
    loss, regs = make(cfg.loss, "loss"), build_regs(cfg.get("reg")) + cond.hooks()  # D's label wrapper goes on last
    for problem in filter(None, (reg.use_loss(loss) for reg in regs)):  # a trick that needs what this loss lacks
        raise UserError(problem)
    seeds = [cfg.seed + k for k in range(cfg.population)]
    ranks = distributed.current()
    if len(seeds) == 1 and ranks.world == 1:
        G, D = build_nets(cfg, arch, cond, [loss, *regs], data.sample_shape, device)
        members = Members(seeds)
    elif len(seeds) == 1:  # one run on several processes: each draws its share of the noise an ordinary run would
        G, D = ranks.prepare(*build_nets(cfg, arch, cond, [loss, *regs], data.sample_shape, device), sync_bn=cfg.sync_bn)
        members = Members(seeds, [torch.Generator().set_state(torch.get_rng_state())], ranks)
        ranks.seed_own_stream(cfg.seed)
    else:  # member k is built exactly as an ordinary run of its seed, and draws its noise on from where that run would
        nets, noise = [], []
        for seed in seeds:
            nets.append(build_nets(OmegaConf.merge(cfg, {"seed": seed}), arch, cond, [loss, *regs], data.sample_shape, device))
            noise.append(torch.Generator().set_state(torch.get_rng_state()))
        G, D = Stacked([g for g, _ in nets]).to(device), Stacked([d for _, d in nets]).to(device)
        members = Members(seeds, noise)
    return Experiment(
        data=data,
        latent=latent,
        G=G,
        D=D,
        loss=loss,
        regs=regs,
        opt_g=make(cfg.optim.g, "optim.g")(G.parameters()),
        opt_d=make(cfg.optim.d, "optim.d")(D.parameters()),
        device=device,
        arch=arch,
        members=members,
        cond=cond,
    )
