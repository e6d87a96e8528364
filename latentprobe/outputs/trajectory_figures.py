"""Figures of a trajectory (``latentprobe plot trajectory.h5``): the model's figures against
the training step on one shared axis, and a unit-by-step map of the per-unit KL with each
unit's status marked, so that the moment each unit dies is visible."""

from __future__ import annotations

import numpy as np

from ..verdict import STATUS_COLOURS, STATUSES


def draw_series(fig, t) -> None:
    """I(x;z) with its 95% band under the ceiling log N; the rate and KL(q(z)||p(z)) with
    theirs; the units of each status; all against the training step."""
    panels = [k for k in ("mi", "rate") if k in t.estimates] + ["counts"]
    fig.set_size_inches(7, 2.6 * len(panels))
    axes = fig.subplots(len(panels), 1, sharex=True, squeeze=False)[:, 0]
    steps = t.steps
    for ax, panel in zip(axes, panels, strict=True):
        if panel == "mi":
            _band(ax, steps, t.estimates["mi"], "I(x;z)")
            ax.plot(steps, np.log(t.n_examples), "k--", label="ceiling log N")
            ax.set_ylabel("I(x;z) (nats)")
        elif panel == "rate":
            _band(ax, steps, t.estimates["rate"], "rate R")
            if "marginal_kl" in t.estimates:
                _band(ax, steps, t.estimates["marginal_kl"], "KL(q(z)||p(z))")
            ax.set_ylabel("nats")
        else:
            for status in STATUSES:
                if t.counts[status].any() or status in ("active", "collapsed"):
                    ax.plot(
                        steps, t.counts[status], "o-", color=STATUS_COLOURS[status], label=status
                    )
            ax.set_ylabel("units")
        ax.legend(fontsize=7)
    axes[-1].set_xlabel(t.axis_label)


def _band(ax, steps, estimate: dict, label: str) -> None:
    (line,) = ax.plot(steps, estimate["value"], "o-", label=label)
    ax.fill_between(steps, estimate["low"], estimate["high"], color=line.get_color(), alpha=0.25)


def draw_unit_map(fig, t) -> None:
    """Per-unit KL (log colour scale) by unit and step; collapsed cells crossed."""
    from matplotlib.colors import LogNorm

    kl = t.per_unit["kl"]["values"]
    steps, units = len(t.steps), kl.shape[1]
    fig.set_size_inches(max(5, 0.5 * steps + 2), max(3, 0.3 * units + 1.5))
    ax = fig.add_subplot()
    floor = 1e-6
    image = ax.imshow(
        np.maximum(kl.T, floor), aspect="auto", origin="lower", norm=LogNorm(vmin=floor)
    )
    fig.colorbar(image, ax=ax, label="KL to the prior (nats)")
    step_at, unit_at = np.nonzero(t.status == "collapsed")
    ax.scatter(step_at, unit_at, marker="x", color="white", label="collapsed")
    ax.set_xticks(np.arange(steps), [f"{s:,}" for s in t.steps], rotation=45, fontsize=7)
    ax.set_xlabel(t.axis_label)
    ax.set_ylabel("latent unit")
    ax.legend(fontsize=7, loc="upper right")


def drawers(t) -> dict:
    found = {"trajectory": lambda fig: draw_series(fig, t)}
    if "kl" in t.per_unit:
        found["unit_kl"] = lambda fig: draw_unit_map(fig, t)
    return found
