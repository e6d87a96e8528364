"""Progress bars on stderr for long work, shown only where the caller asked for them (the
command line does when stderr is a terminal and --quiet is not given). Code deep in an
analyzer wraps its loop in ``steps``; whether a bar appears is decided by ``shown``."""

from __future__ import annotations

import contextvars
import sys
from collections.abc import Iterable, Iterator
from contextlib import contextmanager

#: Work expected to take less than this many seconds gets no bar.
QUIET_SECONDS = 5.0

_SHOWN = contextvars.ContextVar("latentprobe_progress_shown", default=False)


@contextmanager
def shown(enabled: bool) -> Iterator[None]:
    """Within this block, ``steps`` and ``bar`` draw their bars when ``enabled``."""
    token = _SHOWN.set(enabled)
    try:
        yield
    finally:
        _SHOWN.reset(token)


def bar(total: int | None, what: str, unit: str = "it", enabled: bool | None = None):
    """A tqdm bar on stderr (a disabled one when progress is not shown); used as a context."""
    from tqdm import tqdm

    enabled = _SHOWN.get() if enabled is None else enabled
    return tqdm(
        total=total, unit=unit, desc=what, disable=not enabled, file=sys.stderr, leave=False
    )


def steps(items: Iterable, total: int, what: str, seconds: float = float("inf")) -> Iterable:
    """``items``, counted on a bar when progress is shown and the work is expected to take
    ``seconds`` >= QUIET_SECONDS."""
    if not _SHOWN.get() or seconds < QUIET_SECONDS:
        return items
    return _counted(items, total, what)


def _counted(items: Iterable, total: int, what: str) -> Iterator:
    with bar(total, what) as b:
        for item in items:
            yield item
            b.update()
