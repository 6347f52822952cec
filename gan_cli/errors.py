"""Mistakes a user can make end in one paragraph that says what to do, never a traceback."""

from __future__ import annotations

import contextlib
import sys
from collections.abc import Iterator

from rich.console import Console
from rich.markup import escape

# Exit statuses: 2 for anything the user can fix, 3 for a run that diverged.
USAGE_ERROR = 2
DIVERGED = 3

_stderr = Console(stderr=True, highlight=False, soft_wrap=True)


class UserError(Exception):
    """An error the user caused and can fix; its message must say how."""


class DataModelMismatch(UserError):
    """A model that cannot take this data's samples; the message gains the combinations that work."""


def fail(message: str, status: int = USAGE_ERROR) -> None:
    """Print `message` as one paragraph on stderr and exit with `status`."""
    _stderr.print(f"[bold red]error:[/] {escape(message)}", markup=True)  # escaped: "+reg=[ema]" is not markup
    sys.exit(status)


@contextlib.contextmanager
def user_errors() -> Iterator[None]:
    """Turn UserError, a config that cannot be read, and Ctrl-C into a clean exit instead of a traceback."""
    from omegaconf.errors import OmegaConfBaseException

    try:
        yield
    except UserError as e:
        fail(str(e))
    except OmegaConfBaseException as e:  # e.g. an override whose value is a broken ${...} interpolation
        where = f" (at {e.full_key})" if getattr(e, "full_key", None) else ""
        fail(
            f"the config could not be read{where}: {str(e).splitlines()[0]}. Values written as ${{...}} are "
            "interpolations; check the overrides that use them, or quote a literal value."
        )
    except KeyboardInterrupt:
        fail("interrupted.", status=130)
