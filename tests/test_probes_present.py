"""The probes' review of the verdict, summary lines and figures (probes.present)."""

from __future__ import annotations

import dataclasses
import math

import numpy as np
import pytest
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.colors import to_rgba
from matplotlib.figure import Figure

from latentprobe.analyzers.probes import (
    ProbeSetResult,
    ProbesResult,
    figures,
    review,
    summary_lines,
)
from latentprobe.verdict import Review, Verdict


def _skipped(reason="fewer than two classes", n_units=4):
    return ProbeSetResult.not_probed(
        "classification", reason, n_missing=0, n_rare=0, n_units=n_units
    )


def _probed(**figures):
    """A probed label set: the skipped result with its figures filled in."""
    values = dict(skipped="", n_used=100, n_classes=10, folds=5, draws_per_example=2)
    return dataclasses.replace(_skipped(), **{**values, **figures})


SIGNIFICANT = _probed(accuracy=0.75, chance=0.1, p_value=0.01)
NOT_SIGNIFICANT = _probed(accuracy=0.12, chance=0.1, p_value=0.4)


def _verdict(informative):
    return Verdict("healthy", informative, ("active", "active"))


def test_review_agrees_when_both_find_information():
    result = ProbesResult({"digit": SIGNIFICANT, "other": _skipped()})
    assert review(result, _verdict(True)) == Review(agreement="agrees")


def test_review_notes_that_z_encodes_other_aspects():
    result = ProbesResult({"digit": NOT_SIGNIFICANT, "colour": NOT_SIGNIFICANT})
    assert review(result, _verdict(True)) == Review(
        notes=(
            "z carries information about x but the probes find none about "
            "['colour', 'digit']: z encodes other aspects of x",
        ),
        agreement="agrees",
    )


def test_review_disagrees_when_only_the_probes_find_information():
    result = ProbesResult({"digit": SIGNIFICANT, "colour": NOT_SIGNIFICANT})
    assert review(result, _verdict(False)) == Review(
        notes=(
            "probes on samples find information about ['digit'] although the interval "
            "on I(x;z) does not clear the threshold: z carries a little information",
        ),
        agreement="disagrees",
    )


def test_review_agrees_when_neither_finds_information():
    result = ProbesResult({"digit": NOT_SIGNIFICANT})
    assert review(result, _verdict(False)) == Review(agreement="agrees")


def test_no_review_without_the_information_interval_or_a_probed_label_set():
    assert review(ProbesResult({"digit": SIGNIFICANT}), _verdict(None)) == Review()
    assert review(ProbesResult({"digit": _skipped()}), _verdict(True)) == Review()


def test_accuracy_at_chance_is_not_significant_whatever_the_p_value():
    result = ProbesResult({"digit": _probed(accuracy=0.1, chance=0.1, p_value=0.001)})
    assert review(result, _verdict(False)) == Review(agreement="agrees")


def test_summary_lines():
    digit = _probed(
        accuracy=0.75,
        mean_accuracy=0.9,
        x_accuracy=0.95,
        chance=0.1,
        p_value=1 / 51,
        p_value_min=1 / 51,
        mi_lower_bound_nats=math.log(2),
        selectivity=0.5,
        mdl_bits=1234.4,
        compression=2.5,
    )
    target = _probed(task="regression", accuracy=0.8, mean_accuracy=0.81, p_value=0.01)
    result = ProbesResult({"digit": digit, "t": target, "one": _skipped()})
    assert summary_lines(result) == [
        "probe digit: accuracy 0.750 on samples z (means 0.900, x 0.950) vs chance 0.100; "
        "p = 0.0196 (smallest possible 0.0196); I(z;y) >= 0.693 nats (1.000 bits); "
        "selectivity 0.500; MDL 1234 bits, compression 2.50x",
        "note: the posterior means predict digit (0.900) far better than samples z do "
        "(0.750): the means move with x at a scale below the posterior noise, so the decoder "
        "cannot use it; the verdict rests on samples",
        "probe t: R^2 0.800 on samples (means 0.810), p = 0.0100",
        "probe one: not probed (fewer than two classes)",
    ]


def test_summary_shows_missing_figures_as_dashes_and_no_note_for_close_means():
    digit = _probed(accuracy=0.75, mean_accuracy=0.8, chance=0.1, p_value=0.02)
    (line,) = summary_lines(ProbesResult({"digit": digit}))
    assert "x -)" in line and "I(z;y) >= - nats (- bits)" in line
    assert line.endswith("selectivity -; MDL - bits, compression -x")


UNITS = dict(
    per_unit_accuracy=np.array([0.1, 0.8, 0.12, 0.11]),
    per_unit_p_holm=np.array([0.9, 0.001, 0.5, 0.04]),
    chance=0.1,
)


def _draw(result, name="digit"):
    drawers = figures(ProbesResult({name: result}), ("active",) * 4)
    fig = Figure()
    FigureCanvasAgg(fig)  # the Agg backend, no display
    drawers[f"probes_{name}"](fig)
    fig.canvas.draw()  # renders without error
    return fig


def test_figure_draws_one_bar_per_unit_against_chance():
    fig = _draw(_probed(**UNITS))
    (ax,) = fig.axes
    assert len(ax.patches) == 4
    assert [p.get_height() for p in ax.patches] == pytest.approx([0.1, 0.8, 0.12, 0.11])
    green = to_rgba("tab:green")
    assert [p.get_facecolor() == green for p in ax.patches] == [False, True, False, True]
    (chance,) = ax.lines
    assert list(chance.get_ydata()) == [0.1, 0.1] and chance.get_linestyle() == "--"
    assert ax.get_title() == "One-unit probes on samples z: digit"
    assert ax.get_xlabel() == "latent unit (green: Holm-corrected p < 0.05)"
    assert ax.get_ylabel() == "held-out accuracy"
    assert [t.get_text() for t in ax.get_legend().get_texts()] == ["chance (majority class)"]
    assert tuple(fig.get_size_inches()) == (6, 3.5)


def test_regression_figure_is_labelled_r2_and_wide_for_many_units():
    units = dict(per_unit_accuracy=np.linspace(0, 0.5, 40), per_unit_p_holm=np.ones(40))
    fig = _draw(_probed(task="regression", chance=0.0, **units), name="t")
    (ax,) = fig.axes
    assert ax.get_ylabel() == "held-out R^2" and len(ax.patches) == 40
    assert fig.get_size_inches()[0] == pytest.approx(14)


def test_no_figure_for_a_skipped_set_or_units_not_probed():
    result = ProbesResult({"one": _skipped(), "digit": _probed(accuracy=0.5, chance=0.1)})
    assert list(figures(result, ("active",) * 4)) == ["probe_accuracy"]  # no one-unit figure
    assert figures(ProbesResult({"one": _skipped()}), ()) == {}
    assert list(figures(ProbesResult({"d": _probed(**UNITS)}), ())) == [
        "probe_accuracy",
        "probes_d",
    ]


def test_under_the_null_the_probes_rarely_qualify_the_verdict():
    """z independent of four label sets (a collapsed model), 100 seeds: a probe counts as
    finding information (and the review then says "z carries a little information") in at
    most 10 seeds with Holm's correction over the label sets (5 measured); without it, in 22
    of these 100 (any of the four below 0.05)."""
    from types import SimpleNamespace

    from latentprobe.analyzers.probes.crossval import permutation_test
    from latentprobe.analyzers.probes.present import found_information

    flagged = uncorrected = 0
    for seed in range(100):
        rng = np.random.default_rng(seed)
        z = rng.normal(size=(80, 2))
        results = {}
        for name in "abcd":
            y = rng.integers(0, 2, 80)
            design = dict(task="classification", k=2, folds=3, draws=1, seed=seed, label_sets=4)
            statistic, p, _ = permutation_test(z, y, rng, **design, permutations=99)
            chance = np.bincount(y).max() / len(y)
            results[name] = SimpleNamespace(p_value=p, accuracy=statistic, chance=chance)
        flagged += bool(found_information(results))
        uncorrected += any(r.p_value < 0.05 and r.accuracy > r.chance for r in results.values())
    assert flagged <= 10 < uncorrected
