"""Opening HDF5 files from strangers: every byte read must be in the file named.

HDF5 can point elsewhere: an external link to another file, a dataset whose raw storage is
an external file (e.g. /etc/passwd), a virtual dataset mapped onto other files. Any of them
would let a crafted stats file, report or ``--data`` file read (and copy into a report)
bytes the user never named, while provenance hashed only the small HDF5 file. They are
refused before anything is read.

A few kilobytes can also declare terabytes (a shape whose chunks were never written, or a
gzip bomb): ``declared_bytes`` adds up the declared sizes so that a reader can refuse them
before reading.
"""

from __future__ import annotations

import faulthandler
import math
import os
from collections.abc import Iterator
from contextlib import contextmanager

import h5py

from .memory import in_memory_bytes

#: What h5py raises on damaged bytes: RuntimeError and OSError from the library, KeyError for
#: a missing member, SystemError from its bindings after a failed link visit.
DAMAGE = (RuntimeError, OSError, KeyError, ValueError, TypeError, AttributeError, SystemError)


@contextmanager
def damage_as(error: type[Exception], path, remedy: str = "use an intact copy") -> Iterator[None]:
    """Inside the block, h5py's errors on damaged metadata (and on a group where a dataset
    belongs, or the reverse: AttributeError) raise ``error`` naming ``path`` and ``remedy``."""
    try:
        yield
    except DAMAGE as e:
        raise error(f"{path} is damaged or truncated ({e}); {remedy}") from e


def foreign_reference(f: h5py.File) -> str | None:
    """A description of the first link or dataset whose bytes live outside ``f``, or None."""
    found: list[str] = []

    def visit(name: str, link) -> bool | None:
        if isinstance(link, h5py.ExternalLink):
            found.append(f"/{name} is an external link to {link.filename}")
        elif isinstance(link, h5py.HardLink) and isinstance(f.get(name), h5py.Dataset):
            dataset = f[name]
            if dataset.external:
                found.append(f"/{name} stores its bytes in external file(s)")
            elif dataset.is_virtual:
                found.append(f"/{name} is a virtual dataset mapped onto other files")
        return True if found else None

    f.visititems_links(visit)
    return found[0] if found else None


def refuse_foreign(f: h5py.File, path, error: type[Exception]) -> None:
    """Raise ``error`` (naming ``path``) when ``f`` points outside itself."""
    with damage_as(error, path):
        reason = foreign_reference(f)
    if reason is not None:
        raise error(
            f"{path}: {reason}; latentprobe reads only bytes inside the file named "
            "(copy the data into the file)"
        )


def declared_bytes(f: h5py.File) -> int:
    """Bytes the datasets of ``f`` would take in memory, at least 8 per value (they are read
    as float64), from their declared shapes: nothing is read. A dataset reached by several
    links counts once per link."""
    total = 0

    def visit(name: str, link) -> None:
        nonlocal total
        if isinstance(link, (h5py.HardLink, h5py.SoftLink)):
            dataset = f.get(name)
            if isinstance(dataset, h5py.Dataset):
                total += in_memory_bytes(dataset.size or 0, dataset.dtype.itemsize)

    f.visititems_links(visit)
    return total


def unwritten(dataset: h5py.Dataset) -> bool:
    """Whether parts of ``dataset`` were never written: HDF5 reads them as fill values, so a
    file of a few bytes can declare terabytes of zeros."""
    if dataset.size == 0 or dataset.id.get_storage_size() == 0:
        return bool(dataset.size)
    if dataset.chunks is None:
        return False  # contiguous or compact storage is allocated whole
    per_axis = (-(-n // c) for n, c in zip(dataset.shape, dataset.chunks, strict=True))
    return dataset.id.get_num_chunks() < math.prod(per_axis)


def _touch(path) -> None:
    """Open ``path`` and read what a reader reads first: every attribute's value, and the
    first element of every dataset (not the data: this must stay cheap)."""
    with h5py.File(path, "r") as f:

        def visit(name: str, obj) -> None:
            for key in obj.attrs:
                obj.attrs[key]
            if isinstance(obj, h5py.Dataset) and obj.size:
                obj[(0,) * obj.ndim]

        for key in f.attrs:
            f.attrs[key]
        f.visititems(visit)


def crash_signal(path) -> int | None:
    """The signal that killed a forked child reading ``path`` with ``_touch``, or None. A
    damaged file can crash the HDF5 library itself (a segmentation fault on a corrupt
    variable-length string heap, found by the byte-mutation fuzz): trying it in a child
    first turns that into an error the caller can report. None where fork is missing."""
    if not hasattr(os, "fork"):
        return None
    pid = os.fork()
    if pid == 0:  # the child: never return into the caller's code
        faulthandler.disable()  # its crash is expected: no traceback dump on the shared stderr
        try:
            _touch(path)
        finally:
            os._exit(0)
    _, status = os.waitpid(pid, 0)
    return os.WTERMSIG(status) if os.WIFSIGNALED(status) else None


def refuse_crashing(path, error: type[Exception], remedy: str) -> None:
    """Raise ``error`` when reading ``path`` crashes the HDF5 library (see crash_signal)."""
    signum = crash_signal(path)
    if signum is not None:
        raise error(
            f"{path} is damaged: reading it crashed the HDF5 library (signal {signum}); {remedy}"
        )
