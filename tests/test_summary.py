"""The text summary: header, verdict line, per-unit table and notes, on reports whose verdict
is known in advance (units at the prior, constant means, means spread like N(0, 1))."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

import latentprobe
from latentprobe import EncoderStats
from latentprobe.formatting import fmt
from latentprobe.outputs.summary import summary, unit_table
from latentprobe.registry import ANALYSES
from latentprobe.report import Report
from latentprobe.verdict import Thresholds

N = 1234
INACTIVE_MEAN, INACTIVE_LOGVAR = 0.8, -1.0


def three_units(n: int = N, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Unit 0 active (means ~ N(0, 1), logvar -2), unit 1 inactive (mean 0.8, logvar -1 for
    every x: ignores x, differs from the prior), unit 2 collapsed (exactly the prior)."""
    rng = np.random.default_rng(seed)
    mu, logvar = np.zeros((n, 3)), np.zeros((n, 3))
    mu[:, 0], logvar[:, 0] = rng.normal(size=n), -2.0
    mu[:, 1], logvar[:, 1] = INACTIVE_MEAN, INACTIVE_LOGVAR
    return mu, logvar


@pytest.fixture(scope="module")
def stats() -> EncoderStats:
    return EncoderStats(*three_units())


@pytest.fixture(scope="module")
def report(stats) -> Report:
    return latentprobe.analyze(stats)


def table_rows(text: str) -> tuple[list[str], list[list[str]]]:
    """(header tokens, row tokens) of the per-unit table inside a summary."""
    lines = text.splitlines()
    start = next(i for i, line in enumerate(lines) if line.split()[:1] == ["unit"])
    rows = []
    for line in lines[start + 1 :]:
        if not line.strip() or line.startswith("note: "):
            break
        rows.append(line.split())
    return lines[start].split(), rows


def test_known_verdict_of_the_synthetic_units(report):
    assert report.verdict.unit_status == ("active", "inactive", "collapsed")
    assert report.verdict.model == "partially_collapsed"
    assert report.verdict.z_informative is True


def test_header_line(report):
    first = summary(report, "my.stats.h5").splitlines()[0]
    assert first.startswith("latentprobe: my.stats.h5 ")
    assert "(1,234 examples, 3 latent units;" in first
    assert "nats" in first


def test_thousands_separator_for_a_large_n():
    mu, logvar = three_units(n=12_345)
    small = latentprobe.analyze(EncoderStats(mu, logvar), only=["active_units"])
    assert "(12,345 examples, 3 latent units;" in summary(small, "s").splitlines()[0]


def test_verdict_line_counts(report):
    second = summary(report, "s").splitlines()[1]
    assert second.startswith("verdict: partially_collapsed: ")
    assert "z carries information about x" in second
    assert second.endswith("1 active, 1 inactive, 1 collapsed")


def test_every_unit_at_the_prior_is_a_collapsed_model():
    zeros = np.zeros((500, 4))
    text = summary(latentprobe.analyze(EncoderStats(zeros, zeros)), "s")
    second = text.splitlines()[1]
    # the interval shows less than the threshold, not that z carries nothing (issue 11)
    assert second.startswith(
        "verdict: collapsed: z is not shown to carry more than the 0.01-nat threshold about x;"
    )
    assert second.endswith("0 active, 0 inactive, 4 collapsed")
    _, rows = table_rows(text)
    assert [row[-1] for row in rows] == ["collapsed"] * 4


def test_healthy_model_line():
    rng = np.random.default_rng(1)
    mu, logvar = rng.normal(size=(800, 2)), np.full((800, 2), -2.0)
    second = summary(latentprobe.analyze(EncoderStats(mu, logvar)), "s").splitlines()[1]
    assert second == (
        "verdict: healthy: z carries information about x (above the 0.01-nat threshold); "
        "2 active, 0 inactive, 0 collapsed"
    )


def test_information_not_measured_without_mutual_information(stats):
    only_au = latentprobe.analyze(stats, only=["active_units"])
    second = summary(only_au, "s").splitlines()[1]
    assert "information not measured" in second
    # without the KL analysis nothing can be called collapsed; the variance of the means
    # calls both constant units inactive
    assert second.endswith("1 active, 2 inactive, 0 collapsed")


def test_one_row_per_unit_with_the_status_last(report):
    header, rows = table_rows(summary(report, "s"))
    assert header[0] == "unit" and header[-1] == "status"
    assert len(rows) == report.stats.n_units
    assert [row[0] for row in rows] == ["0", "1", "2"]
    assert [row[-1] for row in rows] == list(report.verdict.unit_status)
    assert all(len(row) == len(header) for row in rows)


def test_columns_follow_the_analyses_that_ran(stats, report):
    full, _ = table_rows(summary(report, "s"))
    titles = [c.title for name in report.results for c in ANALYSES[name].columns]
    assert full == ["unit", *titles, "status"]
    assert len(titles) == 3  # var(means), KL, I(x;z_i)

    dropped = latentprobe.analyze(stats, only=["active_units", "kl_divergence"])
    header, rows = table_rows(summary(dropped, "s"))
    mi_title = ANALYSES["mutual_information"].columns[0].title
    assert mi_title not in header
    assert header == ["unit", *titles[:2], "status"]
    assert all(len(row) == 4 for row in rows)


def test_kl_column_holds_the_closed_form_rates(report, stats):
    """KL(N(m, s2) || N(0, 1)) = 0.5 (s2 + m^2 - 1 - log s2), averaged over examples."""
    header, rows = table_rows(summary(report, "s"))
    kl_column = header.index(ANALYSES["kl_divergence"].columns[0].title)
    mu0 = stats.mu[:, 0]
    expected = [
        0.5 * (np.exp(-2.0) + np.mean(mu0**2) - 1 + 2.0),
        0.5 * (np.exp(INACTIVE_LOGVAR) + INACTIVE_MEAN**2 - 1 - INACTIVE_LOGVAR),
        0.0,
    ]
    assert [row[kl_column] for row in rows] == [fmt(v) for v in expected]
    assert rows[2][kl_column] == "0.0000"


def test_missing_values_show_as_a_dash(report):
    mi = report.results["mutual_information"]
    broken = dataclasses.replace(mi, per_unit_mi=np.array([np.nan, np.inf, 0.5]))
    changed = Report(report.stats, {**report.results, "mutual_information": broken}, report.verdict)
    header, rows = table_rows("\n".join(unit_table(changed)))
    column = header.index(ANALYSES["mutual_information"].columns[0].title)
    assert [row[column] for row in rows] == ["-", "-", "0.5000"]


def test_each_analysis_contributes_its_summary_lines(stats):
    only_au = latentprobe.analyze(stats, only=["active_units"])
    text = summary(only_au, "s")
    assert "active units by the variance of the means (> 0.01): 1 of 3" in text
    assert "rate R" not in text and "I(x;z) =" not in text


def test_no_note_lines_without_notes(report):
    assert report.verdict.notes == ()
    assert not [line for line in summary(report, "s").splitlines() if line.startswith("note")]


def test_notes_printed_as_note_lines():
    """Means that vary (variance 0.04 > 0.01) under a posterior variance of 100 carry almost
    no information (I = 0.5 log(1 + 0.04/100) ~ 2e-4 nats): the unit is inactive, and the
    active-units analysis notes that it disagrees."""
    rng = np.random.default_rng(2)
    mu = np.column_stack([rng.normal(0.0, 0.2, 3000), rng.normal(size=3000)])
    logvar = np.column_stack([np.full(3000, np.log(100.0)), np.full(3000, -2.0)])
    noted = latentprobe.analyze(EncoderStats(mu, logvar), skip=["probes"])
    assert noted.verdict.unit_status == ("inactive", "active")
    assert noted.verdict.notes
    lines = summary(noted, "s").splitlines()
    notes = [line for line in lines if line.startswith("note: ")]
    assert notes == [f"note: {n}" for n in noted.verdict.notes]
    assert lines[-len(notes) :] == notes
    assert "units [0]" in notes[0]


def test_a_wide_model_prints_the_first_units_and_says_where_the_rest_are():
    import numpy as np

    import latentprobe
    from latentprobe.outputs.summary import TABLE_UNITS

    rng = np.random.default_rng(0)
    stats = latentprobe.EncoderStats(rng.normal(size=(30, 100)), np.full((30, 100), -1.0))
    lines = unit_table(latentprobe.analyze(stats, only=["active_units"]))
    assert len(lines) == 1 + TABLE_UNITS + 1
    assert lines[TABLE_UNITS].split()[0] == str(TABLE_UNITS - 1)
    assert lines[-1].startswith("... 36 more units")


def test_the_verdict_line_names_the_threshold_it_was_decided_by():
    """A little information (about 0.02 nats, interval straddling a 0.05 threshold) is not
    "no information": the line says what the interval shows, with the threshold used."""
    rng = np.random.default_rng(0)
    mu = np.zeros((2000, 2))
    mu[:, 0] = 0.2 * rng.normal(size=2000)
    report = latentprobe.analyze(
        EncoderStats(mu, np.zeros_like(mu)), thresholds=Thresholds(mi_threshold=0.05)
    )
    second = summary(report, "s").splitlines()[1]
    assert "z is not shown to carry more than the 0.05-nat threshold about x" in second
    assert 0.0 < report.results["mutual_information"].nats < 0.05
