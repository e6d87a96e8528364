"""The JSON document of a report, built from the results' dataclass fields.

Per-example arrays (``per="example"``) stay in the HDF5 report; NaN and infinity become
null; nested results become nested objects.
"""

from __future__ import annotations

import dataclasses
import json
import math
from typing import NamedTuple

import numpy as np

from ..analyzers.result import Result
from ..registry import ANALYSES


def plain(value):
    """A JSON-ready copy: arrays to lists, numpy scalars to Python, non-finite to None."""
    if isinstance(value, Result):
        return result_document(value)
    if isinstance(value, np.ndarray):
        return plain(value.tolist())
    if isinstance(value, np.generic):
        return plain(value.item())
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, dict):
        return {str(k): plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [plain(v) for v in value]
    return value


def result_document(result: Result) -> dict:
    """Every field of a result except its per-example arrays."""
    return {
        f.name: plain(getattr(result, f.name))
        for f in dataclasses.fields(result)
        if f.metadata.get("per") != "example"
    }


class UnitColumn(NamedTuple):
    """A declared per-unit column of a report: its values (D,), their standard errors (the
    result's ``<field>_stderr`` array, None when it has none) and its threshold (or None)."""

    column: object
    values: np.ndarray
    stderr: np.ndarray | None
    threshold: float | None


def unit_columns(report) -> list[UnitColumn]:
    """Every per-unit column the analyses that ran declare in the table, in table order."""
    found = []
    for name, result in report.results.items():
        for column in ANALYSES[name].columns:
            threshold = column.threshold
            found.append(
                UnitColumn(
                    column,
                    getattr(result, column.field),
                    getattr(result, f"{column.field}_stderr", None),
                    threshold(result, report.verdict.thresholds) if threshold else None,
                )
            )
    return found


def declared_columns(report) -> list[tuple]:
    """(column, values of shape (D,)) for every declared per-unit column."""
    return [(u.column, u.values) for u in unit_columns(report)]


def unit_rows(report) -> list[dict]:
    """One row per unit: index, status, and every declared per-unit column."""
    rows = [{"index": i, "status": s} for i, s in enumerate(report.verdict.unit_status)]
    for column, values in declared_columns(report):
        for row, value in zip(rows, values, strict=True):
            row[column.key] = plain(value)
    return rows


def report_document(report) -> dict:
    """The document of ``latentprobe analyze --json`` (every figure in nats)."""
    v = report.verdict
    return {
        "verdict": v.model,
        "z_informative": v.z_informative,
        "decoder_uses_z": v.decoder_uses_z,
        "n_examples": report.stats.n_examples,
        "n_units": report.stats.n_units,
        "posterior_family": report.stats.family,
        "units": "nats",
        "active_units": v.units_with("active"),
        "ignored_units": v.units_with("ignored"),
        "inactive_units": v.units_with("inactive"),
        "undetermined_units": v.units_with("undetermined"),
        "collapsed_units": v.units_with("collapsed"),
        "agreement": dict(v.agreement),
        "basis": dict(v.basis),
        "notes": list(v.notes),
        "thresholds": plain(dataclasses.asdict(v.thresholds)),
        "per_unit": unit_rows(report),
        **_layout(report),
        "analyses": {name: result_document(r) for name, r in report.results.items()},
    }


def _layout(report) -> dict:
    """For a latent with a layout (C, H, W): the shape, and the per-unit columns combined
    per channel and per position (``groups``)."""
    from .groups import group_rows, is_grouped

    if not is_grouped(report):
        return {}
    return {
        "latent_shape": list(report.stats.latent_shape),
        "per_channel": group_rows(report, "channel"),
        "per_position": group_rows(report, "position"),
    }


def report_json(report) -> str:
    return json.dumps(report_document(report), indent=2)
