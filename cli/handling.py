"""How every command ends on an error, a warning or a signal: one line on stderr and the
exit code of its kind (``latentprobe.errors``), temporaries removed."""

from __future__ import annotations

import contextlib
import functools
import signal
import sys
import threading
import warnings

import click

from latentprobe.errors import LatentprobeError


def _one_line_warning(message, category, filename, lineno, file=None, line=None):
    click.echo(f"warning: {' '.join(str(message).split())}", err=True)


def _terminate(signum, frame):
    click.echo(f"error: stopped by {signal.Signals(signum).name}; no output was written", err=True)
    raise SystemExit(128 + signum)  # unwinds like Ctrl-C: temporaries are removed


@contextlib.contextmanager
def _sigterm_unwinds():
    """While a command runs, SIGTERM raises SystemExit (exit 143) so that cleanup runs."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = signal.signal(signal.SIGTERM, _terminate)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


def handle_errors(command):
    """Turn a LatentprobeError into one line on stderr and its exit code (unless --debug)."""

    @functools.wraps(command)
    def wrapper(*args, **kwargs):
        try:
            with warnings.catch_warnings(), _sigterm_unwinds():
                warnings.showwarning = _one_line_warning
                return command(*args, **kwargs)
        except LatentprobeError as e:
            if kwargs.get("debug"):
                raise
            click.echo(f"error: {' '.join(str(e).split())}", err=True)
            sys.exit(e.exit_code)
        except KeyboardInterrupt:
            click.echo("error: interrupted (Ctrl-C); no output was written", err=True)
            sys.exit(128 + signal.SIGINT)

    return wrapper
