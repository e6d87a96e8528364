"""A report as one self-contained HTML file: the verdict, each analysis's summary, the
headline figures with their intervals, the per-unit and probe tables, every figure (PNG
embedded as data URIs) and the provenance. No script, no stylesheet or font from the
network: a colleague opens it in any browser, offline, without Python."""

from __future__ import annotations

import base64
from html import escape

from ..registry import ANALYSES
from . import tables
from .plots import figure_drawers, render_figure
from .summary import provenance_lines, summary_header

STYLE = """
body { font-family: system-ui, sans-serif; margin: 2em auto; max-width: 70em; color: #222; }
h1 { font-size: 1.5em; } h2 { font-size: 1.2em; margin-top: 2em; }
.verdict { font-size: 1.2em; font-weight: bold; }
table { border-collapse: collapse; font-size: 0.9em; margin: 0.5em 0; }
th, td { padding: 0.2em 0.7em; border-bottom: 1px solid #ccc; text-align: right; }
th:first-child, td:first-child { text-align: left; }
figure { margin: 1em 0; } img { max-width: 100%; }
.notes, .provenance { color: #555; font-size: 0.9em; }
"""


def _table(table: tables.Table) -> str:
    head = "".join(f"<th>{escape(title)}</th>" for _, title in table.columns)
    rows = []
    for row in table.rows:
        cells = "".join(
            f"<td>{escape(tables.cell_text(row.get(k)))}</td>" for k, _ in table.columns
        )
        rows.append(f"<tr>{cells}</tr>")
    notes = "".join(f"<p class='notes'>{escape(n)}</p>" for n in table.notes)
    return f"<table><thead><tr>{head}</tr></thead><tbody>{''.join(rows)}</tbody></table>{notes}"


def _figures(report) -> str:
    parts = []
    for stem, draw in figure_drawers(report).items():
        data = base64.b64encode(render_figure(draw, "png")).decode("ascii")
        parts.append(
            f"<figure><img src='data:image/png;base64,{data}' alt='{escape(stem)}'>"
            f"<figcaption>{escape(stem)}</figcaption></figure>"
        )
    return "".join(parts)


def _lines(lines, css: str = "") -> str:
    attribute = f" class='{css}'" if css else ""
    return "".join(f"<p{attribute}>{escape(line)}</p>" for line in lines)


def report_html(report, name: str) -> str:
    """The HTML document of ``report``, titled ``name``."""
    header = summary_header(report, name)
    analyses = [
        line
        for analysis, result in report.results.items()
        if ANALYSES[analysis].summary
        for line in ANALYSES[analysis].summary(result)
    ]
    body = [
        f"<h1>latentprobe report: {escape(name)}</h1>",
        f"<p class='verdict' id='verdict'>{escape(header[1])}</p>",
        _lines([header[0]]),
        "<h2>Analyses</h2>",
        _lines(analyses),
        "<h2>Headline figures</h2>",
        _table(tables.transpose(tables.model_table([(name, report)]))),
        "<h2>Per unit</h2>",
        _table(tables.unit_table(report)),
    ]
    if report.results.get("probes"):
        body += ["<h2>Probes</h2>", _table(tables.probe_table(report))]
    body += ["<h2>Figures</h2>", _figures(report)]
    if report.verdict.notes:
        body += ["<h2>Notes</h2>", _lines(report.verdict.notes, "notes")]
    body += ["<h2>Provenance</h2>", _lines(provenance_lines(report), "provenance")]
    return (
        "<!doctype html>\n<html lang='en'><head><meta charset='utf-8'>"
        f"<title>latentprobe: {escape(name)}</title><style>{STYLE}</style></head>"
        f"<body>{''.join(body)}</body></html>\n"
    )
