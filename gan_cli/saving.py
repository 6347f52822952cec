"""A run's checkpoints while it trains: what goes into one, and never a broken one over a good one."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from gan_cli import checkpoint
from gan_cli.loop import Trainer


class RunCheckpoints:
    """Writes the trainer's state with everything a checkpoint describes itself by (config, choices, overrides, arch)."""

    def __init__(self, trainer: Trainer, run_dir: Path, resolved: dict[str, Any], choices: dict[str, str], overrides: list[str], keep: int) -> None:
        self.trainer = trainer
        self.resolved = resolved  # the run's config as plain data; a divergence roll-back lowers its rates
        self.describe = {"choices": choices, "overrides": overrides, "arch": trainer.exp.arch}
        self.folder = checkpoint.Folder(run_dir / "checkpoints", keep=keep)
        self.wrote_one = False  # whether this process has written a checkpoint (a roll-back goes to it, or to the start)

    @property
    def last(self) -> Path:
        return self.folder.last

    def save(self, step: int, periodic: bool = True) -> None:
        if not self.trainer.weights_finite():  # never replace a good checkpoint with broken weights
            return
        parts = self.trainer.state_dict() | {"config": self.resolved} | self.describe
        self.folder.save(checkpoint.make(**parts), step, periodic)
        self.wrote_one = True
