"""A run's checkpoints while it trains: what goes into one, and never a broken one over a good one."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from gan_cli import checkpoint
from gan_cli.loop import Trainer


class RunCheckpoints:
    """Writes the trainer's state with everything a checkpoint describes itself by (config, choices, overrides, arch)."""

    def __init__(
        self, trainer: Trainer, run_dir: Path, resolved: dict[str, Any], choices: dict[str, str], overrides: list[str], keep: int, member: int = 0
    ) -> None:
        self.trainer, self.member = trainer, member  # which of the trainer's members this run is (0 in an ordinary run)
        self.resolved = resolved  # the run's config as plain data; a divergence roll-back lowers its rates
        self.describe = {"choices": choices, "overrides": overrides, "arch": trainer.exp.arch}
        self.folder = checkpoint.Folder(run_dir / "checkpoints", keep=keep)
        self.wrote_one = False  # whether this process has written a checkpoint (a roll-back goes to it, or to the start)

    @property
    def last(self) -> Path:
        return self.folder.last

    def save(self, step: int, periodic: bool = True) -> None:
        if not self.trainer.alive[self.member] or not self.trainer.weights_finite(self.member):
            return  # never replace a good checkpoint with broken weights, nor with a frozen member's
        parts = self.trainer.state_dict(self.member) | {"config": self.resolved} | self.describe  # every rank: it gathers their RNGs
        if self.trainer.ranks.writes:
            self.folder.save(checkpoint.make(**parts), step, periodic)
            self.wrote_one = True
