"""Write a file under a temporary name in the target folder; rename it only when complete."""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from .errors import OutputError


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


@contextmanager
def atomic_path(path, *, force: bool = False) -> Iterator[Path]:
    """Yield a temporary path beside ``path``; on success rename it to ``path``.

    On any exception (including KeyboardInterrupt) the temporary file is removed and
    nothing appears under the final name; an existing file there is left untouched.
    """
    path = check_output_path(path, force=force)
    temp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        yield temp
        os.replace(temp, path)
    except BaseException:
        temp.unlink(missing_ok=True)
        raise
