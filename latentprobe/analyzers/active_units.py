"""Active units (Burda, Grosse & Salakhutdinov 2016)."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..gaussian import as_posteriors
from ..options import Options, option
from ..verdict import Evidence, Review, Thresholds, Verdict
from .result import Result, quantity


@dataclass(frozen=True)
class ActiveUnitsOptions(Options):
    threshold: float = option(
        0.01, "Active-unit threshold on the variance of the means.", flag="--au-threshold"
    )


DEFAULTS = ActiveUnitsOptions()


@dataclass(frozen=True)
class ActiveUnitsResult(Result):
    var_of_means: np.ndarray = quantity(
        "Var_x(E_q[z_i|x]) per unit, ddof=1", "squared latent units", per="unit"
    )
    active: np.ndarray = quantity("var_of_means > threshold, per unit", per="unit")
    threshold: float = quantity("threshold on the variance (not the standard deviation)")

    @property
    def indices(self) -> list[int]:
        return np.flatnonzero(self.active).tolist()

    @property
    def count(self) -> int:
        return int(self.active.sum())


def active_units(mu, *, threshold: float = DEFAULTS.threshold) -> ActiveUnitsResult:
    """Units whose posterior mean varies across the data: Var_x(E_q[z_i]) > threshold.

    Parameters
    ----------
    mu : array (numpy or torch) of shape (N, D)
        Posterior means.
    threshold : float
        On the variance (ddof=1, as in He et al. 2019), not the standard deviation.

    Returns
    -------
    ActiveUnitsResult with ``var_of_means`` of shape (D,). With N = 1 no spread can be
    observed and every variance is 0.

    References
    ----------
    Burda, Grosse & Salakhutdinov (2016), "Importance Weighted Autoencoders", sec. 5.2.
    """
    mu = as_posteriors(mu)[0].cpu().numpy()
    variance = mu.var(axis=0, ddof=1) if len(mu) > 1 else np.zeros(mu.shape[1])
    return ActiveUnitsResult(variance, variance > threshold, float(threshold))


def vote(result: ActiveUnitsResult, thresholds: Thresholds) -> Evidence:
    """A unit whose mean does not vary carries no information: a proxy that the mutual
    information, when it ran, overrides."""
    return Evidence(uninformative=~result.active, proxy=True)


def review(result: ActiveUnitsResult, verdict: Verdict) -> Review:
    """A note when a direct measure of information found none in units whose means vary."""
    direct = verdict.basis.get("uninformative") and not verdict.basis["uninformative_is_proxy"]
    shown_below = ("inactive", "collapsed")
    disagree = [
        i for i, s in enumerate(verdict.unit_status) if s in shown_below and result.active[i]
    ]
    if not (direct and disagree):
        return Review()
    return Review(
        notes=(
            f"units {disagree} have varying means (active by the variance criterion) but "
            "their information is shown below the threshold: their means move at a scale "
            "far below the posterior noise",
        )
    )


def summary_lines(result: ActiveUnitsResult) -> list[str]:
    return [
        f"active units by the variance of the means (> {result.threshold:g}): "
        f"{result.count} of {len(result.active)}"
    ]
