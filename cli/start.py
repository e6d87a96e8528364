"""The installed ``latentprobe`` command. Loading the libraries takes a second or two: a
Ctrl-C or SIGTERM then ends the command with one line instead of Python's traceback. Once
a command runs, ``main`` handles both (temporaries removed, nothing left)."""

from __future__ import annotations

import signal
import sys


def _stopped_while_starting(signum, frame):
    sys.stderr.write("error: stopped while starting; nothing was written\n")
    raise SystemExit(128 + signum)


def run() -> None:
    for signum in (signal.SIGINT, signal.SIGTERM):
        signal.signal(signum, _stopped_while_starting)
    from .main import main

    signal.signal(signal.SIGINT, signal.default_int_handler)
    main()
