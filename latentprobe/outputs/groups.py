"""Per-unit results of a spatial or sequence latent, grouped along its layout.

An encoder whose posteriors have the layout (C, H, W) (or (T, D), or any other) is analysed
unit by unit on the D = C x H x W flattened units (C order); its ``latent_shape`` comes
with the statistics. Here the per-unit columns are combined over the units of each channel
(the first axis of the layout) and of each position (the other axes): the KL and I(x;z_i)
are summed (the channel's rate is exactly the sum of its units' rates; the sum of I(x;z_i)
bounds nothing but shows where the information sits), other columns averaged, and the unit
statuses counted.
"""

from __future__ import annotations

import numpy as np

from ..verdict import STATUSES
from .document import declared_columns, plain


def is_grouped(report) -> bool:
    """Whether the latent has a layout to group by (more than one axis)."""
    return len(report.stats.latent_shape) > 1


def unit_groups(shape: tuple[int, ...], by: str) -> list[tuple[object, np.ndarray]]:
    """(label, unit indices) for each channel (``by="channel"``: the first axis) or each
    position (``by="position"``: the other axes, labelled by their indices)."""
    index = np.arange(int(np.prod(shape))).reshape(shape[0], -1)
    if by == "channel":
        return [(c, index[c]) for c in range(shape[0])]
    return [(list(np.unravel_index(p, shape[1:])), index[:, p]) for p in range(index.shape[1])]


def group_rows(report, by: str) -> list[dict]:
    """One row per channel or position: its units, their status counts and every declared
    per-unit column combined over them."""
    statuses = np.asarray(report.verdict.unit_status)
    columns = declared_columns(report)
    rows = []
    for label, units in unit_groups(report.stats.latent_shape, by):
        row = {by: plain(label), "units": len(units)}
        row.update({s: int((statuses[units] == s).sum()) for s in STATUSES})
        for column, values in columns:
            picked = np.asarray(values, dtype=float)[units]
            row[column.key] = plain(picked.sum() if column.combine == "sum" else picked.mean())
        rows.append(row)
    return rows
