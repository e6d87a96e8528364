"""The figures: what was drawn (axes, bars, colours, labels, scales), and the PNG files."""

from __future__ import annotations

import dataclasses

import matplotlib
import numpy as np
import pytest
from matplotlib.colors import to_rgba
from matplotlib.figure import Figure

import latentprobe
from latentprobe import EncoderStats
from latentprobe.errors import OutputError
from latentprobe.outputs.plots import draw_units, figure_drawers, write_plots
from latentprobe.registry import ANALYSES
from latentprobe.report import Report
from latentprobe.verdict import STATUS_COLOURS

matplotlib.use("Agg")

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


def four_units(n: int = 1000, seed: int = 0):
    """Statuses known in advance: active, inactive (constant mean 0.8), collapsed (the
    prior), active."""
    rng = np.random.default_rng(seed)
    mu, logvar = np.zeros((n, 4)), np.zeros((n, 4))
    mu[:, 0], logvar[:, 0] = rng.normal(size=n), -2.0
    mu[:, 1], logvar[:, 1] = 0.8, -1.0
    mu[:, 3], logvar[:, 3] = rng.normal(size=n), -1.5
    return EncoderStats(mu, logvar)


STATUSES = ("active", "inactive", "collapsed", "active")


@pytest.fixture(scope="module")
def stats():
    return four_units()


@pytest.fixture(scope="module")
def report(stats):
    r = latentprobe.analyze(stats)
    assert r.verdict.unit_status == STATUSES
    return r


def columns_of(report):
    return [
        (c, getattr(r, c.field)) for n, r in report.results.items() for c in ANALYSES[n].columns
    ]


def drawn(draw) -> Figure:
    fig = Figure()
    draw(fig)
    return fig


def test_one_axis_per_column_one_bar_per_unit(report):
    fig = drawn(lambda f: draw_units(f, report))
    columns = columns_of(report)
    assert len(columns) == 3
    assert len(fig.axes) == len(columns)
    for ax, (column, values) in zip(fig.axes, columns, strict=True):
        assert len(ax.patches) == report.stats.n_units
        assert ax.get_ylabel() == column.label
        heights = [p.get_height() for p in ax.patches]
        np.testing.assert_allclose(heights, np.asarray(values, float))
        assert [round(p.get_x() + p.get_width() / 2) for p in ax.patches] == [0, 1, 2, 3]


def test_bars_are_coloured_by_status(report):
    fig = drawn(lambda f: draw_units(f, report))
    expected = [to_rgba(STATUS_COLOURS[s]) for s in STATUSES]
    for ax in fig.axes:
        assert [tuple(p.get_facecolor()) for p in ax.patches] == expected
    # the three statuses get three different colours
    assert len(set(expected)) == 3


def test_columns_follow_the_analyses_that_ran(stats):
    only_au = latentprobe.analyze(stats, only=["active_units"])
    fig = drawn(lambda f: draw_units(f, only_au))
    assert len(fig.axes) == 1
    assert fig.axes[0].get_ylabel() == ANALYSES["active_units"].columns[0].label
    # without the KL analysis the constant units are inactive, not collapsed
    colours = [tuple(p.get_facecolor()) for p in fig.axes[0].patches]
    expected = ("active", "inactive", "inactive", "active")
    assert colours == [to_rgba(STATUS_COLOURS[s]) for s in expected]


def test_missing_values_are_drawn_as_zero_height(report):
    mi = report.results["mutual_information"]
    broken = dataclasses.replace(mi, per_unit_mi=np.array([np.nan, 0.2, np.inf, 0.4]))
    changed = Report(report.stats, {**report.results, "mutual_information": broken}, report.verdict)
    fig = drawn(lambda f: draw_units(f, changed))
    heights = [p.get_height() for p in fig.axes[2].patches]
    assert heights == [0.0, pytest.approx(0.2), 0.0, 0.4]


def test_figure_drawers_named_by_the_analyses(stats, report):
    assert set(figure_drawers(report)) == {"units", "kl_histogram"}
    assert set(figure_drawers(latentprobe.analyze(stats, only=["active_units"]))) == {"units"}
    only_kl = latentprobe.analyze(stats, only=["kl_divergence"])
    assert set(figure_drawers(only_kl)) == {"units", "kl_histogram"}


def test_kl_histogram(report):
    fig = drawn(figure_drawers(report)["kl_histogram"])
    (ax,) = fig.axes
    assert ax.get_xscale() == "log"
    assert len(ax.lines) == report.stats.n_units
    assert [tuple(to_rgba(line.get_color())) for line in ax.lines] == [
        to_rgba(STATUS_COLOURS[s]) for s in STATUSES
    ]
    labels = [t.get_text() for t in ax.get_legend().get_texts()]
    assert sorted(labels) == sorted(set(STATUSES))  # one entry per status present, no repeats
    # the counts of every unit add up to N
    for line in ax.lines:
        assert np.asarray(line.get_ydata()).sum() == report.stats.n_examples


def test_kl_histogram_legend_lists_only_the_statuses_present():
    rng = np.random.default_rng(3)
    mu = np.column_stack([rng.normal(size=600), np.zeros(600), rng.normal(size=600)])
    logvar = np.column_stack([np.full(600, -2.0), np.zeros(600), np.full(600, -2.0)])
    r = latentprobe.analyze(EncoderStats(mu, logvar), only=["kl_divergence"])
    assert r.verdict.unit_status == ("active", "collapsed", "active")
    ax = drawn(figure_drawers(r)["kl_histogram"]).axes[0]
    assert sorted(t.get_text() for t in ax.get_legend().get_texts()) == ["active", "collapsed"]


def test_write_plots_writes_exactly_the_drawers_as_png(report, tmp_path):
    folder = tmp_path / "plots"
    written = write_plots(report, folder)
    names = {f"{stem}.png" for stem in figure_drawers(report)}
    assert {p.name for p in written} == names
    assert {p.name for p in folder.iterdir()} == names
    for path in written:
        assert path.read_bytes()[:8] == PNG_SIGNATURE
    # written again over the same files: still exactly these, no temporaries left
    write_plots(report, folder)
    assert {p.name for p in folder.iterdir()} == names
    assert not list(folder.glob("*.tmp")) and not list(folder.glob(".*"))


def test_only_active_units_gives_no_kl_histogram(stats, tmp_path):
    r = latentprobe.analyze(stats, only=["active_units"])
    written = write_plots(r, tmp_path)
    assert [p.name for p in written] == ["units.png"]
    assert not (tmp_path / "kl_histogram.png").exists()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["units.png"]


def test_a_missing_parent_folder_is_created_or_refused_cleanly(stats, tmp_path):
    r = latentprobe.analyze(stats, only=["active_units"])
    folder = tmp_path / "missing" / "plots"
    try:
        write_plots(r, folder)
    except OutputError:
        return
    assert (folder / "units.png").read_bytes()[:8] == PNG_SIGNATURE
