"""The human summary printed by ``latentprobe analyze``."""

from __future__ import annotations

import dataclasses

from ..formatting import fmt
from ..registry import ANALYSES
from ..types import FAMILIES
from ..verdict import ALWAYS_COUNTED, STATUSES, Thresholds
from .document import declared_columns
from .groups import group_rows, is_grouped


def _informative(report) -> str:
    """What the interval on I(x;z) shows, in the words of the verdict rule: an interval that
    does not clear the threshold shows less than it, not that z carries nothing."""
    shown = report.verdict.z_informative
    if shown is None:
        return "information not measured"
    default = Thresholds().mi_threshold
    threshold = report.provenance.get("thresholds", {}).get("mi_threshold", default)
    if shown:
        return f"z carries information about x (above the {threshold:g}-nat threshold)"
    return f"z is not shown to carry more than the {threshold:g}-nat threshold about x"


def _training_text(report) -> str:
    """'; epoch 12, global step 4,800' for a checkpoint that says where in training it was
    saved (a stale last.ckpt is a common mistake), else ''."""
    training = report.stats.provenance.get("checkpoint_training") or {}
    parts = [f"{k.replace('_', ' ')} {v:,}" for k, v in training.items()]
    return f"; {', '.join(parts)}" if parts else ""


def _decoder_side(report) -> str:
    uses = report.verdict.decoder_uses_z
    if uses is None:
        return ""
    return "; the decoder uses z" if uses else "; the decoder is not shown to use z"


def summary_header(report, source: str) -> list[str]:
    """The summary's first lines: what was analysed, and the verdict."""
    v = report.verdict
    shown = [s for s in STATUSES if s in ALWAYS_COUNTED or v.units_with(s)]
    counts = ", ".join(f"{len(v.units_with(s))} {s}" for s in shown)
    return [
        f"latentprobe: {source} ({report.stats.n_examples:,} examples, "
        f"{report.stats.n_units} latent units{_training_text(report)}; all figures in nats)",
        f"verdict: {v.model}: {_informative(report)}; {counts}{_decoder_side(report)}",
    ]


#: The printed per-unit table stops after this many units (the files hold every unit).
TABLE_UNITS = 64


def unit_table(report) -> list[str]:
    """The per-unit table: one column per declared column of the analyses that ran, for the
    first TABLE_UNITS units."""
    columns = declared_columns(report)
    header = f"{'unit':>4}  " + "".join(f"{c.title:>10}  " for c, _ in columns) + "status"
    lines = [header]
    statuses = report.verdict.unit_status
    for i, status in enumerate(statuses[:TABLE_UNITS]):
        cells = "".join(f"{fmt(float(values[i])):>10}  " for _, values in columns)
        lines.append(f"{i:>4}  {cells}{status}")
    if len(statuses) > TABLE_UNITS:
        lines.append(
            f"... {len(statuses) - TABLE_UNITS:,} more units: every unit is in the report "
            "(per-unit datasets under /analyses) and in --json"
        )
    return lines


def channel_table(report) -> list[str]:
    """Per channel of a (C, H, W)-like latent: its units' status counts and the declared
    columns combined (sums of KL and I(x;z_i), means of the others); empty for a flat one."""
    if not is_grouped(report):
        return []
    shape = " x ".join(str(s) for s in report.stats.latent_shape)
    columns = [(c.key, f"{c.combine} {c.title}") for c, _ in declared_columns(report)]
    counted = "/".join(s[:5] for s in STATUSES)
    header = f"{'channel':>7}  {'units':>5}  {counted:>26}  "
    lines = [
        "",
        f"per channel (the first axis of the {shape} latent):",
        header + "".join(f"{title:>14}  " for _, title in columns),
    ]
    for row in group_rows(report, "channel")[:TABLE_UNITS]:
        counts = "/".join(str(row[s]) for s in STATUSES)
        cells = "".join(f"{fmt(row[key]):>14}  " for key, _ in columns)
        lines.append(f"{row['channel']:>7}  {row['units']:>5}  {counts:>26}  {cells}")
    return lines


#: How each --param reads the encoder's second output.
READ_AS = {"logvar": "log sigma^2", "logstd": "log sigma", "std": "sigma", "var": "sigma^2"}


def _posterior_line(report) -> list[str]:
    """The posterior family, and how the encoder's output was read when latentprobe ran the
    encoder."""
    family = report.stats.family
    param = report.stats.provenance.get("encode_options", {}).get("param")
    if family != "normal":
        return [f"posterior: {FAMILIES[family]}, as the encoder's distribution gave it"]
    if param is None:
        return []
    read = READ_AS.get(param, param)
    caveat = report.stats.provenance.get("posterior_caveat")
    if caveat:
        return [f"posterior: {caveat}; its second output read as {read} (--param {param})"]
    return [
        f"posterior: diagonal Gaussian; the encoder's second output read as {read} "
        f"(--param {param})"
    ]


def _prior_line(report) -> list[str]:
    """Which prior the KL and the rate are against, when latentprobe ran the encoder."""
    source = report.stats.provenance.get("prior_source")
    if source is None:
        return []
    prior = report.stats.prior
    if prior.kind == "standard_normal":
        what = "N(0, I)"
    else:
        what = "diagonal Gaussian" if prior.is_gaussian else f"mixture of {len(prior.weights)}"
    if source == "given":
        return [f"prior: {what}, as given"]
    if source.startswith("the model's own"):
        return [f"prior: {what}, {source} (--prior-* options override it)"]
    if source == "standard normal (default)":
        return [f"prior: {what} (the model defines none that latentprobe recognises)"]
    return [f"prior: {what} instead of the model's own, which cannot be used: {source}"]


def _changed(given: dict, defaults: dict) -> list[str]:
    return [f"{k}={given[k]}" for k in given if k in defaults and given[k] != defaults[k]]


def provenance_lines(report) -> list[str]:
    """Which latentprobe wrote the report, when, with which command, options and seed (the
    options and thresholds that differ from the defaults of this version)."""
    p = report.provenance
    lines = [
        f"written by latentprobe {p.get('latentprobe_version', '(unknown version)')} on "
        f"{p.get('created_utc', '(unknown date)')} (torch {p.get('torch_version', '?')}, "
        f"numpy {p.get('numpy_version', '?')}); seed {p.get('seed', '?')}"
    ]
    if p.get("command_line"):
        lines.append(f"command: {p['command_line']}")
    changed = []
    for name, given in (p.get("options") or {}).items():
        if name in ANALYSES and isinstance(given, dict):
            defaults = dataclasses.asdict(ANALYSES[name].options_type())
            changed += [f"{name}.{c}" for c in _changed(given, defaults)]
    thresholds = p.get("thresholds") or {}
    changed += _changed(thresholds, dataclasses.asdict(Thresholds()))
    analyses = ", ".join(p.get("analyses") or report.results)
    lines.append(f"analyses: {analyses}; options: {', '.join(changed) or 'the defaults'}")
    return lines


def summary(report, source: str) -> str:
    lines = summary_header(report, source) + _posterior_line(report) + _prior_line(report)
    for name, result in report.results.items():
        if ANALYSES[name].summary:
            lines.extend(ANALYSES[name].summary(result))
    lines.extend(channel_table(report))
    lines.append("")
    lines.extend(unit_table(report))
    lines.extend(f"note: {note}" for note in report.verdict.notes)
    return "\n".join(lines)
