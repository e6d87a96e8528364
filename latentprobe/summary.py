"""The human summary printed by ``latentprobe analyze``."""

from __future__ import annotations

import math

from .report import Report


def _fmt(value, digits: int = 4) -> str:
    """Fixed point, or scientific for tiny values that fixed point would show as 0.0000."""
    if value is None:
        return "-"
    if value != 0 and abs(value) < 10**-digits * 10:
        return f"{value:.2e}"
    return f"{value:.{digits}f}"


def summary(report: Report, source: str) -> str:
    d = report.to_dict()
    lines = [
        f"latentprobe: {source} ({d['n_examples']:,} examples, {d['n_units']} latent units; "
        "all figures in nats)"
    ]
    informative = {
        True: "z carries information about x",
        False: "z carries no information about x",
        None: "information not measured",
    }[d["z_informative"]]
    lines.append(
        f"verdict: {d['verdict']}: {informative}; {len(d['active_units'])} active, "
        f"{len(d['inactive_units'])} inactive, {len(d['collapsed_units'])} collapsed"
    )
    mi = d["mutual_information"]
    if mi:
        low, high = mi["ci95"]
        lines.append(
            f"I(x;z) = {_fmt(mi['nats'])} +- {_fmt(mi['stderr'])} nats "
            f"(95% CI {_fmt(low)} to {_fmt(high)}; ceiling log N = {_fmt(mi['log_n'], 3)})"
        )
        lines.append(
            f"rate R = {_fmt(d['rate'])} = I(x;z) {_fmt(mi['nats'])} + "
            f"KL(q(z)||p(z)) {_fmt(d['marginal_kl'])}; total correlation "
            f"{_fmt(d['total_correlation'])}"
        )
    elif d["rate"] is not None:
        lines.append(f"rate R = {_fmt(d['rate'])}")
    lines.append("")
    lines.append(f"{'unit':>4}  {'var(means)':>10}  {'KL':>9}  {'I(x;z_i)':>9}  status")
    for u in d["per_unit"]:
        lines.append(
            f"{u['index']:>4}  {_fmt(u['var_of_means']):>10}  {_fmt(u['kl']):>9}  "
            f"{_fmt(u['mi']):>9}  {u['status']}"
        )
    for name, probe in (d["probes"] or {}).items():
        lines.extend(probe_lines(name, probe))
    for note in d["notes"]:
        lines.append(f"note: {note}")
    return "\n".join(lines)


MEANS_GAP = 0.1


def probe_lines(name: str, p: dict) -> list[str]:
    """One line per label set, and an explanation when means and samples disagree."""
    if p["skipped"]:
        return [f"probe {name}: not probed ({p['skipped']})"]
    if p["task"] == "regression":
        return [
            f"probe {name}: R^2 {_fmt(p['accuracy'], 3)} on samples (means "
            f"{_fmt(p['mean_accuracy'], 3)}), p = {_fmt(p['p_value'], 4)}"
        ]
    bound = p["mi_lower_bound_nats"]
    bits = None if bound is None else bound / math.log(2)
    lines = [
        f"probe {name}: accuracy {_fmt(p['accuracy'], 3)} on samples z (means "
        f"{_fmt(p['mean_accuracy'], 3)}, x {_fmt(p['x_accuracy'], 3)}) vs chance "
        f"{_fmt(p['chance'], 3)}; p = {_fmt(p['p_value'], 4)} (smallest possible "
        f"{_fmt(p['p_value_min'], 4)}); I(z;y) >= {_fmt(bound, 3)} nats "
        f"({_fmt(bits, 3)} bits); selectivity {_fmt(p['selectivity'], 3)}; "
        f"MDL {_fmt(p['mdl_bits'], 0)} bits, compression {_fmt(p['compression'], 2)}x"
    ]
    if p["mean_accuracy"] - p["accuracy"] > MEANS_GAP:
        lines.append(
            f"note: the posterior means predict {name} ({_fmt(p['mean_accuracy'], 3)}) far "
            f"better than samples z do ({_fmt(p['accuracy'], 3)}): the means move with x at a "
            "scale below the posterior noise, so the decoder cannot use it; the verdict rests "
            "on samples"
        )
    return lines
