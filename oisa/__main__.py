"""The ``oisa`` script and ``python -m oisa``: start the command so that Ctrl-C at any moment
ends it in one line and status 130, even while the command's modules are still being imported.

This module imports nothing of oisa's at the top: importing the command (numpy, trio, click and
every layer) takes most of a second, and an interrupt in that time must be caught too. During
the imports Ctrl-C ends the process from its signal handler rather than by raising: a
KeyboardInterrupt raised in the middle of importlib can be swallowed (an import lock's weakref
callback reports it as "ignored" and the import goes on).
"""

from __future__ import annotations

import contextlib
import os
import signal
import sys
from types import FrameType
from typing import NoReturn

__all__ = ["main"]

INTERRUPTED = 130  # the shell's status for a process ended by SIGINT (128 + 2)


def main() -> int:
    """Run the ``oisa`` command on ``sys.argv``; return its exit status."""
    handler = signal.getsignal(signal.SIGINT)  # the default, unless started with SIGINT ignored
    if handler is signal.default_int_handler:
        signal.signal(signal.SIGINT, _interrupted_while_importing)
    try:
        from oisa.cli import main as command
    finally:
        signal.signal(signal.SIGINT, handler)  # trio installs its own handler only over the default one
    try:
        status = command()  # it reports an interrupt of the run itself
    except KeyboardInterrupt:  # one that came after it had said all it had to say
        signal.signal(signal.SIGINT, signal.SIG_IGN)
        sys.stderr.write("oisa: interrupted\n")
        status = INTERRUPTED
    # The process is ending: an interrupt now would only print a traceback over a finished run.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    if status == INTERRUPTED:
        _exit_interrupted()
    return status


def _interrupted_while_importing(signum: int, frame: FrameType | None) -> None:
    """Nothing has run yet, so nothing is lost by leaving at once."""
    sys.stderr.write("oisa: interrupted\n")
    _exit_interrupted()


def _exit_interrupted() -> NoReturn:
    """Leave with status 130 at once. A normal exit is not enough under ``python -m``: CPython
    (3.11) notes an interrupt that struck inside ``exec`` of a string (dataclasses build their
    methods that way) as unhandled even once it was caught, and ends the process with SIGINT
    instead of the status it was given."""
    for stream in (sys.stdout, sys.stderr):
        with contextlib.suppress(OSError, ValueError):
            stream.flush()
    os._exit(INTERRUPTED)


if __name__ == "__main__":
    sys.exit(main())
