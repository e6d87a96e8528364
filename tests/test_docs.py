"""The docs' worked examples run: every command of the ``console`` blocks of docs/reports.md
on the fixtures' reports, and its Python example; a flag renamed in the code fails here."""

from __future__ import annotations

import re
import shlex
import shutil
from pathlib import Path

import pytest
from click.testing import CliRunner
from latentprobe.cli.main import main

DOCS = Path(__file__).resolve().parent.parent / "docs"


def _blocks(text: str, language: str) -> list[str]:
    return re.findall(rf"```{language}\n(.*?)```", text, flags=re.S)


def _commands(page: str) -> list[list[str]]:
    text = (DOCS / page).read_text()
    lines = [x for block in _blocks(text, "console") for x in block.splitlines()]
    return [shlex.split(x[2:]) for x in lines if x.startswith("$ ")]


@pytest.fixture
def report_folder(fixture_reports, tmp_path, monkeypatch):
    for path in fixture_reports.values():
        shutil.copy(path, tmp_path / path.name)
    monkeypatch.chdir(tmp_path)
    return tmp_path


COMMANDS = _commands("reports.md")


def test_the_page_has_an_example_of_each_verb():
    assert {c[1] for c in COMMANDS} == {"show", "compare", "export", "plot"}


@pytest.mark.parametrize("command", COMMANDS, ids=[" ".join(c[1:3]) for c in COMMANDS])
def test_each_command_of_the_reports_page_runs(command, report_folder):
    assert command[0] == "latentprobe"
    out = CliRunner().invoke(main, command[1:])
    assert out.exit_code == 0, out.output
    if "-o" in command:
        written = report_folder / command[command.index("-o") + 1]
        assert written.stat().st_size > 0


def test_the_python_example_of_the_reports_page_runs(report_folder, capsys):
    (code,) = _blocks((DOCS / "reports.md").read_text(), "python")
    exec(compile(code, "docs/reports.md", "exec"), {})
    printed = capsys.readouterr().out
    assert "verdict: partially_collapsed" in printed and "| healthy |" in printed
