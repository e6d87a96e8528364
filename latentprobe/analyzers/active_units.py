"""Active units (Burda, Grosse & Salakhutdinov 2016)."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..gaussian import as_float64_tensor
from .result import HDF5Result, quantity

DEFAULT_THRESHOLD = 0.01


@dataclass(frozen=True)
class ActiveUnitsResult(HDF5Result):
    var_of_means: np.ndarray = quantity(
        "Var_x(E_q[z_i|x]) per unit, ddof=1", "squared latent units"
    )
    active: np.ndarray = quantity("var_of_means > threshold, per unit")
    threshold: float = quantity("threshold on the variance (not the standard deviation)")

    @property
    def indices(self) -> list[int]:
        return np.flatnonzero(self.active).tolist()

    @property
    def count(self) -> int:
        return int(self.active.sum())


def active_units(mu, *, threshold: float = DEFAULT_THRESHOLD) -> ActiveUnitsResult:
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
    mu = as_float64_tensor(mu).cpu().numpy()
    variance = mu.var(axis=0, ddof=1) if len(mu) > 1 else np.zeros(mu.shape[1])
    return ActiveUnitsResult(variance, variance > threshold, float(threshold))
