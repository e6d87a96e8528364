"""Frozen result objects that write themselves to, and read themselves from, an HDF5 group.

Arrays become datasets, scalars become attributes; each field's ``metadata`` may carry
``units`` and ``description``, written beside it so that a report explains itself.
"""

from __future__ import annotations

import dataclasses
import json
import math

import h5py
import numpy as np


def quantity(description: str, units: str = "", **kwargs):
    """A dataclass field documented in the HDF5 file."""
    return dataclasses.field(metadata={"description": description, "units": units}, **kwargs)


class HDF5Result:
    """Mixin for ``@dataclass(frozen=True)`` results."""

    def write(self, group: h5py.Group) -> None:
        group.attrs["result_type"] = type(self).__name__
        for f in dataclasses.fields(self):
            value = getattr(self, f.name)
            if isinstance(value, np.ndarray):
                options = {"compression": "gzip"} if value.size > 4096 else {}
                ds = group.create_dataset(f.name, data=value, **options)
                _describe(ds.attrs, "", f.metadata)
            else:
                group.attrs[f.name] = _attribute(value)
                _describe(group.attrs, f"{f.name}.", f.metadata)

    @classmethod
    def read(cls, group: h5py.Group):
        values = {}
        for f in dataclasses.fields(cls):
            if f.name in group:
                values[f.name] = group[f.name][()]
            else:
                value = group.attrs[f.name]
                if isinstance(value, str) and (value.startswith(("[", "{")) or value == "null"):
                    value = json.loads(value)
                values[f.name] = value.item() if isinstance(value, np.generic) else value
        return cls(**values)


def _attribute(value):
    return json.dumps(value) if value is None or isinstance(value, (dict, list, tuple)) else value


def _describe(attrs, prefix: str, metadata) -> None:
    for key in ("description", "units"):
        if metadata.get(key):
            attrs[f"{prefix}{key}"] = metadata[key]


def finite_or_none(value):
    """JSON cannot hold NaN or infinity; they become null."""
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value
