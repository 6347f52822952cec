"""`gan sample traverse=cK`: InfoGAN's Figure 2. Each row holds one value of the categorical code (or one class
of a conditional G); the columns sweep continuous code K from -2 to 2, beyond the U(-1, 1) G was trained on, as
the paper does, to show what the code controls; the rest of z is one draw, the same in every cell."""

from __future__ import annotations

import re
from typing import Any

import torch

from gan_cli.errors import UserError
from gan_cli.latent import Latent

SWEEP = (-2.0, 2.0)  # the paper's range: twice the training range, so the direction of the change is plain


def code_index(traverse: str, latent: Latent, ckpt: str) -> int:
    """The 0-based index of the continuous code `traverse` (c1, c2, ...) names in this checkpoint's z."""
    if not latent.continuous:
        raise UserError(
            f"traverse={traverse} sweeps a continuous code, but {ckpt} was trained without any (latent.continuous=0). "
            "Drop traverse=, or train with InfoGAN's continuous codes: gan train +reg=[infogan] latent.continuous=2 ..."
        )
    match = re.fullmatch(r"c([1-9][0-9]*)", str(traverse))
    names = ", ".join(f"c{k}" for k in range(1, latent.continuous + 1))
    if match is None or int(match.group(1)) > latent.continuous:
        raise UserError(f"traverse={traverse} is not a continuous code of {ckpt}, whose z has {latent.continuous} ({names}). Give traverse= one of those.")
    return int(match.group(1)) - 1


def row_codes(latent: Latent, label: Any, rows: int) -> torch.Tensor | None:
    """The categorical code (or class) of each row: every value, or the classes label= names; None without a code."""
    if not latent.categories:
        return None
    return torch.arange(latent.categories) if label is None else torch.tensor([label] if isinstance(label, int) else list(label))


def traversal_noise(latent: Latent, k: int, codes: torch.Tensor | None, rows: int, columns: int, seed: int) -> torch.Tensor:
    """(R * columns, width), row after row: row r carries code codes[r] (or, without a code, its own noise draw),
    column j sets continuous code k to the j-th of `columns` even steps over SWEEP; all else is the seed's draw."""
    count = rows if codes is None else len(codes)
    drawn = latent.sample(1 if codes is not None else count, generator=torch.Generator().manual_seed(seed))  # (1 or R, width)
    z = drawn.repeat_interleave(columns, 0) if codes is None else drawn.repeat(count * columns, 1)  # (R * columns, width)
    if codes is not None:
        latent.set_code(z, codes.repeat_interleave(columns))
    latent.continuous_codes(z)[:, k] = torch.linspace(*SWEEP, columns).repeat(count)
    return z
