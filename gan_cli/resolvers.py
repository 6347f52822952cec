"""OmegaConf resolvers used by conf/; registered before Hydra composes anything."""

from __future__ import annotations

import os
import re
import sys
from collections.abc import Sequence
from datetime import datetime

from omegaconf import OmegaConf

from gan_cli.overrides import parse_overrides
from gan_cli.resume import run_dir

# A launcher may run a sweep's jobs in other processes (joblib's workers, submitit's jobs), whose command line is
# not the sweep's. The sweep's start (callbacks.Sweep) leaves its swept keys here, and those processes inherit them.
SWEPT_ENV = "GAN_CLI_SWEPT_KEYS"


def swept_keys(argv: Sequence[str] | None = None) -> set[str]:
    """The keys a sweep varies (loss=minimax,nonsat; seed=range(3); ...), read from the command line."""
    args = [a for a in (sys.argv[1:] if argv is None else argv) if "=" in a and not a.startswith("-")]
    return {o.key_or_group for o in parse_overrides(args) if o.is_sweep_override()}


def job_dir(task_overrides: Sequence[str], num: int) -> str:
    """A sweep job's folder: only the settings the sweep varies (loss=nonsat,seed=1), as one safe path part.

    Overrides shared by every job (steps=..., data.root=...) would make each name long and alike.
    """
    swept = set(filter(None, os.environ[SWEPT_ENV].split(","))) if SWEPT_ENV in os.environ else swept_keys()
    parts = sorted((o.key_or_group, o.input_line) for o in parse_overrides(task_overrides) if o.key_or_group in swept)
    name = ",".join(line for _, line in parts) or f"job{num}"
    name = re.sub(r"[/\\]+", "_", name).strip(". ")
    return name[:200] if len(name) <= 200 else f"{name[:190]}_job{num}"  # a name is at most 255 bytes


# The start time every process of a torchrun run names its folder with (rank 0's); unset otherwise.
_started: list[datetime] = []


def set_start_time(when: datetime) -> None:
    _started[:] = [when]


def now(pattern: str) -> str:
    """The time in `pattern` (strftime), as Hydra's ${now:...}; under torchrun, rank 0's start time on every rank."""
    return (_started[0] if _started else datetime.now()).strftime(pattern)


def register() -> None:
    if not OmegaConf.has_resolver("gan.now"):
        OmegaConf.register_new_resolver("gan.now", now, use_cache=True)  # cached as Hydra's: one run, one time
    if not OmegaConf.has_resolver("gan.job_dir"):
        OmegaConf.register_new_resolver("gan.job_dir", job_dir)
    if not OmegaConf.has_resolver("gan.run_dir"):
        OmegaConf.register_new_resolver("gan.run_dir", run_dir)
