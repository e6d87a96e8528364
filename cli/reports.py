"""Commands on written reports: ``show``, ``compare`` and ``export`` (nothing is recomputed)."""

from __future__ import annotations

import json
from pathlib import Path

import click

from latentprobe import store
from latentprobe.atomic import atomic_path, check_output_path
from latentprobe.errors import OptionsError
from latentprobe.outputs import plots, tables
from latentprobe.outputs.summary import provenance_lines, summary
from latentprobe.report import Report

from .handling import handle_errors

TABLES = {
    "model": lambda path, report: tables.model_table([(model_name(path), report)]),
    "units": lambda path, report: tables.unit_table(report),
    "probes": lambda path, report: tables.probe_table(report),
}
REPORT = click.Path(dir_okay=False)


def model_name(path) -> str:
    """A report's name in tables: its file name without ``.report.h5`` (or its suffix)."""
    name = Path(path).name
    for suffix in (".report.h5", ".h5", ".hdf5"):
        if name.endswith(suffix) and len(name) > len(suffix):
            return name[: -len(suffix)]
    return name


def _emit(text: str, output, force: bool) -> None:
    """Print, or write atomically to ``output``."""
    if output is None:
        click.echo(text)
        return
    with atomic_path(output, force=force) as temp:
        Path(temp).write_text(text if text.endswith("\n") else text + "\n", encoding="utf-8")
    click.echo(f"wrote {output}", err=True)


@click.command("show")
@click.argument("report", type=REPORT)
@click.option("--json", "as_json", is_flag=True, help="Print the JSON document instead.")
@handle_errors
def show_command(report, as_json):
    """Print the summary of REPORT (or of a trajectory) without recomputing, and what
    produced it."""
    if store.file_kind(report) == store.TRAJECTORY_FORMAT:
        _show_trajectory(report, as_json)
        return
    read = Report.read(report)
    if as_json:
        click.echo(json.dumps({**read.to_dict(), "provenance": read.provenance}, indent=2))
        return
    click.echo(summary(read, report))
    click.echo("")
    click.echo("\n".join(provenance_lines(read)))


def _show_trajectory(path, as_json: bool) -> None:
    from latentprobe import trajectory

    series = store.read_trajectory_file(path)
    if as_json:
        click.echo(json.dumps({**trajectory.document(series), "provenance": series.provenance}))
        return
    click.echo("\n".join(trajectory.summary_lines(series)))
    command = series.provenance.get("command_line")
    if command:
        click.echo(f"command: {command}")


def _names(reports, names: str | None) -> list[str]:
    if names is None:
        return [model_name(r) for r in reports]
    given = [n.strip() for n in names.split(",")]
    if len(given) != len(reports) or not all(given):
        raise OptionsError(
            f"--names gives {len(given)} names for {len(reports)} reports; give one per report"
        )
    return given


FORMAT = click.Choice(tables.FORMATS)


@click.command("compare")
@click.argument("reports", nargs=-1, required=True, type=REPORT)
@click.option("--format", "format_", type=FORMAT, default="text", show_default=True)
@click.option("--json", "as_json", is_flag=True, help="Same as --format json.")
@click.option("--names", help="Comma-separated names for the reports [default: file names].")
@click.option(
    "--rows",
    type=click.Choice(["models", "figures"]),
    help="One row per model or per figure [default: figures on a terminal (text), else models].",
)
@click.option("-o", "--output", type=click.Path(), help="Write the table here.")
@click.option("--force", is_flag=True, help="Overwrite an existing output file.")
@handle_errors
def compare_command(reports, format_, as_json, names, rows, output, force):
    """Put models side by side: verdict, unit counts and every estimate with its interval;
    figures that differ from the first report's beyond the intervals are marked."""
    if output:
        check_output_path(output, force=force)
    read = [Report.read(r) for r in reports]
    table = tables.model_table(list(zip(_names(reports, names), read, strict=True)))
    format_ = "json" if as_json else format_
    by_figure = rows == "figures" or (rows is None and format_ == "text")
    text = tables.render(tables.transpose(table) if by_figure else table, format_)
    _emit(text, output, force)


@click.command("export")
@click.argument("report", type=REPORT)
@click.option(
    "--format",
    "format_",
    type=click.Choice([*tables.FORMATS, "html"]),
    default="markdown",
    show_default=True,
    help="html: the whole report in one self-contained file (--table is then not used).",
)
@click.option("--table", type=click.Choice(list(TABLES)), default="model", show_default=True)
@click.option("-o", "--output", type=click.Path(), help="Write here instead of stdout.")
@click.option("--force", is_flag=True, help="Overwrite an existing output file.")
@handle_errors
def export_command(report, format_, table, output, force):
    """Write a table of REPORT for a paper (LaTeX with booktabs), a README (markdown), a
    spreadsheet (CSV) or a program (JSON)."""
    if output:
        check_output_path(output, force=force)
    read = Report.read(report)
    if format_ == "html":
        from latentprobe.outputs.html import report_html

        _emit(report_html(read, model_name(report)), output, force)
        return
    _emit(tables.render(TABLES[table](report, read), format_), output, force)


@click.command("plot")
@click.argument("report", type=REPORT)
@click.option("-o", "--output", type=click.Path(), required=True, help="Folder for the figures.")
@click.option(
    "--format", "format_", type=click.Choice(plots.FORMATS), default="pdf", show_default=True
)
@handle_errors
def plot_command(report, output, format_):
    """Draw the figures of REPORT for a paper: per-unit columns on a log scale with error
    bars and thresholds, the KL histogram, I(x;z) against log N, the probes against chance;
    for a trajectory, the figures against the training step and the unit-by-step KL."""
    plots.plots_folder(output, flag="-o")
    if store.file_kind(report) == store.TRAJECTORY_FORMAT:
        from latentprobe.outputs import trajectory_figures

        drawers = trajectory_figures.drawers(store.read_trajectory_file(report))
    else:
        drawers = plots.figure_drawers(Report.read(report))
    for path in plots.write_figures(drawers, output, format_, flag="-o"):
        click.echo(f"wrote {path}", err=True)


COMMANDS = (show_command, compare_command, export_command, plot_command)
