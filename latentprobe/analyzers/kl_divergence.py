"""KL divergence of each posterior to the prior, per example and per unit, and its histogram."""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import torch

from ..gaussian import (
    as_float64_tensor,
    kl_diagonal_gaussians,
    log_mixture_density,
    log_mixture_density_per_unit,
    log_normal_diag,
    sample_posteriors,
)
from ..stats import Prior
from .result import HDF5Result, quantity
from .stderr import paired_stderr

SMALLEST_EDGE = 1e-6
BINS_PER_DECADE = 4


@dataclass(frozen=True)
class KLDivergenceResult(HDF5Result):
    per_example: np.ndarray = quantity(
        "KL(q(z_i|x_n) || p(z_i)) per example (rows) and unit (columns)", "nats"
    )
    per_unit_rate: np.ndarray = quantity("mean over examples of the per-unit KL", "nats")
    per_unit_rate_stderr: np.ndarray = quantity("Monte Carlo standard error (0 when exact)", "nats")
    total_rate: float = quantity("E_x KL(q(z|x) || p(z)), the rate R", "nats")
    total_rate_stderr: float = quantity("Monte Carlo standard error (0 when exact)", "nats")
    histogram_edges: np.ndarray = quantity(
        "shared bin edges: [0, 1e-6), then 4 log-spaced bins per decade", "nats"
    )
    histogram_counts: np.ndarray = quantity("examples per bin, one row per unit")
    exact: bool = quantity("closed form (Gaussian prior) rather than Monte Carlo")


def histogram_edges(largest: float) -> np.ndarray:
    """[0, 1e-6, 10^-5.75, ..., 10^k] with 10^k >= largest: collapsed units pile into the
    first few bins, active ones spread over the decades above."""
    top = max(0, math.ceil(math.log10(max(largest, SMALLEST_EDGE))))
    decades = top - round(math.log10(SMALLEST_EDGE))
    return np.concatenate(
        [[0.0], np.logspace(math.log10(SMALLEST_EDGE), top, decades * BINS_PER_DECADE + 1)]
    )


def kl_histogram(per_example: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Per-unit counts on shared edges; negative Monte Carlo values fall in the first bin."""
    values = np.clip(per_example, 0.0, None)
    edges = histogram_edges(float(values.max()))
    counts = np.stack([np.histogram(values[:, i], bins=edges)[0] for i in range(values.shape[1])])
    return edges, counts


def kl_divergence(
    mu, logvar, *, prior: Prior | None = None, n_samples: int = 16, seed: int = 0
) -> KLDivergenceResult:
    """KL(q(z|x_n) || p(z)) per example and unit, the per-unit rates and the total rate R.

    Parameters
    ----------
    mu, logvar : arrays of shape (N, D)
        Diagonal Gaussian posteriors (logvar is log sigma^2).
    prior : Prior, optional
        Standard normal by default. For a diagonal Gaussian the KL is in closed form
        (0.5 (sigma^2/s^2 + (mu - m)^2/s^2 - 1 - log sigma^2/s^2)); for a mixture it has none
        and is estimated by Monte Carlo with ``n_samples`` draws per example, with standard
        errors.

    References
    ----------
    Kingma & Welling (2014), appendix B (the Gaussian KL); Hoffman & Johnson (2016).
    """
    mu, logvar = as_float64_tensor(mu), as_float64_tensor(logvar, mu.device)
    prior = (prior or Prior.standard_normal()).expanded(mu.shape[1])
    if prior.is_gaussian:
        per_example = kl_diagonal_gaussians(
            mu,
            logvar,
            as_float64_tensor(prior.means[0], mu.device),
            as_float64_tensor(prior.logvars[0], mu.device),
        )
        per_example = per_example.cpu().numpy()
        zeros = np.zeros(mu.shape[1])
        rate = per_example.mean(0)
        return KLDivergenceResult(
            per_example, rate, zeros, float(rate.sum()), 0.0, *kl_histogram(per_example), exact=True
        )
    return _monte_carlo_kl(mu, logvar, prior, n_samples, seed)


def _monte_carlo_kl(mu, logvar, prior: Prior, n_samples: int, seed: int) -> KLDivergenceResult:
    n, d = mu.shape
    s = max(2, n_samples)
    z, index = sample_posteriors(mu, logvar, s, np.random.default_rng(seed))
    log_q_units = log_normal_diag(z, mu[index], logvar[index])
    means, logvars = (as_float64_tensor(a, mu.device) for a in (prior.means, prior.logvars))
    log_w = torch.log(as_float64_tensor(prior.weights, mu.device))
    log_p_units = log_mixture_density_per_unit(z, means, logvars, log_w)
    log_p = log_mixture_density(z, means, logvars, log_w)
    unit_draws = (log_q_units - log_p_units).cpu().numpy().reshape(n, s, d)
    total_draws = (log_q_units.sum(1) - log_p).cpu().numpy().reshape(n, s)
    per_example = unit_draws.mean(1)
    unit_stderr = np.array([paired_stderr(unit_draws[:, :, i], full=True) for i in range(d)])
    return KLDivergenceResult(
        per_example,
        per_example.mean(0),
        unit_stderr,
        float(total_draws.mean()),
        paired_stderr(total_draws, full=True),
        *kl_histogram(per_example),
        exact=False,
    )
