"""Hydra callbacks: checks that must run before Hydra itself touches the disk."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path
from typing import Any

from hydra.experimental.callback import Callback
from omegaconf import DictConfig

from gan_cli.errors import fail, user_errors


def check_writable(folder: str, key: str) -> None:
    """Stop with a message when `folder` cannot be created and written (Hydra would raise a traceback).

    Permission bits do not tell (root passes them; /proc and read-only mounts refuse anyway), so this tries:
    it makes a probe folder in the nearest folder that exists and removes it at once. The folder itself is
    left to Hydra: its name may hold the time, and Hydra makes it a moment later.
    """
    path = Path(folder).expanduser().absolute()
    existing = next(p for p in (path, *path.parents) if p.exists())
    if not existing.is_dir():
        fail(f"{key}={folder!r} cannot be created: {existing} is a file, not a folder. Choose another {key}.")
    try:
        os.rmdir(tempfile.mkdtemp(prefix=".gan-write-check-", dir=existing))
    except OSError as e:
        fail(
            f"{key}={folder!r} cannot be created: making a folder in {existing} fails ({e.strerror}). "
            f"Choose another {key}, in a folder you can write to."
        )


class CheckOutputDir(Callback):
    def __init__(self, name: str = "hydra.run.dir") -> None:
        self.name = name  # what the user sets to choose the folder (`out` for gan sample and gan eval)

    # user_errors: a broken ${...} in the folder's name would reach Hydra, which turns a callback's exception
    # into a warning and then fails with a traceback where it reads the name itself.
    def on_run_start(self, config: DictConfig, **kwargs: Any) -> None:
        with user_errors():
            check_writable(str(config.hydra.run.dir), self.name)

    def on_multirun_start(self, config: DictConfig, **kwargs: Any) -> None:
        with user_errors():
            check_writable(str(config.hydra.sweep.dir), "hydra.sweep.dir")
