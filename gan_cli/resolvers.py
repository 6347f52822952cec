"""OmegaConf resolvers used by conf/; registered before Hydra composes anything."""

from __future__ import annotations

import re

from omegaconf import OmegaConf


def job_dir(override_dirname: str, num: int) -> str:
    """A sweep job's folder name: its overrides (loss=nonsat,seed=1), made safe as one path part."""
    name = re.sub(r"[/\\]+", "_", str(override_dirname)).strip(". ") or f"job{num}"
    return name[:200]  # file systems limit a name to 255 bytes


def register() -> None:
    if not OmegaConf.has_resolver("gan.job_dir"):
        OmegaConf.register_new_resolver("gan.job_dir", job_dir)
