"""Tables of reports for papers: one row per model (``model_table``), per unit
(``unit_table``) or per probed label set (``probe_table``), rendered as text, markdown,
LaTeX (booktabs), CSV or JSON by ``render``.

Cells are text, numbers or ``Estimate``s (a value with its standard error and 95% interval).
An estimate prints as "3.21 ± 0.02" (the half-width of the 95% interval, to two significant
digits, the value to the same decimals), or "0.97 [0.95, 0.99]" when the interval is not
symmetric about the value. CSV gives every estimate four columns (value, stderr and the
interval's ends) at full precision, so that it reads back into the same numbers.

Comparing models, a figure is marked when it differs from the first model's by more than
the 95% interval of the difference, |a - b| > 1.96 sqrt(se_a^2 + se_b^2): the two figures'
Monte Carlo errors taken as independent (each report draws its own z).
"""

from __future__ import annotations

import csv
import io
import json
import math
from dataclasses import dataclass, field

import numpy as np

from ..analyzers.intervals import Z95
from ..analyzers.result import Estimate
from ..registry import ANALYSES
from ..verdict import ALWAYS_COUNTED, STATUSES
from .document import plain, unit_columns

FORMATS = ("text", "markdown", "latex", "csv", "json")
MARK = "*"


@dataclass(frozen=True)
class Table:
    """``columns``: (key, title) in order; ``rows``: key -> cell; ``differs``: per row, the
    keys whose estimate differs from the first row's beyond the intervals."""

    title: str
    columns: list[tuple[str, str]]
    rows: list[dict]
    differs: list[set] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    def render(self, format: str = "text") -> str:
        return render(self, format)


def estimates(report) -> list[Estimate]:
    """Every analysis's headline figures, in table order."""
    return [
        e
        for name, result in report.results.items()
        if ANALYSES[name].estimates
        for e in ANALYSES[name].estimates(result)
    ]


def model_row(name: str, report) -> dict:
    v = report.verdict
    row = {"model": name, "verdict": v.model, "examples": report.stats.n_examples}
    row["units"] = report.stats.n_units
    row.update({status: len(v.units_with(status)) for status in STATUSES})
    if v.decoder_uses_z is not None:
        row["decoder_uses_z"] = "yes" if v.decoder_uses_z else "no"
    row.update({e.key: e for e in estimates(report)})
    return row


def differs(a, b) -> bool:
    """Whether two estimates differ by more than the 95% interval of their difference."""
    if not (isinstance(a, Estimate) and isinstance(b, Estimate)):
        return False
    if not (math.isfinite(a.value) and math.isfinite(b.value)):
        return False
    spread = math.hypot(a.stderr, b.stderr)
    if math.isnan(spread):
        return False
    tolerance = Z95 * spread if spread > 0 else 1e-12 * max(1.0, abs(a.value))
    return abs(a.value - b.value) > tolerance


def model_table(named_reports) -> Table:
    """One row per (name, report): the verdict, unit counts by status, whether the decoder
    uses z, and every headline estimate; differences from the first row are marked."""
    rows = [model_row(name, report) for name, report in named_reports]
    columns = [("model", "model"), ("verdict", "verdict"), ("examples", "N"), ("units", "D")]
    columns += [(s, s) for s in STATUSES if s in ALWAYS_COUNTED or any(r[s] for r in rows)]
    if any("decoder_uses_z" in r for r in rows):
        columns.append(("decoder_uses_z", "decoder uses z"))
    titles = {}
    for row in rows:
        for cell in row.values():
            if isinstance(cell, Estimate):
                titles.setdefault(cell.key, cell.title)
    columns += list(titles.items())
    first = rows[0] if rows else {}
    marked = [{k for k in titles if differs(first.get(k), row.get(k))} for row in rows]
    notes = [f"{MARK}: differs from {first['model']} beyond the 95% intervals"] * any(marked)
    return Table("models", columns, rows, marked, _units_note() + notes)


def transpose(table: Table) -> Table:
    """One row per column of ``table`` and one column per row (named by its first cell):
    a comparison of many figures reads down the page."""
    first = table.columns[0][0]
    names = [str(row.get(first)) for row in table.rows]
    columns = [("figure", table.columns[0][1])] + [(f"#{i}", n) for i, n in enumerate(names)]
    rows, marked = [], []
    for key, title in table.columns[1:]:
        rows.append({"figure": title, **{f"#{i}": r.get(key) for i, r in enumerate(table.rows)}})
        marked.append({f"#{i}" for i, d in enumerate(table.differs) if key in d})
    return Table(table.title, columns, rows, marked, table.notes)


def _units_note() -> list[str]:
    return [
        "figures in nats (accuracies and counts without units); ± is the 95% interval; "
        "a figure without one is exact"
    ]


def unit_table(report) -> Table:
    """One row per unit: its status and every declared per-unit column, with its standard
    error when the analysis gives one (a ``<field>_stderr`` array)."""
    columns = [("unit", "unit"), ("status", "status")]
    declared = [(u.column, u.values, u.stderr) for u in unit_columns(report)]
    columns += [(c.key, c.title) for c, _, _ in declared]
    rows = []
    for i, status in enumerate(report.verdict.unit_status):
        row = {"unit": i, "status": status}
        for column, values, stderr in declared:
            value = float(values[i])
            row[column.key] = (
                Estimate.normal(column.key, column.title, value, stderr[i])
                if stderr is not None
                else value
            )
        rows.append(row)
    return Table("units", columns, rows, notes=_units_note())


PROBE_COLUMNS = (
    ("label_set", "label set"),
    ("task", "task"),
    ("n_used", "n"),
    ("chance", "chance"),
    ("accuracy", "samples"),
    ("mean_accuracy", "means"),
    ("x_accuracy", "x"),
    ("prior_accuracy", "prior"),
    ("p_value", "p"),
    ("selectivity", "selectivity"),
    ("mi_lower_bound", "I(z;y) >="),
)


def probe_table(report) -> Table:
    """One row per probed label set: held-out accuracy (R^2 for regression) of the linear
    probe on samples (with its interval), on the means, on x and on prior draws, against
    chance; the permutation p-value, the selectivity and the I(z;y) bound."""
    result = report.results.get("probes")
    rows = []
    for name, r in result.label_sets.items() if result else ():
        if r.skipped:
            rows.append({"label_set": name, "task": f"skipped: {r.skipped}"})
            continue
        rows.append(
            {
                "label_set": name,
                "task": r.task,
                "n_used": r.n_used,
                "chance": r.chance,
                "accuracy": Estimate.interval(
                    "accuracy", "samples", r.accuracy, *_pair(r.accuracy_ci95)
                ),
                "mean_accuracy": r.mean_accuracy,
                "x_accuracy": r.x_accuracy,
                "prior_accuracy": r.prior_accuracy,
                "p_value": r.p_value,
                "selectivity": r.selectivity,
                "mi_lower_bound": Estimate.interval(
                    "mi_lower_bound",
                    "I(z;y) >=",
                    r.mi_lower_bound_nats,
                    *_pair(r.mi_lower_bound_ci95),
                    "nats",
                ),
            }
        )
    return Table("probes", list(PROBE_COLUMNS), rows, notes=_units_note())


def _pair(values) -> tuple[float, float]:
    return tuple(values) if len(values) == 2 else (math.nan, math.nan)


# --------------------------------------------------------------------------- cells


def _decimals(half: float) -> int:
    """Decimals that show ``half`` to two significant digits (4 when it is 0 or unknown)."""
    if not (math.isfinite(half) and half > 0):
        return 4
    return int(min(12, max(0, 1 - math.floor(math.log10(half)))))


def _number(value, decimals: int = 4) -> str:
    if value is None or (isinstance(value, float) and not math.isfinite(value)):
        return "-"
    if isinstance(value, (int, np.integer)):
        return f"{value:,}" if abs(value) >= 10_000 else str(value)
    if value != 0 and abs(value) < 10**-decimals:
        return f"{value:.2e}"
    return f"{value:.{decimals}f}"


def estimate_parts(e: Estimate) -> tuple[str, str | None, tuple[str, str] | None]:
    """(value, half-width or None, interval ends or None) as text, one of the last two set
    when the interval is known."""
    if not math.isfinite(e.value):
        return "-", None, None
    if not (math.isfinite(e.low) and math.isfinite(e.high)):
        return f"{_number(e.value)} (no interval)", None, None
    half = (e.high - e.low) / 2
    d = _decimals(half)
    if half == 0:
        return _number(e.value, d), None, None
    symmetric = abs((e.value - e.low) - (e.high - e.value)) <= 0.05 * half
    fixed = lambda v: f"{v:.{d}f}"  # noqa: E731  (to the interval's decimals, never e-notation)
    if symmetric:
        return fixed(e.value), _number(half, d), None
    return fixed(e.value), None, (fixed(e.low), fixed(e.high))


def cell_text(cell) -> str:
    if isinstance(cell, Estimate):
        value, half, ends = estimate_parts(cell)
        if half is not None:
            return f"{value} ± {half}"
        if ends is not None:
            return f"{value} [{ends[0]}, {ends[1]}]"
        return value
    if isinstance(cell, (int, float, np.integer, np.floating)) and not isinstance(cell, bool):
        return _number(cell)
    return "-" if cell is None else str(cell)


# --------------------------------------------------------------------------- renderings


def _text_cells(table: Table) -> list[list[str]]:
    cells = []
    for i, row in enumerate(table.rows):
        marked = table.differs[i] if i < len(table.differs) else set()
        cells.append(
            [cell_text(row.get(k)) + (f" {MARK}" if k in marked else "") for k, _ in table.columns]
        )
    return cells


def _text(table: Table) -> str:
    header = [title for _, title in table.columns]
    body = _text_cells(table)
    widths = [max(len(r[j]) for r in [header, *body]) for j in range(len(header))]
    lines = [
        "  ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)).rstrip()
        for r in [header, *body]
    ]
    lines.insert(1, "  ".join("-" * w for w in widths))
    return "\n".join(lines + [f"note: {n}" for n in table.notes])


def _markdown_escape(text: str) -> str:
    return text.replace("|", "\\|")


def _markdown(table: Table) -> str:
    header = [_markdown_escape(t) for _, t in table.columns]
    lines = ["| " + " | ".join(header) + " |", "|" + "|".join(["---"] * len(header)) + "|"]
    lines += ["| " + " | ".join(_markdown_escape(c) for c in r) + " |" for r in _text_cells(table)]
    return "\n".join(lines + [""] + [f"_{n}_" for n in table.notes])


LATEX_SPECIAL = {
    "\\": r"\textbackslash{}",
    "&": r"\&",
    "%": r"\%",
    "$": r"\$",
    "#": r"\#",
    "_": r"\_",
    "{": r"\{",
    "}": r"\}",
    "~": r"\textasciitilde{}",
    "^": r"\textasciicircum{}",
    "<": r"\textless{}",
    "|": r"\textbar{}",
    ">": r"\textgreater{}",
}


def latex_escape(text: str) -> str:
    return "".join(LATEX_SPECIAL.get(c, c) for c in text)


def _latex_number(text: str) -> str:
    """A number for math mode: e-notation as a power of ten, thousands' commas braced."""
    mantissa, e, exponent = text.partition("e")
    if e:
        return f"{mantissa} \\times 10^{{{int(exponent)}}}"
    return text.replace(",", "{,}")


def _latex_cell(cell, marked: bool) -> str:
    if isinstance(cell, Estimate):
        value, half, ends = estimate_parts(cell)
        value, ends = _latex_number(value), ends and tuple(map(_latex_number, ends))
        if half is not None:
            text = f"${value} \\pm {_latex_number(half)}$"
        elif ends is not None:
            text = f"${value}$ $[{ends[0]}, {ends[1]}]$"
        else:
            text = "--" if value == "-" else f"${value}$"
    elif isinstance(cell, (float, int, np.integer)) and not isinstance(cell, bool):
        text = cell_text(cell)
        text = "--" if text == "-" else f"${_latex_number(text)}$"
    else:
        text = latex_escape(cell_text(cell))
    return text + ("\\textsuperscript{*}" if marked else "")


def _latex(table: Table) -> str:
    spec = "l" * 2 + "r" * (len(table.columns) - 2)
    lines = [
        "% latentprobe table: needs \\usepackage{booktabs}",
        f"\\begin{{tabular}}{{{spec}}}",
        "\\toprule",
        " & ".join(latex_escape(t) for _, t in table.columns) + " \\\\",
        "\\midrule",
    ]
    for i, row in enumerate(table.rows):
        marked = table.differs[i] if i < len(table.differs) else set()
        cells = [_latex_cell(row.get(k), k in marked) for k, _ in table.columns]
        lines.append(" & ".join(cells) + " \\\\")
    lines += ["\\bottomrule", "\\end{tabular}"]
    lines += [f"% {n}" for n in table.notes]
    return "\n".join(lines)


def _expanded(table: Table) -> set[str]:
    """The keys of the columns that hold estimates (four columns each, flattened)."""
    return {k for k, _ in table.columns if any(isinstance(r.get(k), Estimate) for r in table.rows)}


def flat_columns(table: Table) -> list[str]:
    """Column names with every estimate's value, stderr and interval ends as columns."""
    spread = _expanded(table)
    names = []
    for key, _ in table.columns:
        names += list(flat_columns_of(key)) if key in spread else [key]
    return names


def flat_rows(table: Table) -> list[dict]:
    """The rows with each estimate spread over the four columns of ``flat_columns``
    (None where a row has no value)."""
    spread, rows = _expanded(table), []
    for row in table.rows:
        flat = {}
        for key, _ in table.columns:
            cell = row.get(key)
            if key not in spread:
                flat[key] = cell
                continue
            parts = (cell.value, cell.stderr, cell.low, cell.high) if cell else (None,) * 4
            flat.update(zip(flat_columns_of(key), parts, strict=True))
        rows.append(flat)
    return rows


def flat_columns_of(key: str) -> tuple[str, ...]:
    return (key, f"{key}_stderr", f"{key}_ci95_low", f"{key}_ci95_high")


def _csv_value(cell) -> str:
    if cell is None:
        return ""
    if isinstance(cell, float):
        return repr(cell)
    return str(cell)


def _csv(table: Table) -> str:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    columns = flat_columns(table)
    writer.writerow(columns)
    for row in flat_rows(table):
        writer.writerow([_csv_value(row[c]) for c in columns])
    return out.getvalue()


def _json_cell(cell):
    if isinstance(cell, Estimate):
        return plain(
            {
                "value": cell.value,
                "stderr": cell.stderr,
                "ci95_low": cell.low,
                "ci95_high": cell.high,
                "units": cell.units,
            }
        )
    return plain(cell)


def table_document(table: Table) -> dict:
    rows = []
    for i, row in enumerate(table.rows):
        entry = {k: _json_cell(row.get(k)) for k, _ in table.columns if k in row}
        if table.differs:
            entry["differs_from_first"] = sorted(table.differs[i])
        rows.append(entry)
    return {
        "table": table.title,
        "columns": dict(table.columns),
        "rows": rows,
        "notes": table.notes,
    }


RENDERERS = {
    "text": _text,
    "markdown": _markdown,
    "latex": _latex,
    "csv": _csv,
    "json": lambda table: json.dumps(table_document(table), indent=2),
}


def render(table: Table, format: str = "text") -> str:
    return RENDERERS[format](table)
