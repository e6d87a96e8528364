"""Figures for a report (matplotlib with the Agg backend, no display needed).

``units.png`` shows every per-unit column the analyses declare, coloured by status; each
analysis may add figures of its own (``figures`` in its table entry), drawn here onto a
fresh matplotlib figure and saved atomically.
"""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np

from ..atomic import atomic_path
from ..errors import OutputError
from ..registry import ANALYSES
from ..verdict import STATUS_COLOURS
from .document import declared_columns


def _pyplot():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def draw_units(fig, report) -> None:
    """One bar panel per per-unit column, bars coloured by the unit's status."""
    columns = declared_columns(report)
    colours = [STATUS_COLOURS[s] for s in report.verdict.unit_status]
    n_units = report.stats.n_units
    fig.set_size_inches(max(6, 0.35 * n_units), 2.4 * len(columns))
    axes = fig.subplots(len(columns), 1, sharex=True, squeeze=False)[:, 0]
    for ax, (column, values) in zip(axes, columns, strict=True):
        heights = np.asarray(values, float)
        ax.bar(np.arange(n_units), np.where(np.isfinite(heights), heights, 0.0), color=colours)
        ax.set_ylabel(column.label, fontsize=8)
    axes[-1].set_xlabel("latent unit (green active, orange inactive, red collapsed)")


def figure_drawers(report) -> dict:
    """File stem -> function drawing that figure onto a matplotlib Figure."""
    drawers = {"units": lambda fig: draw_units(fig, report)} if declared_columns(report) else {}
    for name, result in report.results.items():
        if ANALYSES[name].figures:
            drawers.update(ANALYSES[name].figures(result, report.verdict.unit_status))
    return drawers


def _save(draw, path: Path) -> Path:
    plt = _pyplot()
    fig = plt.figure()
    try:
        draw(fig)
        fig.tight_layout()
        with atomic_path(path, force=True) as temp:
            fig.savefig(temp, format="png", dpi=120)
    finally:
        plt.close(fig)
    return path


def plots_folder(folder) -> Path:
    """The figures' folder, created (with its parents) if missing; called before any work so
    that a bad ``--plots`` fails before a report is written."""
    folder = Path(folder)
    if folder.exists() and not folder.is_dir():
        raise OutputError(f"--plots {folder} is a file; pass a folder for the figures")
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        raise OutputError(f"cannot create --plots {folder} ({e.strerror}); pass another") from e
    return folder


def write_plots(report, folder) -> list[Path]:
    """Write every figure of the report as PNG into ``folder`` (created if missing)."""
    folder = plots_folder(folder)
    drawers = figure_drawers(report).items()
    return [_save(draw, folder / f"{_file_stem(stem)}.png") for stem, draw in drawers]


def _file_stem(stem: str) -> str:
    """A file name from a figure's name (label-set names come from user files)."""
    return re.sub(r"[^\w.-]", "_", stem).lstrip(".") or "figure"
