"""Click options generated from the option dataclasses: every flagged field is offered with
its default, old aliases still reach the options object, values are built by keyword."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import click
import numpy as np
import pytest
from click.testing import CliRunner
from latentprobe.cli.main import main
from latentprobe.cli.options import build, dest, settings_options

from latentprobe import EncoderStats, read_stats, write_stats
from latentprobe.extraction import EncodeOptions
from latentprobe.options import cli_fields, option
from latentprobe.registry import ANALYSES
from latentprobe.report import Report
from latentprobe.verdict import Thresholds

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures"

GROUPS = {
    **{name: a.options_type for name, a in ANALYSES.items()},
    "thresholds": Thresholds,
    "encoding": EncodeOptions,
}
FLAGGED = [(group, f) for group, cls in GROUPS.items() for f in cli_fields(cls)]


def run(*args):
    return CliRunner().invoke(main, [str(a) for a in args])


def assert_one_line_error(result, exit_code: int, fragment: str):
    assert result.exit_code == exit_code, result.output
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), result.stderr
    assert fragment in lines[0]
    assert "Traceback" not in result.stderr


@pytest.fixture(scope="module")
def help_lines() -> list[str]:
    """``analyze --help`` wide enough that each option sits on one line."""
    result = CliRunner().invoke(
        main, ["analyze", "--help"], terminal_width=1000, max_content_width=1000
    )
    assert result.exit_code == 0, result.output
    return result.output.splitlines()


def option_line(lines: list[str], flag: str) -> str:
    """The help entry of ``flag``: its declaration and help text (click moves the help to
    the next line when the declaration is long), as one line."""
    blocks, current = [], None
    for line in lines:
        text = line.strip()
        if text.startswith("-"):
            current = [text]
            blocks.append(current)
        elif current is not None and text and line.startswith("   "):
            current.append(text)
        else:
            current = None
    found = [
        "  ".join(block)
        for block in blocks
        if block[0].startswith(flag) and block[0][len(flag) : len(flag) + 1] in (",", " ", "/")
    ]
    assert len(found) == 1, (flag, found)
    return found[0]


def small_stats(path, n=120, labels=False) -> Path:
    rng = np.random.default_rng(0)
    mu = rng.normal(size=(n, 2))
    y = {"y": (mu[:, 0] > 0).astype(int)} if labels else {}
    write_stats(EncoderStats(mu, np.full((n, 2), -1.0), y), path)
    return Path(path)


# --------------------------------------------------------------------------- --help


def test_there_are_flagged_fields_in_every_kind_of_group():
    groups = {group for group, _ in FLAGGED}
    assert {"thresholds", "encoding"} <= groups
    assert groups & set(ANALYSES)


@pytest.mark.parametrize("group, field", FLAGGED, ids=[f"{g}.{f.name}" for g, f in FLAGGED])
def test_every_flagged_field_is_in_analyze_help_with_its_default(help_lines, group, field):
    line = option_line(help_lines, field.flag)
    for alias in field.aliases:
        assert alias in line.split("  ")[0], (alias, line)
    if field.type is bool:
        assert f"--no-{field.flag[2:]}" in line
    elif field.default is None:
        assert "[default:" not in line
    else:
        assert f"[default: {field.default}" in line, line
    if field.choices:
        assert all(choice in line for choice in field.choices)


def test_flags_and_aliases_are_unique():
    names = [n for _, f in FLAGGED for n in (f.flag, *f.aliases)]
    assert len(names) == len(set(names))


def test_extract_offers_the_encoding_options_only():
    result = CliRunner().invoke(main, ["extract", "--help"], terminal_width=1000)
    assert result.exit_code == 0
    for f in cli_fields(EncodeOptions):
        assert f"[default: {f.default}" in option_line(result.output.splitlines(), f.flag)
    assert "--kl-threshold" not in result.output and "--draws" not in result.output


# ------------------------------------------------------------------------- aliases


def test_samples_alias_reaches_the_options(tmp_path):
    source = small_stats(tmp_path / "s.h5")
    result = run("analyze", source, "--samples", "3", "--only", "mutual_information", "--json")
    assert result.exit_code == 0, result.output
    doc = json.loads(result.stdout)
    assert doc["analyses"]["mutual_information"]["draws_per_example"] == 3
    options = Report.read("s.report.h5").provenance["options"]["mutual_information"]
    assert options["draws_per_example"] == 3


def test_max_samples_alias_reaches_the_options(tmp_path):
    source = small_stats(tmp_path / "s.h5")
    result = run("analyze", source, "--max-samples", "40", "--only", "mutual_information", "--json")
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["analyses"]["mutual_information"]["n_points"] <= 40
    options = Report.read("s.report.h5").provenance["options"]["mutual_information"]
    assert options["max_points"] == 40


@pytest.mark.parametrize(
    "flags, unit_points",
    [(["--no-unit-terms"], 0), (["--unit-max-points", "10"], 10), ([], 2 * 120)],
)
def test_the_per_unit_terms_can_be_bounded_or_left_out(tmp_path, flags, unit_points):
    source = small_stats(tmp_path / "s.h5")
    result = run("analyze", source, "--only", "mutual_information", "--json", *flags)
    assert result.exit_code == 0, result.output
    mi = json.loads(result.stdout)["analyses"]["mutual_information"]
    assert mi["n_points_per_unit"] == unit_points
    assert (mi["total_correlation"] is None) == (unit_points == 0)


def test_probe_samples_alias_reaches_the_options(tmp_path):
    source = small_stats(tmp_path / "s.h5", labels=True)
    result = run(
        "analyze",
        source,
        "--only",
        "probes",
        "--probe-samples",
        "3",
        "--permutations",
        "1",
        "--folds",
        "2",
        "--jobs",
        "1",
        "--json",
    )
    assert result.exit_code == 0, result.output
    doc = json.loads(result.stdout)
    assert doc["analyses"]["probes"]["label_sets"]["y"]["draws_per_example"] == 3
    options = Report.read("s.report.h5").provenance["options"]["probes"]
    assert options["draws_per_example"] == 3 and options["folds"] == 2


def test_recorded_options_use_the_current_flag_names():
    result = run("analyze", FIXTURES / "healthy.pt", "--only", "active_units", "--draws", "3")
    assert result.exit_code == 0, result.output
    recorded = read_stats("healthy.report.h5").provenance["options"]
    assert recorded["draws"] == 3
    assert not {"samples", "max_samples", "probe_samples"} & set(recorded)


# -------------------------------------------------------------------- refused values


def test_too_few_points_for_the_draws_is_an_options_error(tmp_path):
    source = small_stats(tmp_path / "s.h5")
    result = run(
        "analyze", source, "--max-points", "3", "--draws", "2", "--only", "mutual_information"
    )
    assert_one_line_error(result, 2, "--max-points")
    assert not Path("s.report.h5").exists()


def test_num_workers_with_an_npz_file_is_an_options_error(tmp_path):
    np.savez(tmp_path / "d.npz", x=np.zeros((20, 64), np.float32))
    result = run(
        "analyze",
        FIXTURES / "healthy.pt",
        "--data",
        tmp_path / "d.npz",
        "--num-workers",
        "2",
        "--only",
        "active_units",
    )
    assert_one_line_error(result, 2, "--num-workers")
    assert not Path("healthy.report.h5").exists()


@pytest.mark.parametrize(
    "args",
    [
        ("--draws", "0"),
        ("--folds", "1"),
        ("--collapsed-fraction", "1.5"),
        ("--param", "sigma"),
        ("--batch-size", "0"),
    ],
)
def test_out_of_range_values_are_usage_errors(tmp_path, args):
    source = small_stats(tmp_path / "s.h5")
    result = run("analyze", source, *args)
    assert result.exit_code == 2
    assert args[0] in result.stderr
    assert not Path("s.report.h5").exists()


# ----------------------------------------------------------------------------- build


@dataclass(frozen=True)
class LowHigh:
    low: float = option(0.1, "Low.", flag="--low")
    high: float = option(0.9, "High.", flag="--high")
    unflagged: float = option(0.5, "Not offered.")


@dataclass(frozen=True)
class HighLow:
    high: float = option(0.9, "High.", flag="--high")
    low: float = option(0.1, "Low.", flag="--low")
    unflagged: float = option(0.5, "Not offered.")


@pytest.mark.parametrize("cls", [LowHigh, HighLow])
def test_build_by_keyword(cls):
    params = {dest("g", "high"): 2.0, dest("g", "low"): 1.0, "other": 7}
    built = build("g", cls, params)
    assert isinstance(built, cls)
    assert built.low == 1.0 and built.high == 2.0 and built.unflagged == 0.5


@pytest.mark.parametrize("cls", [LowHigh, HighLow])
def test_generated_options_build_the_dataclass(cls):
    seen = {}

    @click.command()
    @settings_options({"g": cls})
    def command(**params):
        seen["built"] = build("g", cls, params)

    result = CliRunner().invoke(command, ["--high", "3", "--low", "-1"])
    assert result.exit_code == 0, result.output
    assert seen["built"] == cls(low=-1.0, high=3.0)
    assert CliRunner().invoke(command, []).exit_code == 0
    assert seen["built"] == cls()


def test_build_ignores_other_groups():
    params = {dest("a", "low"): 1.0, dest("a", "high"): 2.0}
    params |= {dest("b", "low"): 5.0, dest("b", "high"): 6.0}
    assert build("a", LowHigh, params) == LowHigh(1.0, 2.0)
    assert build("b", HighLow, params) == HighLow(high=6.0, low=5.0)


def test_a_plots_path_that_is_a_file_fails_before_any_report(tmp_path):
    source = small_stats(tmp_path / "s.h5")
    (tmp_path / "figs").write_text("a file")
    result = run("analyze", source, "--plots", tmp_path / "figs", "-o", tmp_path / "r.h5")
    assert result.exit_code == 9 and "is a file" in result.stderr
    assert not (tmp_path / "r.h5").exists()
