"""The human summary printed by ``latentprobe analyze``."""

from __future__ import annotations

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
    for note in d["notes"]:
        lines.append(f"note: {note}")
    return "\n".join(lines)
