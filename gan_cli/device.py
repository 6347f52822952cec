"""Pick the torch device named by the `device` config group."""

from __future__ import annotations

import torch

from gan_cli.errors import UserError

CHOICES = ("auto", "cpu", "cuda", "mps")


def _mps_available() -> bool:
    return hasattr(torch.backends, "mps") and torch.backends.mps.is_available()


def pick(name: str = "auto") -> torch.device:
    """Return the device for `name`; `auto` prefers cuda, then mps, then cpu."""
    if name == "auto":
        if torch.cuda.is_available():
            return torch.device("cuda")
        return torch.device("mps" if _mps_available() else "cpu")
    if name == "cpu":
        return torch.device("cpu")
    if name == "cuda":
        if not torch.cuda.is_available():
            raise UserError(
                f"device=cuda was asked for, but this PyTorch ({torch.__version__}) sees no CUDA GPU "
                "on this machine. Use device=cpu, or device=auto to take the best device present."
            )
        return torch.device("cuda")
    if name == "mps":
        if not _mps_available():
            raise UserError(
                "device=mps was asked for, but Apple's Metal backend is not available here. "
                "Use device=cpu, or device=auto to take the best device present."
            )
        return torch.device("mps")
    raise UserError(f"device.name={name!r} is not a device; use one of: {', '.join(CHOICES)}.")
