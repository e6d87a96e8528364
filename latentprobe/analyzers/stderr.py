"""Monte Carlo standard errors for averages of paired draws d[n, s] (example n, sample s)."""

from __future__ import annotations

import math

import numpy as np


def paired_stderr(draws: np.ndarray, *, full: bool) -> float:
    """Standard error of ``draws.mean()`` for draws of shape (R, S).

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
