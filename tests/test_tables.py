"""Tables of reports (latentprobe.outputs.tables) and the show, compare and export commands,
on the three fixtures' reports: numbers read back from every format equal the reports'."""

from __future__ import annotations

import csv
import io
import json
import math
import re
import shutil
import subprocess

import pytest
from click.testing import CliRunner
from latentprobe.cli.main import main

from latentprobe.analyzers.result import Estimate
from latentprobe.errors import OptionsError
from latentprobe.outputs import tables
from latentprobe.report import Report

NAMES = ("healthy", "partial", "collapsed")


@pytest.fixture(scope="module")
def reports(fixture_reports):
    return [(name, Report.read(fixture_reports[name])) for name in NAMES]


def _paths(fixture_reports):
    return [str(fixture_reports[n]) for n in NAMES]


@pytest.mark.parametrize(
    "estimate, text",
    [
        (Estimate.normal("k", "t", 3.2137, 0.0102), "3.214 ± 0.020"),
        (Estimate.normal("k", "t", 15.7, 0.098), "15.70 ± 0.19"),
        (Estimate.normal("k", "t", 1234.5, 30.0), "1234 ± 59"),
        (Estimate.normal("k", "t", 3.5067115, 0.0), "3.5067"),
        (Estimate.normal("k", "t", -5.23e-05, 0.00097), "-0.0001 ± 0.0019"),
        (Estimate.interval("k", "t", 0.9812, 0.95, 0.99), "0.981 [0.950, 0.990]"),
        (Estimate.normal("k", "t", math.nan, 0.1), "-"),
        (Estimate("k", "t", 2.5, math.nan, math.nan, math.nan), "2.5000 (no interval)"),
    ],
)
def test_an_estimate_prints_its_95_percent_half_width_to_two_digits(estimate, text):
    assert tables.cell_text(estimate) == text


def test_differs_when_the_gap_exceeds_the_interval_of_the_difference():
    a = Estimate.normal("k", "t", 0.0, 1.0)
    edge = 1.959963984540054 * math.sqrt(2.0)
    assert tables.differs(a, Estimate.normal("k", "t", edge * 1.01, 1.0))
    assert not tables.differs(a, Estimate.normal("k", "t", edge * 0.99, 1.0))
    exact = Estimate.normal("k", "t", 1.0, 0.0)
    assert not tables.differs(exact, Estimate.normal("k", "t", 1.0, 0.0))
    assert tables.differs(exact, Estimate.normal("k", "t", 1.0 + 1e-9, 0.0))
    assert not tables.differs(a, Estimate.normal("k", "t", math.nan, 1.0))


def test_the_model_table_holds_each_reports_verdict_counts_and_estimates(reports):
    table = tables.model_table(reports)
    assert [r["model"] for r in table.rows] == list(NAMES)
    for row, (_, report) in zip(table.rows, reports, strict=True):
        assert row["verdict"] == report.verdict.model
        assert row["collapsed"] == len(report.verdict.units_with("collapsed"))
        mi = report.results["mutual_information"]
        assert (row["mi"].value, row["mi"].low, row["mi"].high) == (
            mi.nats,
            mi.ci95_low,
            mi.ci95_high,
        )
        assert row["nll"].value == report.results["log_likelihood"].nll
    assert table.differs[0] == set()  # the first row is the reference
    # the collapsed model's information and reliance differ from the healthy one's
    assert {"mi", "reliance", "accuracy[digit]"} <= table.differs[2]
    # the partial model's I(x;z) lies within the healthy one's interval of the difference
    assert "mi" not in table.differs[1]


def test_csv_reads_back_into_the_same_numbers(reports):
    text = tables.render(tables.model_table(reports), "csv")
    rows = list(csv.DictReader(io.StringIO(text)))
    assert [r["model"] for r in rows] == list(NAMES)
    for row, (_, report) in zip(rows, reports, strict=True):
        mi = report.results["mutual_information"]
        assert float(row["mi"]) == mi.nats
        assert float(row["mi_stderr"]) == mi.stderr
        assert float(row["mi_ci95_low"]) == mi.ci95_low
        assert float(row["rate"]) == report.results["kl_divergence"].total_rate
        assert int(row["active"]) == len(report.verdict.units_with("active"))


def test_json_rows_and_marks(reports):
    document = json.loads(tables.render(tables.model_table(reports), "json"))
    collapsed = document["rows"][2]
    assert collapsed["mi"]["value"] == reports[2][1].results["mutual_information"].nats
    assert collapsed["mi"]["units"] == "nats"
    assert "mi" in collapsed["differs_from_first"]
    assert document["rows"][0]["differs_from_first"] == []


def _latex_rows(text: str) -> tuple[str, list[list[str]], list[list[str]]]:
    lines = text.splitlines()
    spec = re.search(r"\\begin\{tabular\}\{(\w+)\}", text).group(1)
    top, mid, bottom = (lines.index(rule) for rule in ("\\toprule", "\\midrule", "\\bottomrule"))
    split = lambda line: [c.strip() for c in line.rstrip("\\ ").split(" & ")]  # noqa: E731
    return (
        spec,
        [split(x) for x in lines[top + 1 : mid]],
        [split(x) for x in lines[mid + 1 : bottom]],
    )


def test_latex_is_a_booktabs_tabular_with_escaped_text_and_pm_intervals(reports):
    renamed = [("beta_0.5 & 100%", reports[0][1]), *reports[1:]]
    text = tables.render(tables.model_table(renamed), "latex")
    spec, header, body = _latex_rows(text)
    assert len(header) == 1 and len(body) == 3
    assert all(len(row) == len(spec) == len(header[0]) for row in body)
    assert body[0][0] == r"beta\_0.5 \& 100\%"
    assert r"KL(q(z)\textbar{}\textbar{}p(z))" in header[0]  # | is an em dash in text mode
    assert "e-" not in text.split("\\midrule")[1]  # e-notation written as powers of ten
    mi_at = header[0].index("I(x;z)")
    assert re.fullmatch(r"\$\d+\.\d+ \\pm \d+\.\d+\$", body[0][mi_at])
    assert body[2][mi_at].endswith("\\textsuperscript{*}")  # differs from the first
    assert "\\end{tabular}" in text


@pytest.mark.skipif(shutil.which("pdflatex") is None, reason="no TeX engine (pdflatex) here")
def test_latex_compiles(reports, tmp_path):
    body = tables.render(tables.model_table(reports), "latex")
    document = (
        "\\documentclass{article}\\usepackage[utf8]{inputenc}\\usepackage{booktabs}"
        "\\usepackage[landscape]{geometry}\\begin{document}\\tiny\n"
        f"{body}\n\\end{{document}}\n"
    )
    (tmp_path / "t.tex").write_text(document)
    done = subprocess.run(
        ["pdflatex", "-interaction=nonstopmode", "-halt-on-error", "t.tex"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stdout[-2000:]


def test_markdown_rows_have_the_headers_cells(reports):
    text = tables.render(tables.model_table(reports), "markdown")
    lines = [x for x in text.splitlines() if x.startswith("|")]
    cells = [re.split(r"(?<!\\)\|", x)[1:-1] for x in lines]
    assert len(cells) == 5 and all(len(c) == len(cells[0]) for c in cells)
    assert "KL(q(z)\\|\\|p(z))" in lines[0]  # a pipe in a title does not split the cell


def test_the_unit_table_has_every_unit_with_its_status_and_errors(reports):
    _, partial = reports[1]
    table = tables.unit_table(partial)
    assert [r["status"] for r in table.rows] == list(partial.verdict.unit_status)
    mi = partial.results["mutual_information"]
    assert [r["mi"].stderr for r in table.rows] == list(mi.per_unit_mi_stderr)
    rows = list(csv.DictReader(io.StringIO(tables.render(table, "csv"))))
    assert [float(r["kl"]) for r in rows] == list(partial.results["kl_divergence"].per_unit_rate)


def test_the_probe_table(reports):
    _, healthy = reports[0]
    (row,) = tables.probe_table(healthy).rows
    digit = healthy.results["probes"].label_sets["digit"]
    assert row["accuracy"].value == digit.accuracy
    assert (row["accuracy"].low, row["accuracy"].high) == tuple(digit.accuracy_ci95)
    assert row["chance"] == digit.chance


def test_compare_prints_models_side_by_side_with_marks(fixture_reports):
    out = CliRunner().invoke(main, ["compare", *_paths(fixture_reports)])
    assert out.exit_code == 0, out.output
    lines = out.output.splitlines()
    assert lines[0].split() == ["model", *NAMES]
    mi_line = next(x for x in lines if x.startswith("I(x;z)"))
    assert mi_line.rstrip().endswith("*")  # the collapsed model's
    assert "differs from healthy beyond the 95% intervals" in out.output


def test_compare_formats_names_and_output_file(fixture_reports, tmp_path):
    out_file = tmp_path / "table.tex"
    args = ["compare", *_paths(fixture_reports), "--format", "latex", "--names", "a,b_1,c"]
    result = CliRunner().invoke(main, [*args, "-o", str(out_file)])
    assert result.exit_code == 0, result.output
    assert "b\\_1 &" in out_file.read_text()
    again = CliRunner().invoke(main, [*args, "-o", str(out_file)])
    assert again.exit_code == 9 and again.output.count("\n") == 1  # exists: --force
    wrong = CliRunner().invoke(main, ["compare", *_paths(fixture_reports), "--names", "a,b"])
    assert wrong.exit_code == 2 and "one per report" in wrong.output
    document = json.loads(
        CliRunner().invoke(main, ["compare", *_paths(fixture_reports), "--json"]).output
    )
    assert [r["model"] for r in document["rows"]] == list(NAMES)


def test_export_tables_in_each_format(fixture_reports):
    path = str(fixture_reports["partial"])
    for table in ("model", "units", "probes"):
        for format_ in tables.FORMATS:
            out = CliRunner().invoke(main, ["export", path, "--table", table, "--format", format_])
            assert out.exit_code == 0, (table, format_, out.output)
    units = CliRunner().invoke(main, ["export", path, "--table", "units", "--format", "csv"])
    assert len(list(csv.DictReader(io.StringIO(units.output)))) == 16


def test_show_prints_the_summary_and_what_produced_it(fixture_reports):
    out = CliRunner().invoke(main, ["show", str(fixture_reports["collapsed"])])
    assert out.exit_code == 0, out.output
    assert "verdict: collapsed" in out.output
    assert re.search(r"written by latentprobe \S+ on 20\d\d-", out.output)
    options = next(x for x in out.output.splitlines() if x.startswith("analyses: "))
    assert "log_likelihood.samples=100" in options  # what differs from the defaults
    assert "probes.permutations=99" in options and "seed" not in options
    as_json = CliRunner().invoke(main, ["show", str(fixture_reports["collapsed"]), "--json"])
    document = json.loads(as_json.output)
    assert document["verdict"] == "collapsed"
    assert document["provenance"]["options"]["log_likelihood"]["samples"] == 100


def test_show_refuses_a_stats_file_in_one_line(tmp_path):
    import numpy as np

    from latentprobe.store import write_stats
    from latentprobe.types import EncoderStats

    stats = EncoderStats(np.zeros((5, 2)), np.zeros((5, 2)))
    write_stats(stats, tmp_path / "s.stats.h5")
    out = CliRunner().invoke(main, ["show", str(tmp_path / "s.stats.h5")])
    assert out.exit_code == 8 and "not a report" in out.output and out.output.count("\n") == 1


def test_report_per_unit_is_a_dataframe_of_the_reports_arrays(reports):
    _, partial = reports[1]
    frame = partial.per_unit
    assert list(frame.index) == list(range(16)) and frame.index.name == "unit"
    assert list(frame["status"]) == list(partial.verdict.unit_status)
    mi = partial.results["mutual_information"]
    assert frame["mi"].tolist() == mi.per_unit_mi.tolist()
    assert frame["mi_stderr"].tolist() == mi.per_unit_mi_stderr.tolist()
    assert frame["var_of_means"].tolist() == partial.results["active_units"].var_of_means.tolist()


def test_report_compare_needs_a_name_per_report(reports):
    (_, healthy), (_, partial) = reports[:2]
    table = healthy.compare(partial)
    assert [r["model"] for r in table.rows] == ["model 1", "model 2"]
    with pytest.raises(OptionsError, match="one per report"):
        healthy.compare(partial, names=["a"])


@pytest.mark.parametrize("name", NAMES)
def test_every_verb_on_each_fixture(fixture_reports, name, tmp_path):
    """show, export (CSV read back), plot and the HTML export on each of the three fixtures."""
    path = str(fixture_reports[name])
    report = Report.read(path)
    shown = CliRunner().invoke(main, ["show", path])
    assert shown.exit_code == 0 and f"verdict: {report.verdict.model}:" in shown.output
    exported = CliRunner().invoke(main, ["export", path, "--format", "csv"])
    (row,) = list(csv.DictReader(io.StringIO(exported.output)))
    assert float(row["mi"]) == report.results["mutual_information"].nats
    assert row["verdict"] == report.verdict.model
    plotted = CliRunner().invoke(main, ["plot", path, "-o", str(tmp_path), "--format", "png"])
    assert plotted.exit_code == 0, plotted.output
    assert (tmp_path / "units.png").stat().st_size > 0
    html = CliRunner().invoke(main, ["export", path, "--format", "html"])
    assert html.exit_code == 0 and f"verdict: {report.verdict.model}:" in html.output
