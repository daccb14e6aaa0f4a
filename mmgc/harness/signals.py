"""SIGINT and SIGTERM as one exception, so every command stops the same way on Ctrl-C or a kill.

`interrupts_raise` installs handlers that raise `Interrupted` (a `KeyboardInterrupt`) in the main
thread, whatever was installed before: a process started in the background by a shell inherits an
ignored SIGINT, and ``ray.init`` replaces the SIGTERM handler with one that exits mid-way through
Ray's teardown. The command line maps `Interrupted` to exit code 130.
"""

from __future__ import annotations

import signal
import threading
from contextlib import contextmanager
from typing import Iterator

HANDLED = (signal.SIGINT, signal.SIGTERM)


class Interrupted(KeyboardInterrupt):
    """Raised by the handlers of `interrupts_raise`; ``signal_name`` says which signal it was."""

    def __init__(self, signum: int):
        super().__init__(signal.Signals(signum).name)
        self.signal_name = signal.Signals(signum).name


_UNREPORTED: list[str] = []  # signals raised as `Interrupted` that no command has reported yet (process state)


def _raise(signum: int, frame: object) -> None:
    _UNREPORTED.append(signal.Signals(signum).name)
    raise Interrupted(signum)


def raise_if_swallowed() -> None:
    """Raise `Interrupted` again for a signal whose exception did not stop the command: a handler
    that runs while Python executes a finalizer or a callback raises there, and Python prints
    "Exception ignored" and goes on. Called where long work reports progress (each epoch), so such
    a signal still stops the command at the next report."""
    if _UNREPORTED:
        raise Interrupted(signal.Signals[_UNREPORTED[-1]])


def take_unreported() -> str | None:
    """The last signal raised as `Interrupted` that nobody reported (then forgotten), or None. A command
    that prints its own line calls it too, so that the entry point prints nothing more."""
    name = _UNREPORTED[-1] if _UNREPORTED else None
    _UNREPORTED.clear()
    return name


@contextmanager
def interrupts_raise() -> Iterator[None]:
    """SIGINT and SIGTERM raise `Interrupted` inside the block; the previous handlers come back after.

    Outside the main thread (where Python cannot set handlers) the block runs unchanged."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = {s: signal.getsignal(s) for s in HANDLED}
    for s in HANDLED:
        signal.signal(s, _raise)
    try:
        yield
    finally:
        for s, handler in previous.items():
            signal.signal(s, handler if handler is not None else signal.SIG_DFL)
