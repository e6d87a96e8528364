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
    assert set(figure_drawers(report)) == {"units", "kl_histogram", "information"}
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


# --------------------------------------------------------------------------- for papers


def _errorbars(ax):
    from matplotlib.container import ErrorbarContainer

    return [c for c in ax.containers if isinstance(c, ErrorbarContainer)]


def test_unit_panels_are_on_a_log_scale_with_thresholds_error_bars_and_a_legend(report):
    fig = drawn(lambda f: draw_units(f, report))
    thresholds = report.verdict.thresholds
    expected = {
        "variance of posterior means": report.results["active_units"].threshold,
        "KL to the prior (nats)": thresholds.kl_threshold,
        "I(x;z_i) (nats)": thresholds.mi_threshold,
    }
    for ax in fig.axes:
        assert ax.get_yscale() == "symlog"
        dashed = [ln for ln in ax.lines if ln.get_linestyle() == "--"]
        assert [ln.get_ydata()[0] for ln in dashed] == [expected[ax.get_ylabel()]]
        # linear within a tenth of the threshold: a 0.001-nat bar is not flattened to 0
        assert ax.yaxis.get_transform().linthresh == pytest.approx(expected[ax.get_ylabel()] / 10)
    mi_axis = fig.axes[2]
    (bars,) = _errorbars(mi_axis)
    stderr = report.results["mutual_information"].per_unit_mi_stderr
    segments = bars.lines[2][0].get_segments()
    np.testing.assert_allclose(
        [s[1, 1] - s[0, 1] for s in segments], 2 * 1.959963984540054 * stderr
    )
    assert not _errorbars(fig.axes[0])  # the variance of the means has no error
    labels = [t.get_text() for t in fig.axes[0].get_legend().get_texts()]
    assert labels == ["active", "inactive", "collapsed", "threshold", "95% interval"]


def test_the_information_figure_draws_the_interval_against_log_n(report):
    mi = report.results["mutual_information"]
    (ax,) = drawn(figure_drawers(report)["information"]).axes
    (bars,) = _errorbars(ax)
    low, high = (seg[:, 1] for seg in np.array(bars.lines[2][0].get_segments()).transpose(1, 0, 2))
    assert (low[0], high[0]) == pytest.approx((mi.ci95_low, mi.ci95_high))
    ceiling = [ln for ln in ax.lines if ln.get_linestyle() == "--"]
    assert [ln.get_ydata()[0] for ln in ceiling] == [pytest.approx(mi.log_n)]
    assert ax.get_ylabel() == "nats"


def test_the_probe_figure_shows_four_probes_with_wilson_intervals_against_chance(fixture_reports):
    from latentprobe.analyzers.intervals import wilson_interval

    healthy = Report.read(fixture_reports["healthy"])
    digit = healthy.results["probes"].label_sets["digit"]
    (ax,) = drawn(figure_drawers(healthy)["probe_accuracy"]).axes
    heights = sorted(p.get_height() for p in ax.patches)
    assert heights == sorted(
        [digit.accuracy, digit.mean_accuracy, digit.x_accuracy, digit.prior_accuracy]
    )
    first = _errorbars(ax)[0].lines[2][0].get_segments()[0]
    low, high = wilson_interval(digit.accuracy * digit.n_used, digit.n_used)
    assert (first[0, 1], first[1, 1]) == pytest.approx((low, high))
    chance = [c for c in ax.collections if c.get_linestyle()[0][1] is not None]
    assert chance and chance[0].get_segments()[0][0, 1] == pytest.approx(digit.chance)


@pytest.mark.parametrize(
    "format_, signature", [("pdf", b"%PDF"), ("svg", b"<?xml"), ("png", PNG_SIGNATURE)]
)
def test_the_plot_command_writes_every_figure_in_the_format(
    fixture_reports, tmp_path, format_, signature
):
    from click.testing import CliRunner
    from latentprobe.cli.main import main

    out = CliRunner().invoke(
        main,
        [
            "plot",
            str(fixture_reports["partial"]),
            "-o",
            str(tmp_path / "figs"),
            "--format",
            format_,
        ],
    )
    assert out.exit_code == 0, out.output
    names = {
        f"{stem}.{format_}" for stem in figure_drawers(Report.read(fixture_reports["partial"]))
    }
    assert {p.name for p in (tmp_path / "figs").iterdir()} == names
    assert {"units", "kl_histogram", "information", "probe_accuracy"} <= {
        n.split(".")[0] for n in names
    }
    for path in (tmp_path / "figs").iterdir():
        assert path.read_bytes().startswith(signature)
    if format_ == "pdf":  # fonts embedded as TrueType (Type 42), not Type 3 bitmaps
        data = (tmp_path / "figs" / "units.pdf").read_bytes()
        assert b"/FontFile2" in data and b"/Type3" not in data


def test_plot_into_a_file_is_a_one_line_error(fixture_reports, tmp_path):
    from click.testing import CliRunner
    from latentprobe.cli.main import main

    (tmp_path / "file").write_text("")
    out = CliRunner().invoke(
        main, ["plot", str(fixture_reports["partial"]), "-o", str(tmp_path / "file")]
    )
    assert out.exit_code == OutputError.exit_code and "-o" in out.output
    assert out.output.count("\n") == 1
