"""Opening HDF5 files from strangers: every byte read must be in the file named.

HDF5 can point elsewhere: an external link to another file, a dataset whose raw storage is
an external file (e.g. /etc/passwd), a virtual dataset mapped onto other files. Any of them
would let a crafted stats file, report or ``--data`` file read (and copy into a report)
bytes the user never named, while provenance hashed only the small HDF5 file. They are
refused before anything is read.
"""

from __future__ import annotations

import h5py


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
    if (reason := foreign_reference(f)) is not None:
        raise error(
            f"{path}: {reason}; latentprobe reads only bytes inside the file named "
            "(copy the data into the file)"
        )
