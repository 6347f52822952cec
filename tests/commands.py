"""Running the `gan` command as a user would, in a subprocess."""

from __future__ import annotations

import contextlib
import io
import os
import subprocess
import sys
from pathlib import Path

GAN = str(Path(sys.executable).with_name("gan"))
ENV = {**os.environ, "OMP_NUM_THREADS": "1", "COLUMNS": "120", "HYDRA_FULL_ERROR": ""}


def gan(*args: str, cwd: Path | None = None, status: int | None = 0, timeout: float = 300) -> subprocess.CompletedProcess[str]:
    """Run the installed `gan` command; check its exit status unless `status` is None."""
    done = subprocess.run([GAN, *args], cwd=cwd, env=ENV, capture_output=True, text=True, timeout=timeout)
    if status is not None:
        assert done.returncode == status, f"exit {done.returncode}\n{done.stdout}\n{done.stderr}"
    return done


def assert_clean_error(done: subprocess.CompletedProcess[str], *phrases: str) -> None:
    """A user's mistake: non-zero exit, the phrases in the message, and no traceback."""
    out = done.stdout + done.stderr
    assert done.returncode != 0, out
    assert "Traceback" not in out, out
    for phrase in phrases:
        assert phrase in " ".join(out.split()), f"{phrase!r} not in:\n{out}"


def run_cli(args: list[str]) -> tuple[object, str]:
    """`gan ARGS` in this process (faster than a subprocess): its exit status (0 when it returns) and all it printed."""
    from gan_cli import cli

    out, err = io.StringIO(), io.StringIO()
    status: object = 0
    argv = sys.argv
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        try:
            cli.main(args)
        except SystemExit as e:
            status = e.code
        finally:
            sys.argv = argv
    return status, out.getvalue() + err.getvalue()
