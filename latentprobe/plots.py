"""PNG figures for a report (matplotlib, no display needed)."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from .atomic import atomic_path
from .report import Report, per_unit_table

STATUS_COLOURS = {"active": "tab:green", "inactive": "tab:orange", "collapsed": "tab:red"}


def _figure():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def _save(fig, path: Path) -> Path:
    with atomic_path(path, force=True) as temp:
        fig.savefig(temp, format="png", dpi=120)
    _figure().close(fig)
    return path


def plot_kl_histogram(report: Report, path: Path) -> Path:
    """Per-unit histograms of the per-example KL on shared log-spaced edges."""
    plt = _figure()
    kl = report.results["kl_divergence"]
    edges, counts = kl.histogram_edges, kl.histogram_counts
    centres = np.sqrt(np.maximum(edges[:-1], edges[1] / 10) * edges[1:])
    fig, ax = plt.subplots(figsize=(8, 4.5))
    for unit, row in enumerate(counts):
        status = report.verdict.unit_status[unit]
        ax.step(
            centres,
            row,
            where="mid",
            color=STATUS_COLOURS[status],
            alpha=0.7,
            label=status if status not in ax.get_legend_handles_labels()[1] else None,
        )
    ax.set_xscale("log")
    ax.set_xlabel("KL(q(z_i|x) || p(z_i)) per example (nats; first bin holds [0, 1e-6))")
    ax.set_ylabel("examples")
    ax.set_title("Per-unit KL to the prior")
    ax.legend()
    fig.tight_layout()
    return _save(fig, path)


def plot_units(report: Report, path: Path) -> Path:
    """Variance of means, KL rate and I(x;z_i) per unit, coloured by status."""
    plt = _figure()
    table = per_unit_table(report)
    colours = [STATUS_COLOURS[s] for s in report.verdict.unit_status]
    fig, axes = plt.subplots(3, 1, figsize=(max(6, 0.35 * len(table)), 7), sharex=True)
    titles = ("variance of posterior means", "KL to the prior (nats)", "I(x;z_i) (nats)")
    for ax, column, title in zip(axes, table.T, titles, strict=True):
        ax.bar(np.arange(len(table)), np.nan_to_num(column), color=colours)
        ax.set_ylabel(title, fontsize=8)
    axes[-1].set_xlabel("latent unit (green active, orange inactive, red collapsed)")
    fig.tight_layout()
    return _save(fig, path)


def plot_probe_units(report: Report, name: str, path: Path) -> Path:
    """Held-out accuracy of the one-unit probes for a label set, against chance."""
    plt = _figure()
    result = report.results["probes"].label_sets[name]
    accuracy = np.nan_to_num(result.per_unit_accuracy)
    significant = result.per_unit_p_holm < 0.05
    fig, ax = plt.subplots(figsize=(max(6, 0.35 * len(accuracy)), 3.5))
    ax.bar(np.arange(len(accuracy)), accuracy, color=np.where(significant, "tab:green", "tab:gray"))
    ax.axhline(result.chance, color="black", linestyle="--", label="chance (majority class)")
    ax.set_xlabel("latent unit (green: Holm-corrected p < 0.05)")
    ax.set_ylabel("held-out accuracy" if result.task != "regression" else "held-out R^2")
    ax.set_title(f"One-unit probes on samples z: {name}")
    ax.legend()
    fig.tight_layout()
    return _save(fig, path)


def write_plots(report: Report, folder) -> list[Path]:
    folder = Path(folder)
    folder.mkdir(exist_ok=True)
    paths = [plot_units(report, folder / "units.png")]
    if "kl_divergence" in report.results:
        paths.append(plot_kl_histogram(report, folder / "kl_histogram.png"))
    if "probes" in report.results:
        for name, result in report.results["probes"].label_sets.items():
            if not result.skipped and np.isfinite(result.per_unit_accuracy).all():
                paths.append(plot_probe_units(report, name, folder / f"probes_{name}.png"))
    return paths
