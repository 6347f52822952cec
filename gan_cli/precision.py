"""Mixed precision (`amp`): which autocast the training steps run under, and on which devices each choice works.

Only the forward passes of the steps run under autocast. Everything they hand on (G's samples, D's logits, the
features InfoGAN's Q reuses) is cast to float32 first, so losses, tricks, metrics, pictures and checkpoints
see float32 whatever the choice.
"""

from __future__ import annotations

from typing import Literal

import torch
from omegaconf import DictConfig

from gan_cli.errors import UserError

Amp = Literal["none", "bf16", "fp16"]
MODES: tuple[Amp, ...] = ("none", "bf16", "fp16")
DTYPES = {"bf16": torch.bfloat16, "fp16": torch.float16}
# amp was a switch before it was a choice: true meant float16 with gradient scaling, and checkpoints of that time
# hold `amp: false`, so both spellings keep their meaning.
_SWITCH: dict[bool, Amp] = {False: "none", True: "fp16"}


def upgrade(cfg: DictConfig) -> None:
    """Turn the old amp=true/false of a command line or an older checkpoint's config into the choice it meant."""
    if isinstance(cfg.get("amp"), bool):
        cfg.amp = _SWITCH[cfg.amp]


def autocast(mode: Amp, device: torch.device) -> torch.autocast:
    """The autocast context of a training step's forward passes (a disabled one for amp=none)."""
    return torch.autocast(device.type, dtype=DTYPES.get(mode, torch.bfloat16), enabled=mode != "none")


def scaler(mode: Amp, device: torch.device) -> torch.amp.GradScaler:
    """A gradient scaler, on for float16 only: bfloat16 has float32's range, so its gradients do not underflow."""
    return torch.amp.GradScaler(device.type, enabled=mode == "fp16")


def check(mode: str, device: torch.device) -> None:
    """Refuse a precision the device cannot train in, before any work starts."""
    if mode == "fp16" and device.type != "cuda":
        raise UserError(
            f"amp=fp16 (float16 autocast with gradient scaling; also what amp=true means) needs a CUDA device, but this "
            f"run is on {device.type}. Use amp=bf16 for mixed precision here (bfloat16 autocast, which needs no gradient "
            "scaling and runs on CPU too), amp=none for full float32, or device=cuda for float16."
        )
    if mode == "bf16" and device.type not in ("cpu", "cuda"):
        raise UserError(f"amp=bf16 runs on CPU and CUDA devices, not on {device.type}. Use amp=none here, or device=cpu or device=cuda.")
