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


# Exit status of an override Hydra cannot parse or place (an unknown key, group or option), as Hydra's own.
HYDRA_ERROR = 1


@contextlib.contextmanager
def hydra_errors(command: str, config_name: str, overrides: list[str]) -> Iterator[None]:
    """Turn Hydra's errors about the command line into one paragraph that names the valid options.

    Hydra prints its own page (or a trimmed traceback) and exits 1 unless HYDRA_FULL_ERROR=1; with it set
    here its exceptions reach us instead. A user who set HYDRA_FULL_ERROR=1 gets Hydra's own output, and any
    other exception (a bug) keeps its full traceback.
    """
    import os

    from hydra.errors import HydraException
    from omegaconf.errors import OmegaConfBaseException

    previous = os.environ.get("HYDRA_FULL_ERROR")
    if previous == "1":
        yield
        return
    os.environ["HYDRA_FULL_ERROR"] = "1"
    try:
        yield
    except HydraException as e:
        from gan_cli.hydra_messages import explain

        fail(explain(e, command, config_name, overrides), status=HYDRA_ERROR)
    except OmegaConfBaseException as e:  # e.g. a broken ${...} in hydra.run.dir, read before the command starts
        with user_errors():
            raise e
    except KeyboardInterrupt:  # before the command's own handling starts (training checkpoints first)
        fail("interrupted.", status=130)
    finally:
        if previous is None:
            os.environ.pop("HYDRA_FULL_ERROR", None)
        else:
            os.environ["HYDRA_FULL_ERROR"] = previous
