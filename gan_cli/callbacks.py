"""Hydra callbacks: checks that must run before Hydra itself touches the disk, and a sweep's start and end."""

from __future__ import annotations

import os
import shutil
import tempfile
from pathlib import Path
from typing import Any

from hydra.experimental.callback import Callback
from omegaconf import DictConfig

from gan_cli import resolvers, sweep
from gan_cli.errors import fail, user_errors
from gan_cli.log import console


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


class Sweep(Callback):
    """A sweep's start and end, in the process that runs the sweeper (the jobs may run elsewhere)."""

    def on_multirun_start(self, config: DictConfig, **kwargs: Any) -> None:
        launcher = str(config.hydra.launcher.get("_target_", ""))
        if launcher.endswith(".SlurmLauncher"):
            if shutil.which("sbatch") is None:  # submitit would fail with a traceback at the first job
                fail(
                    "this SLURM launcher submits each job with sbatch, which is not on this machine's PATH. Run the sweep "
                    "on the cluster's login node, or run the same path here with hydra/launcher=submitit_local."
                )
            if config.hydra.launcher.get("max_num_timeout", 0) and config.get("resume") != "auto":
                console.print(
                    f"note: SLURM may requeue a job it stops at its time limit (hydra.launcher.max_num_timeout="
                    f"{config.hydra.launcher.max_num_timeout}); add resume=auto and a fixed hydra.sweep.dir so that it "
                    "continues from its last checkpoint instead of starting over."
                )
        # The jobs name their folders after the swept keys (resolvers.job_dir), wherever the launcher runs them.
        os.environ[resolvers.SWEPT_ENV] = ",".join(sorted(resolvers.swept_keys(list(config.hydra.overrides.task))))

    def on_multirun_end(self, config: DictConfig, **kwargs: Any) -> None:
        os.environ.pop(resolvers.SWEPT_ENV, None)
        if "optuna" in str(config.hydra.sweeper.get("_target_", "")):  # not an older study's results in a reused folder
            sweep.show_best(Path(str(config.hydra.sweep.dir)))
