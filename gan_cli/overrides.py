"""Reading a command line's overrides as Hydra reads them (key, value, sweep or not)."""

from __future__ import annotations

from collections.abc import Sequence

from hydra.core.override_parser.overrides_parser import OverridesParser
from hydra.core.override_parser.types import Override


def parse_overrides(overrides: Sequence[str]) -> list[Override]:
    """The parsed overrides; [] when the line does not parse (that is Hydra's to report, with its own message)."""
    try:
        return OverridesParser.create().parse_overrides([str(o) for o in overrides])
    except Exception:
        return []
