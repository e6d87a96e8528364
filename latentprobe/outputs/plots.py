"""Figures for a report (matplotlib with the Agg backend, no display needed).

``units`` shows every per-unit column the analyses declare, one panel each, bars coloured
by status, 95% error bars where the analysis gives a standard error and the column's
threshold dashed; on a symmetric log scale, linear within a tenth of the threshold, so that
a collapsed unit's 0.001 nats is a visible bar and estimates at or below 0 stay in view.
Each analysis may add figures of its own (``figures`` in its table entry), drawn here onto
a fresh matplotlib figure and saved atomically as PNG, PDF (fonts embedded as TrueType) or
SVG.
"""

from __future__ import annotations

import io
import re
from pathlib import Path

import numpy as np

from ..analyzers.intervals import Z95
from ..atomic import atomic_path
from ..errors import OutputError
from ..registry import ANALYSES
from ..verdict import STATUS_COLOURS, STATUSES
from .document import unit_columns

FORMATS = ("png", "pdf", "svg")
#: Fonts embedded as TrueType (Type 42) in PDF, as journals ask; text kept as text in SVG.
FONTS = {"pdf.fonttype": 42, "ps.fonttype": 42, "svg.fonttype": "none"}
#: Linear range of the symmetric log scale of a column without a threshold.
LINEAR_WITHIN = 1e-4


def _pyplot():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def unit_panels(report) -> list[tuple]:
    """(column, values, stderr or None, threshold or None) of every declared column."""
    return [
        (u.column, np.asarray(u.values, float), u.stderr, u.threshold) for u in unit_columns(report)
    ]


def draw_units(fig, report) -> None:
    """One bar panel per per-unit column, bars coloured by the unit's status."""
    from matplotlib.patches import Patch

    panels = unit_panels(report)
    statuses = report.verdict.unit_status
    colours = [STATUS_COLOURS[s] for s in statuses]
    n_units = report.stats.n_units
    fig.set_size_inches(max(6, 0.35 * n_units), 2.4 * len(panels))
    axes = fig.subplots(len(panels), 1, sharex=True, squeeze=False)[:, 0]
    x = np.arange(n_units)
    for ax, (column, values, stderr, threshold) in zip(axes, panels, strict=True):
        heights = np.where(np.isfinite(values), values, 0.0)
        ax.bar(x, heights, color=colours)
        errors = Z95 * np.nan_to_num(np.asarray(stderr if stderr is not None else 0.0, float))
        if stderr is not None and np.any(errors > 0):
            ax.errorbar(x, heights, yerr=errors, fmt="none", ecolor="black", capsize=2, lw=0.8)
        if threshold is not None:
            ax.axhline(threshold, color="black", linestyle="--", lw=0.8)
        linear = threshold / 10 if threshold else LINEAR_WITHIN
        ax.set_yscale("symlog", linthresh=linear)
        ax.set_ylim(*_span(heights, errors if stderr is not None else 0.0, threshold or 0.0))
        ax.set_ylabel(column.label, fontsize=8)
    present = [s for s in STATUSES if s in statuses]
    handles = [Patch(color=STATUS_COLOURS[s], label=s) for s in present]
    handles += _line_handles(panels)
    axes[0].legend(
        handles=handles, fontsize=7, ncol=len(handles), loc="lower left", bbox_to_anchor=(0, 1.02)
    )
    axes[-1].set_xlabel("latent unit")


def _span(heights, errors, threshold: float) -> tuple[float, float]:
    """Limits with room on the log scale: a factor 3 above the highest bar or error bar
    (and the threshold), and 0 or a factor 3 below the lowest."""
    top = max(float(np.max(heights + errors, initial=0.0)), threshold)
    bottom = float(np.min(heights - errors, initial=0.0))
    return (3 * bottom if bottom < 0 else 0.0, 3 * top if top > 0 else 1.0)


def _line_handles(panels) -> list:
    from matplotlib.lines import Line2D

    handles = []
    if any(t is not None for *_, t in panels):
        handles.append(Line2D([], [], color="black", linestyle="--", lw=0.8, label="threshold"))
    if any(e is not None for *_, e, _ in panels):
        handles.append(Line2D([], [], color="black", lw=0.8, label="95% interval"))
    return handles


def figure_drawers(report) -> dict:
    """File stem -> function drawing that figure onto a matplotlib Figure."""
    drawers = {"units": lambda fig: draw_units(fig, report)} if unit_panels(report) else {}
    for name, result in report.results.items():
        if ANALYSES[name].figures:
            drawers.update(ANALYSES[name].figures(result, report.verdict.unit_status))
    return drawers


def render_figure(draw, format: str) -> bytes:
    """The figure ``draw`` makes, as the bytes of a ``format`` file."""
    plt = _pyplot()
    with plt.rc_context(FONTS):
        fig = plt.figure()
        try:
            draw(fig)
            fig.tight_layout()
            out = io.BytesIO()
            fig.savefig(out, format=format, dpi=150)
        finally:
            plt.close(fig)
    return out.getvalue()


def _save(draw, path: Path, format: str) -> Path:
    data = render_figure(draw, format)
    with atomic_path(path, force=True) as temp:
        Path(temp).write_bytes(data)
    return path


def plots_folder(folder, flag: str = "--plots") -> Path:
    """The figures' folder, created (with its parents) if missing; called before any work so
    that a bad ``--plots`` fails before a report is written."""
    folder = Path(folder)
    if folder.exists() and not folder.is_dir():
        raise OutputError(f"{flag} {folder} is a file; pass a folder for the figures")
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        raise OutputError(f"cannot create {flag} {folder} ({e.strerror}); pass another") from e
    return folder


def write_plots(report, folder, format: str = "png") -> list[Path]:
    """Write every figure of the report into ``folder`` (created if missing) as ``format``
    (png, pdf or svg)."""
    return write_figures(figure_drawers(report), folder, format)


def write_figures(drawers: dict, folder, format: str = "png", flag: str = "--plots") -> list[Path]:
    """Write each drawer's figure into ``folder`` as ``<name>.<format>``."""
    if format not in FORMATS:
        raise OutputError(f"unknown figure format {format!r}; choose {', '.join(FORMATS)}")
    folder = plots_folder(folder, flag)
    return [
        _save(d, folder / f"{_file_stem(stem)}.{format}", format) for stem, d in drawers.items()
    ]


def _file_stem(stem: str) -> str:
    """A file name from a figure's name (label-set names come from user files)."""
    return re.sub(r"[^\w.-]", "_", stem).lstrip(".") or "figure"
