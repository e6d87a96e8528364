"""The analysis table: selection by --only/--skip and needs, and one place to add an analysis
(a toy analysis registered here reaches the verdict, JSON, summary, figures and the report
file without any other module knowing it)."""

from __future__ import annotations

import json
from dataclasses import dataclass

import numpy as np
import pytest
from click.testing import CliRunner
from latentprobe.cli.main import main

import latentprobe
from latentprobe.analyzers.result import Result, quantity
from latentprobe.errors import AnalysisError, OptionsError
from latentprobe.options import option
from latentprobe.outputs.plots import write_plots
from latentprobe.outputs.summary import summary
from latentprobe.registry import ANALYSES, Analysis, Column, register, select, unregister
from latentprobe.report import Report
from latentprobe.verdict import Evidence


@dataclass(frozen=True)
class SpreadOptions:
    scale: float = option(2.0, "multiplies the spread")


@dataclass(frozen=True)
class SpreadResult(Result):
    spread: np.ndarray = quantity("scale x range of the means", "latent units", per="unit")
    widest: int = quantity("unit with the widest spread")
    label: str = quantity("a string that looks like JSON")


def _run(inputs, options, seed):
    mu = inputs.stats.mu
    spread = options.scale * (mu.max(0) - mu.min(0))
    return SpreadResult(spread, int(spread.argmax()), "[S=2] not json")


def _draw(fig, result):
    fig.add_subplot().bar(np.arange(len(result.spread)), result.spread)


TOY = Analysis(
    "toy: the spread of the posterior means",
    _run,
    SpreadOptions,
    SpreadResult,
    vote=lambda result, t: Evidence(collapsed=result.spread < 1e-9),
    summary=lambda result: [f"toy spread: widest unit {result.widest}"],
    columns=(Column("spread", "spread", "spread", "spread of the means"),),
    figures=lambda result, status: {"toy_spread": lambda fig: _draw(fig, result)},
)


@pytest.fixture
def toy():
    register("toy_spread", TOY)
    yield
    unregister("toy_spread")


@pytest.fixture
def stats():
    rng = np.random.default_rng(0)
    mu = np.column_stack([rng.normal(size=200), np.full(200, 0.5)])
    return latentprobe.EncoderStats(mu, np.full((200, 2), -1.0))


def test_a_registered_analysis_reaches_every_output(toy, stats, tmp_path):
    report = latentprobe.analyze(stats, skip=["kl_divergence"])
    assert report.verdict.unit_status == ("active", "collapsed")  # the toy's vote counted
    doc = report.to_dict()
    assert doc["analyses"]["toy_spread"]["widest"] == 0
    assert doc["analyses"]["toy_spread"]["label"] == "[S=2] not json"
    assert doc["per_unit"][1]["spread"] == 0.0
    text = summary(report, "toy.h5")
    assert "toy spread: widest unit 0" in text
    header = next(line for line in text.splitlines() if line.lstrip().startswith("unit"))
    assert header.split()[-2:] == ["spread", "status"]
    paths = write_plots(report, tmp_path / "figs")
    assert tmp_path / "figs" / "toy_spread.png" in paths
    report.write(tmp_path / "r.h5")
    back = Report.read(tmp_path / "r.h5").results["toy_spread"]
    np.testing.assert_array_equal(back.spread, report.results["toy_spread"].spread)
    assert (back.widest, back.label) == (0, "[S=2] not json")


def test_options_reach_the_registered_analysis(toy, stats):
    report = latentprobe.analyze(
        stats, only=["toy_spread"], options={"toy_spread": SpreadOptions(1.0)}
    )
    mu = stats.mu
    np.testing.assert_allclose(report.results["toy_spread"].spread, mu.max(0) - mu.min(0))
    assert report.provenance["options"]["toy_spread"] == {"scale": 1.0}
    with pytest.raises(OptionsError, match="must be a SpreadOptions"):
        latentprobe.analyze(stats, options={"toy_spread": 3})


def test_the_command_line_runs_a_registered_analysis(toy, stats, tmp_path):
    latentprobe.write_stats(stats, tmp_path / "s.h5")
    result = CliRunner().invoke(
        main,
        [
            "analyze",
            str(tmp_path / "s.h5"),
            "--only",
            "toy_spread",
            "--json",
            "-o",
            str(tmp_path / "r.h5"),
        ],
    )
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["analyses"]["toy_spread"]["widest"] == 0


def test_a_name_can_be_registered_once(toy):
    with pytest.raises(OptionsError, match="already registered"):
        register("toy_spread", TOY)


def test_select_follows_table_order_only_skip_and_needs():
    assert select() == list(ANALYSES)
    assert select(available=()) == [n for n in ANALYSES if not ANALYSES[n].needs]
    assert select(["mutual_information,active_units"]) == ["active_units", "mutual_information"]
    assert "kl_divergence" not in select(skip=["kl_divergence"])
    with pytest.raises(OptionsError, match="unknown analysis 'mutual_informaton'"):
        select(["mutual_informaton"])
    with pytest.raises(AnalysisError, match="'probes' needs labels"):
        select(["probes"], available=())
    with pytest.raises(OptionsError, match="leave no analysis"):
        select(["active_units"], ["active_units"])


def test_every_entry_is_complete():
    for name, analysis in ANALYSES.items():
        assert analysis.description and callable(analysis.run), name
        analysis.options_type()  # every option has a default
        for column in analysis.columns:
            fields = analysis.result_type.__dataclass_fields__
            assert fields[column.field].metadata["per"] == "unit", (name, column.key)


def test_an_input_latentprobe_cannot_supply_is_refused_at_registration():
    audio_analysis = Analysis(
        "needs a recording", _run, SpreadOptions, SpreadResult, needs=("audio",)
    )
    with pytest.raises(OptionsError, match="needs 'audio', which latentprobe cannot supply"):
        register("audio_toy", audio_analysis)
    assert "audio_toy" not in ANALYSES
