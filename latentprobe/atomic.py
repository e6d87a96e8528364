"""Write a file under a temporary name in the target folder; publish it only when complete.

The temporary is created exclusively under an unpredictable name (``tempfile.mkstemp``), so a
name planted in advance (a symlink to another file) is never followed. Without ``force`` the
finished file is published with a hard link, which fails if the name appeared meanwhile: two
runs writing the same new output cannot silently replace each other.
"""

from __future__ import annotations

import errno
import os
import resource
import shutil
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from .errors import OutputError
from .memory import size_text

#: errno values that mean the output could not be written (not that an input is bad).
WRITE_FAILURES = {errno.ENOSPC, errno.EFBIG, errno.EDQUOT, errno.EROFS}


def check_output_path(path, *, force: bool = False) -> Path:
    """Refuse a missing output folder, or an existing file unless ``force``."""
    path = Path(path)
    if not path.parent.resolve().is_dir():
        raise OutputError(f"output folder does not exist: {path.parent}; create it first")
    if path.is_dir():
        raise OutputError(f"output path {path} is a folder; pass a file name")
    if path.exists() and not force:
        raise OutputError(f"{path} already exists; pass --force to overwrite it")
    return path


def _needed(nbytes: int) -> int:
    return int(nbytes * 1.05) + 2**20  # metadata and chunk padding


def reserve(temp: Path, path: Path, nbytes: int) -> None:
    """Check the room for an output ``path`` of about ``nbytes``, then allocate it to its
    temporary file ``temp``: space that another process takes while HDF5 writes can no
    longer make a write fail halfway (which crashed HDF5). The writer must open ``temp``
    afterwards; HDF5 trims the file to its contents when it closes it. Where the file system
    cannot allocate ahead, only the check is made."""
    check_room(path, nbytes)
    fd = os.open(temp, os.O_RDWR)
    try:
        os.posix_fallocate(fd, 0, _needed(nbytes))
    except OSError as e:
        if e.errno not in (errno.EOPNOTSUPP, errno.EINVAL, errno.ENOSYS):
            raise
    finally:
        os.close(fd)


def check_room(path, nbytes: int) -> None:
    """Refuse, before anything is written, an output of about ``nbytes`` that cannot fit: the
    folder's free space, or this process's file-size limit (``ulimit -f``). (A write that
    fails inside HDF5 leaves the library in a state that can crash the process.)"""
    path = Path(path)
    need = _needed(nbytes)
    free = shutil.disk_usage(path.parent.resolve()).free
    if need > free:
        raise OutputError(
            f"cannot write {path}: it needs about {size_text(need)} and {path.parent} has "
            f"{size_text(free)} free; free some space or write elsewhere"
        )
    limit = resource.getrlimit(resource.RLIMIT_FSIZE)[0]
    if limit != resource.RLIM_INFINITY and need > limit:
        raise OutputError(
            f"cannot write {path}: it needs about {size_text(need)}, more than this process's "
            f"file-size limit ({size_text(limit)}, ulimit -f); raise the limit"
        )


def _temporary(path: Path) -> Path:
    try:
        fd, name = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    except OSError as e:
        raise OutputError(
            f"cannot write in {path.parent} ({e.strerror}); choose another folder"
        ) from e
    os.close(fd)
    umask = os.umask(0)
    os.umask(umask)
    os.chmod(name, 0o666 & ~umask)  # the permissions an ordinary new file would get
    return Path(name)


def _publish(temp: Path, path: Path, force: bool) -> None:
    if force:
        os.replace(temp, path)
        return
    try:
        os.link(temp, path)
    except FileExistsError as e:
        raise OutputError(
            f"{path} was created by someone else while this run wrote it; "
            "pass --force to overwrite it"
        ) from e
    temp.unlink()


@contextmanager
def atomic_path(path, *, force: bool = False) -> Iterator[Path]:
    """Yield an empty temporary file beside ``path``; on success it becomes ``path``.

    On any exception (KeyboardInterrupt and SystemExit included: the command line turns
    SIGTERM into SystemExit) the temporary is removed and nothing appears under the final
    name; an existing file there is left untouched.
    """
    path = check_output_path(path, force=force)
    temp = _temporary(path)
    try:
        yield temp
        _publish(temp, path, force)
    except OSError as e:
        temp.unlink(missing_ok=True)
        if e.errno in WRITE_FAILURES:
            raise OutputError(
                f"cannot write {path}: {os.strerror(e.errno)}; free some space or write elsewhere"
            ) from e
        raise
    except BaseException:
        temp.unlink(missing_ok=True)
        raise
