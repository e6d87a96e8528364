"""Standard errors and 95% intervals shared by the analyzers."""

from __future__ import annotations

import math

import numpy as np

Z95 = 1.959963984540054  # the 97.5% quantile of the standard normal


def normal_interval(estimate: float, stderr: float) -> tuple[float, float]:
    """estimate +- 1.96 standard errors."""
    return estimate - Z95 * stderr, estimate + Z95 * stderr


def paired_stderr(draws: np.ndarray, *, full: bool) -> float:
    """Monte Carlo standard error of ``draws.mean()`` for paired draws of shape (R, S)
    (example r, draw s).

    ``full``: the R rows are the whole dataset, so only the sampling of z is random. With
    S >= 2 the error is then sqrt(sum_n Var_s(d_n) / S) / R, from the spread within each
    example. Otherwise (S = 1, or rows drawn at random from the data) it is the spread of
    the row means over sqrt(R); with S = 1 over the full data this is conservative, since it
    also counts differences between examples, which the full-data average does not suffer.
    Returns NaN when nothing can be estimated (a single nonzero draw).
    """
    draws = np.asarray(draws, dtype=np.float64)
    rows, samples = draws.shape
    if full and samples >= 2:
        return float(math.sqrt(draws.var(axis=1, ddof=1).sum() / samples) / rows)
    if rows < 2:  # no spread to measure; draws that are all exactly 0 (N = 1) have none
        return 0.0 if not draws.any() else math.nan
    return float(draws.mean(axis=1).std(ddof=1) / math.sqrt(rows))


def wilson_interval(successes: float, n: int) -> tuple[float, float]:
    """95% Wilson score interval for a proportion (Wilson 1927)."""
    if n == 0:
        return (math.nan, math.nan)
    phat = successes / n
    denom = 1 + Z95**2 / n
    centre = (phat + Z95**2 / (2 * n)) / denom
    half = Z95 * math.sqrt(phat * (1 - phat) / n + Z95**2 / (4 * n * n)) / denom
    low = 0.0 if successes == 0 else max(0.0, centre - half)  # exact ends, free of rounding
    high = 1.0 if successes == n else min(1.0, centre + half)
    return (low, high)
