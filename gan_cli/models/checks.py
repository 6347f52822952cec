"""Checks of model options, run before any weights are allocated: a typo must not ask for terabytes."""

from __future__ import annotations

from typing import Any

from gan_cli.errors import UserError

MAX_PARAMETERS = 200_000_000  # per network; 800 MB of float32, far beyond what these data sets need


def whole(key: str, value: Any, lo: int, hi: int) -> int:
    if not isinstance(value, int) or isinstance(value, bool) or not lo <= value <= hi:
        raise UserError(f"{key}={value!r} is not allowed: {key} must be a whole number from {lo} to {hi}.")
    return value


def fraction(key: str, value: Any) -> float:
    if not isinstance(value, (int, float)) or isinstance(value, bool) or not 0 <= value < 1:
        raise UserError(f"{key}={value!r} is not allowed: {key} must be a number in [0, 1), e.g. 0.3.")
    return float(value)


def size(key: str, parameters: int) -> None:
    if parameters > MAX_PARAMETERS:
        raise UserError(f"{key} gives a network of {parameters:,} parameters; the limit is {MAX_PARAMETERS:,}. Choose smaller widths.")


def nonnegative(key: str, value: Any) -> float:
    if not isinstance(value, (int, float)) or isinstance(value, bool) or not 0 <= value < float("inf"):
        raise UserError(f"{key}={value!r} is not allowed: {key} must be a finite number >= 0.")
    return float(value)
