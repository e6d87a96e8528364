"""Frozen, self-describing results.

Every analysis returns a ``@dataclass(frozen=True)`` subclass of ``Result`` whose fields are
declared with ``quantity``: a description, units, and what the value is per (the model, each
unit, or each example). From these, ``store`` writes and reads the result (each field's kind
is written beside it, so reading back is exact) and the outputs build the JSON document and
the per-unit table; no output names a field by hand.
"""

from __future__ import annotations

import dataclasses
import functools
import typing
from dataclasses import dataclass

import numpy as np

from .intervals import Z95

PER = ("model", "unit", "example")


def quantity(description: str, units: str = "", *, per: str = "model", dims=None, **kwargs):
    """A result field documented in the report.

    ``per``: ``model`` (one value), ``unit`` (an array with one entry per latent unit, a
    column of the per-unit table) or ``example`` (an array with one row per example: kept in
    the HDF5 report, left out of the JSON document). ``dims`` names an array's axes in the
    report (its HDF5 dimension scales, so xarray sees named dimensions); by default
    ``("unit",)`` or ``("example",)`` from ``per``, and ``(name, "unit")`` for a 2-D array.
    """
    if per not in PER:
        raise ValueError(f"per must be one of {PER}, got {per!r}")
    metadata = {"description": description, "units": units, "per": per}
    if dims is not None:
        metadata["dims"] = tuple(dims)
    return dataclasses.field(metadata=metadata, **kwargs)


def dimension_names(field: dataclasses.Field, ndim: int) -> tuple[str, ...]:
    """The names of an array field's axes: declared ``dims``, else from ``per`` (a second
    axis being the units), else ``<field>_axis<i>``."""
    declared = field.metadata.get("dims")
    if declared is not None and len(declared) == ndim:
        return tuple(declared)
    per = field.metadata.get("per", "model")
    first = (per,) if per in ("unit", "example") else ()
    names = [*first, "unit"][:ndim] if first and ndim <= 2 else list(first)
    return tuple(names) + tuple(f"{field.name}_axis{i}" for i in range(len(names), ndim))


class Result:
    """Base class of the frozen analysis results (the behaviour lives in ``store`` and the
    outputs, which walk ``dataclasses.fields``)."""

    def check(self) -> None:
        """Raise ValueError when fields disagree with each other (a result read from a file:
        the reader has already checked each array's type and its rows per unit or example)."""


def _kind(hint) -> str:
    if hint is np.ndarray:
        return "array"
    if hint in (float, int, bool, str):
        return hint.__name__
    origin, args = typing.get_origin(hint), typing.get_args(hint)
    if origin is dict and len(args) == 2 and isinstance(args[1], type):
        if issubclass(args[1], Result):
            return "results"
    return "json"


@functools.cache
def field_kinds(result_type: type) -> dict[str, str]:
    """Field name -> how it is stored (``array``, ``float``, ``int``, ``bool``, ``str``,
    ``json`` or ``results``), from the class's resolved annotations, never from a value."""
    hints = typing.get_type_hints(result_type)
    return {f.name: _kind(hints[f.name]) for f in dataclasses.fields(result_type)}


@functools.cache
def nested_type(result_type: type, name: str) -> type:
    """The Result class held by a ``results`` field (``dict[str, SomeResult]``)."""
    return typing.get_args(typing.get_type_hints(result_type)[name])[1]


@dataclass(frozen=True)
class Estimate:
    """A headline figure of an analysis, as the tables that compare reports show it: the
    value, its standard error (0 when exact, NaN when none is known), the 95% interval and
    the units (``nats``, or empty for accuracies and counts)."""

    key: str
    title: str
    value: float
    stderr: float
    low: float
    high: float
    units: str = "nats"

    @classmethod
    def normal(cls, key: str, title: str, value, stderr, units: str = "nats") -> Estimate:
        """value +- 1.96 standard errors."""
        value, stderr = float(value), float(stderr)
        return cls(key, title, value, stderr, value - Z95 * stderr, value + Z95 * stderr, units)

    @classmethod
    def interval(cls, key: str, title: str, value, low, high, units: str = "") -> Estimate:
        """An estimate with its own 95% interval (a Wilson interval, or one moved into the
        estimand's range); the standard error is read off its half-width."""
        low, high = float(low), float(high)
        return cls(key, title, float(value), (high - low) / (2 * Z95), low, high, units)
