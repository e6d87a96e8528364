"""How much of an input may be read into memory at once: arrays that are read whole (a stats
file, an .npz archive, label arrays, the inputs x for the analyses) are sized from their
declared shapes before a byte is read, and refused when they would not fit."""

from __future__ import annotations

import os
from pathlib import Path

#: A file is read whole only if its arrays, as float64, fit in this fraction of physical memory.
MEMORY_FRACTION = 0.25


def physical_memory() -> int | None:
    """Bytes of physical memory of this machine (None where the system does not say)."""
    try:
        return os.sysconf("SC_PHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
    except (AttributeError, ValueError, OSError):
        return None


def size_text(nbytes: float) -> str:
    """Bytes for messages: MiB below a GiB, GiB above."""
    if nbytes < 2**30:
        return f"{nbytes / 2**20:,.1f} MiB"
    return f"{nbytes / 2**30:,.1f} GiB"


def in_memory_bytes(values: int, itemsize: int) -> int:
    """Bytes of ``values`` numbers once read: at least 8 each (they become float64)."""
    return values * max(8, itemsize)


def refuse_unless_fits(
    needed: int, path: str | Path, what: str, error: type[Exception], remedy: str
) -> None:
    """Raise ``error`` when ``needed`` bytes of ``what`` in ``path`` exceed MEMORY_FRACTION of
    physical memory (a damaged or hostile file declares any size in a few bytes)."""
    memory = physical_memory()
    if memory is not None and needed > MEMORY_FRACTION * memory:
        raise error(
            f"{path} declares {size_text(needed)} of {what}, more than "
            f"{MEMORY_FRACTION:.0%} of this machine's {size_text(memory)} of memory (a damaged "
            f"file, or one for a bigger machine); {remedy}"
        )
