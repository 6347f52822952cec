"""Ctrl-C and SIGTERM during training: finish the round, checkpoint, flush the logs, then exit.

A second Ctrl-C stops at once; the previous checkpoint is intact either way (writes are atomic).
"""

from __future__ import annotations

import contextlib
import signal
import sys
import threading
from collections.abc import Iterator
from types import FrameType
from typing import Protocol

SIGNALS = (signal.SIGINT, signal.SIGTERM)


class Stoppable(Protocol):
    stop_signal: int | None


def exit_status(signum: int) -> int:
    return 128 + signum  # the shell's convention: 130 for SIGINT, 143 for SIGTERM


@contextlib.contextmanager
def stop_on_signals(loop: Stoppable) -> Iterator[None]:
    """While inside, SIGINT/SIGTERM set `loop.stop_signal` instead of killing the process."""
    if threading.current_thread() is not threading.main_thread():  # only the main thread may handle signals
        yield
        return

    def ask_to_stop(signum: int, frame: FrameType | None) -> None:
        if loop.stop_signal is not None and signum == signal.SIGINT:
            raise KeyboardInterrupt  # asked twice: the user wants out now
        loop.stop_signal = signum
        # Plain write: a signal handler must not wait on a lock the interrupted code may hold.
        sys.stderr.write(f"\n{signal.Signals(signum).name}: finishing this step and saving a checkpoint (Ctrl-C again to quit at once)\n")

    previous = {s: signal.signal(s, ask_to_stop) for s in SIGNALS}
    try:
        yield
    finally:
        for s, handler in previous.items():
            signal.signal(s, handler)
