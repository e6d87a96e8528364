"""How the probes are presented: their review of the verdict, their summary lines and their
figures. No plotting library is imported: a figure's drawer is handed a matplotlib Figure."""

from __future__ import annotations

import functools
import math
from collections.abc import Callable

import numpy as np

from ...formatting import fmt
from ...verdict import Review, Verdict
from ..intervals import wilson_interval
from ..result import Estimate
from .result import ProbeSetResult, ProbesResult

ALPHA = 0.05
MEANS_GAP = 0.1  # means this much more accurate than samples earn a note


def significant(result: ProbeSetResult, alpha: float = ALPHA) -> bool:
    """The sample probe beats chance with a permutation p-value below ``alpha``."""
    return not result.skipped and result.p_value < alpha and result.accuracy > result.chance


def found_information(probed: dict[str, ProbeSetResult], alpha: float = ALPHA) -> list[str]:
    """The label sets whose sample probe beats chance with its p-value Holm-adjusted over
    all the label sets probed: with several label sets, one model-level decision stays at
    a family-wise error rate of ``alpha``."""
    from .discriminants import holm

    names = sorted(probed)
    adjusted = holm(np.array([probed[n].p_value for n in names]))
    return [
        n
        for n, p in zip(names, adjusted, strict=True)
        if p < alpha and probed[n].accuracy > probed[n].chance
    ]


def review(result: ProbesResult, verdict: Verdict) -> Review:
    """Probes are a second line of evidence: label information found in samples z means z
    carries information about x (I(z;y) <= I(z;x)), so it must agree with the interval on
    I(x;z). Found means significant after Holm's correction over the label sets. No review
    without that interval or without a label set probed."""
    probed = {n: r for n, r in result.label_sets.items() if not r.skipped}
    if verdict.z_informative is None or not probed:
        return Review()
    found = found_information(probed)
    if found and not verdict.z_informative:
        note = (
            f"probes on samples find information about {found} although the interval "
            "on I(x;z) does not clear the threshold: z carries a little information"
        )
        return Review(notes=(note,), agreement="disagrees")
    if verdict.z_informative and not found:
        note = (
            f"z carries information about x but the probes find none about "
            f"{sorted(probed)}: z encodes other aspects of x"
        )
        return Review(notes=(note,), agreement="agrees")
    return Review(agreement="agrees")


def _regression_line(name: str, r: ProbeSetResult) -> str:
    return (
        f"probe {name}: R^2 {fmt(r.accuracy, 3)} on samples (means "
        f"{fmt(r.mean_accuracy, 3)}), p = {fmt(r.p_value, 4)}"
    )


def _classification_line(name: str, r: ProbeSetResult) -> str:
    bits = r.mi_lower_bound_nats / math.log(2)
    return (
        f"probe {name}: accuracy {fmt(r.accuracy, 3)} on samples z (means "
        f"{fmt(r.mean_accuracy, 3)}, x {fmt(r.x_accuracy, 3)}) vs chance "
        f"{fmt(r.chance, 3)}; p = {fmt(r.p_value, 4)} (smallest possible "
        f"{fmt(r.p_value_min, 4)}); I(z;y) >= {fmt(r.mi_lower_bound_nats, 3)} nats "
        f"({fmt(bits, 3)} bits); selectivity {fmt(r.selectivity, 3)}; "
        f"MDL {fmt(r.mdl_bits, 0)} bits, compression {fmt(r.compression, 2)}x"
    )


def _means_note(name: str, r: ProbeSetResult) -> list[str]:
    if not r.mean_accuracy - r.accuracy > MEANS_GAP:
        return []
    return [
        f"note: the posterior means predict {name} ({fmt(r.mean_accuracy, 3)}) far "
        f"better than samples z do ({fmt(r.accuracy, 3)}): the means move with x at a "
        "scale below the posterior noise, so the decoder cannot use it; the verdict rests "
        "on samples"
    ]


def label_set_lines(name: str, r: ProbeSetResult) -> list[str]:
    """One line for the label set, and a note when the means beat the samples."""
    if r.skipped:
        return [f"probe {name}: not probed ({r.skipped})"]
    if r.task == "regression":
        return [_regression_line(name, r)]
    return [_classification_line(name, r), *_means_note(name, r)]


def summary_lines(result: ProbesResult) -> list[str]:
    """The lines of every label set, in order; a figure not computed shows as '-'."""
    return [line for name, r in result.label_sets.items() for line in label_set_lines(name, r)]


def draw_unit_probes(fig, name: str, result: ProbeSetResult) -> None:
    """Held-out accuracy (R^2 for regression) of the one-unit probes on samples z, one bar
    per unit, green where the Holm-corrected p-value is below 0.05, against chance."""
    accuracy = np.nan_to_num(result.per_unit_accuracy)
    colours = np.where(result.per_unit_p_holm < ALPHA, "tab:green", "tab:gray")
    fig.set_size_inches(max(6, 0.35 * len(accuracy)), 3.5)
    ax = fig.add_subplot()
    ax.bar(np.arange(len(accuracy)), accuracy, color=colours)
    ax.axhline(result.chance, color="black", linestyle="--", label="chance (majority class)")
    ax.set_xlabel("latent unit (green: Holm-corrected p < 0.05)")
    ax.set_ylabel("held-out accuracy" if result.task != "regression" else "held-out R^2")
    ax.set_title(f"One-unit probes on samples z: {name}")
    ax.legend()


#: The probes drawn side by side per label set: (field, legend label, colour).
PROBED_ON = (
    ("accuracy", "samples z ~ q(z|x)", "tab:blue"),
    ("mean_accuracy", "posterior means", "tab:cyan"),
    ("x_accuracy", "inputs x (reference)", "tab:gray"),
    ("prior_accuracy", "prior draws (must be chance)", "tab:red"),
)


def _interval(r: ProbeSetResult, score: float) -> tuple[float, float]:
    """The 95% Wilson interval of a held-out accuracy over the n examples probed (none for
    R^2, which is not a proportion)."""
    if r.task == "regression" or not math.isfinite(score):
        return (0.0, 0.0)
    low, high = wilson_interval(score * r.n_used, r.n_used)
    return (score - low, high - score)


def draw_accuracies(fig, result: ProbesResult) -> None:
    """Held-out accuracy (R^2 for regression) of the linear probes on samples, means, x and
    prior draws per label set, with 95% Wilson intervals, against chance (dashed)."""
    probed = {name: r for name, r in result.label_sets.items() if not r.skipped}
    fig.set_size_inches(max(5, 2.2 * len(probed)) + 2.5, 4)
    ax = fig.add_subplot()
    width = 0.8 / len(PROBED_ON)
    for j, (field, label, colour) in enumerate(PROBED_ON):
        scores = [getattr(r, field) for r in probed.values()]
        x = np.arange(len(probed)) + (j - (len(PROBED_ON) - 1) / 2) * width
        errors = np.array([_interval(r, s) for r, s in zip(probed.values(), scores, strict=True)])
        ax.bar(x, np.nan_to_num(scores), width, color=colour, label=label)
        ax.errorbar(x, np.nan_to_num(scores), yerr=errors.T, fmt="none", ecolor="black", capsize=2)
    for i, r in enumerate(probed.values()):
        first = i == 0
        ax.hlines(
            r.chance,
            i - 0.45,
            i + 0.45,
            colors="black",
            linestyles="--",
            label="chance" if first else None,
        )
    ax.set_xticks(np.arange(len(probed)), list(probed))
    ax.set_ylabel("held-out accuracy (R^2 for regression)")
    ax.set_title("Linear probes, 95% Wilson intervals")
    ax.legend(fontsize=8, loc="upper left", bbox_to_anchor=(1.01, 1.0))


def figures(result: ProbesResult, unit_status: tuple[str, ...]) -> dict[str, Callable]:
    """``probe_accuracy`` when a label set was probed, and ``probes_<name>`` for every
    label set whose one-unit probes ran (``unit_status`` is not used: the one-unit bars
    are coloured by significance)."""
    drawers = {}
    if any(not r.skipped for r in result.label_sets.values()):
        drawers["probe_accuracy"] = functools.partial(draw_accuracies, result=result)
    drawers.update(
        {
            f"probes_{name}": functools.partial(draw_unit_probes, name=name, result=r)
            for name, r in result.label_sets.items()
            if not r.skipped and np.isfinite(r.per_unit_accuracy).all()
        }
    )
    return drawers


def estimates(result: ProbesResult) -> list[Estimate]:
    """The sample probe's held-out accuracy (R^2 for regression) per label set probed, with
    its 95% interval, and chance beside it."""
    found = []
    for name, r in result.label_sets.items():
        if r.skipped:
            continue
        score = "R^2" if r.task == "regression" else "accuracy"
        low, high = r.accuracy_ci95 if len(r.accuracy_ci95) == 2 else (math.nan, math.nan)
        found.append(
            Estimate.interval(f"accuracy[{name}]", f"{score} ({name})", r.accuracy, low, high)
        )
        found.append(
            Estimate(f"chance[{name}]", f"chance ({name})", r.chance, 0.0, r.chance, r.chance, "")
        )
    return found
