"""The installed ``latentprobe`` command. Loading the libraries takes a second or two: a
Ctrl-C or SIGTERM then ends the command with one line instead of Python's traceback. Once
a command runs, ``main`` handles both (temporaries removed, nothing left)."""

from __future__ import annotations

import os
import signal
import sys


def _stopped_while_starting(signum, frame):
    # Exit at once: nothing is written before ``main`` runs, and an exception raised here
    # could land inside a library's import and be swallowed there (the command then ran on).
    sys.stderr.write("error: stopped while starting; nothing was written\n")
    sys.stderr.flush()
    os._exit(128 + signum)


def run() -> None:
    for signum in (signal.SIGINT, signal.SIGTERM):
        signal.signal(signum, _stopped_while_starting)
    from .main import main

    signal.signal(signal.SIGINT, signal.default_int_handler)
    main()
