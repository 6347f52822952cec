"""Hydra callbacks: checks that must run before Hydra itself touches the disk."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from hydra.experimental.callback import Callback
from omegaconf import DictConfig

from gan_cli.errors import fail


def check_writable(folder: str, key: str) -> None:
    """Stop with a message when `folder` cannot be created and written (Hydra would raise a traceback).

    Nothing is created here: the folder's name may hold the time, and Hydra makes it a moment later.
    """
    path = Path(folder).expanduser().absolute()
    existing = next(p for p in (path, *path.parents) if p.exists())
    if not existing.is_dir():
        fail(f"{key}={folder!r} cannot be created: {existing} is a file, not a folder. Choose another {key}.")
    if not os.access(existing, os.W_OK | os.X_OK):
        fail(f"{key}={folder!r} cannot be written: {existing} is not writable by you. Choose another {key}.")


class CheckOutputDir(Callback):
    def __init__(self, name: str = "hydra.run.dir") -> None:
        self.name = name  # what the user sets to choose the folder (`out` for gan sample and gan eval)

    def on_run_start(self, config: DictConfig, **kwargs: Any) -> None:
        check_writable(str(config.hydra.run.dir), self.name)

    def on_multirun_start(self, config: DictConfig, **kwargs: Any) -> None:
        check_writable(str(config.hydra.sweep.dir), "hydra.sweep.dir")
