"""Historical averaging (Salimans et al. 2016): each network pays weight * ||theta - mean of its past thetas||^2,
which damps the cycling of the two players around an equilibrium."""

from __future__ import annotations

from typing import Any

import torch
from torch import nn

from gan_cli.hooks import DStep, GStep, Hooks
from gan_cli.models.checks import nonnegative
from gan_cli.population import Members


class HistoricalAveraging(Hooks):
    def __init__(self, weight: float = 1e-3) -> None:
        self.weight = nonnegative("reg.historical_averaging.weight", weight)
        self.means: dict[str, list[torch.Tensor]] = {}
        self.counts: dict[str, int] = {}

    def attach(self, G: nn.Module, D: nn.Module) -> None:
        for name, net in (("G", G), ("D", D)):
            self.means[name] = [p.detach().clone() for p in net.parameters()]
            self.counts[name] = 1

    def _penalty(self, name: str, net: nn.Module, members: Members) -> torch.Tensor:
        return self.weight * sum(members.total((p - m).pow(2)) for p, m in zip(net.parameters(), self.means[name]))

    @torch.no_grad()
    def _update(self, name: str, net: nn.Module) -> None:
        self.counts[name] += 1
        for m, p in zip(self.means[name], net.parameters()):
            m.lerp_(p, 1 / self.counts[name])  # the running mean of every past value

    def d_extra(self, s: DStep) -> torch.Tensor:
        return self._penalty("D", s.D, s.members)

    def g_extra(self, s: GStep) -> torch.Tensor:
        return self._penalty("G", s.G, s.members)

    def after_d_step(self, D: nn.Module) -> None:
        self._update("D", D)

    def after_g_step(self, G: nn.Module) -> None:
        self._update("G", G)

    def state_dict(self) -> dict[str, Any]:
        return {"means": self.means, "counts": self.counts}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        for name, saved in state["means"].items():
            for m, v in zip(self.means[name], saved, strict=True):
                m.copy_(v)
        self.counts = dict(state["counts"])
