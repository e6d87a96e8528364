"""An independent float64 reference for I(x;z) under the empirical distribution, its per-unit
terms and the TC: direct differences (z - mu)^2, scipy's logsumexp over every component, no
tiles, no GEMM expansion and no code shared with latentprobe's kernels."""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from scipy.special import logsumexp

LOG_2PI = math.log(2 * math.pi)


@dataclass
class Reference:
    nats: float
    per_unit_mi: np.ndarray
    total_correlation: float


def empirical_information(mu, logvar, draws: int, seed: int, chunk: int = 64) -> Reference:
    """Monte Carlo over ``draws`` draws of z per example, every example evaluated."""
    n, d = mu.shape
    rng = np.random.default_rng((seed, 3))
    var = np.exp(logvar)
    joint, units, tc = 0.0, np.zeros(d), 0.0
    for _ in range(draws):
        z = mu + np.sqrt(var) * rng.standard_normal(mu.shape)
        for start in range(0, n, chunk):
            zc = z[start : start + chunk]
            # (rows, N, D) per-unit log densities of every component at every row
            log_k = -0.5 * (LOG_2PI + logvar[None] + (zc[:, None] - mu[None]) ** 2 / var[None])
            rows = np.arange(start, start + len(zc))
            own = log_k[np.arange(len(zc)), rows]  # (rows, D)
            log_marginals = logsumexp(log_k, axis=1) - math.log(n)  # (rows, D)
            log_q = logsumexp(log_k.sum(2), axis=1) - math.log(n)
            joint += float((own.sum(1) - log_q).sum())
            units += (own - log_marginals).sum(0)
            tc += float((log_q - log_marginals.sum(1)).sum())
    total = n * draws
    return Reference(joint / total, units / total, tc / total)


def rate_under_mixture(mu, logvar, weights, means, logvars, draws: int, seed: int) -> float:
    """E_x KL(q(z|x) || p(z)) over the N examples for a mixture prior p (K components with
    (K, D) means and log-variances), by Monte Carlo over ``draws`` draws per example."""
    rng = np.random.default_rng((seed, 5))
    var, prior_var = np.exp(logvar), np.exp(logvars)
    total = 0.0
    for _ in range(draws):
        eps = rng.standard_normal(mu.shape)
        z = mu + np.sqrt(var) * eps
        log_q = (-0.5 * (LOG_2PI + logvar + eps**2)).sum(1)
        log_k = -0.5 * (LOG_2PI + logvars[None] + (z[:, None] - means[None]) ** 2 / prior_var)
        log_p = logsumexp(log_k.sum(2) + np.log(weights), axis=1)
        total += float((log_q - log_p).sum())
    return total / (draws * len(mu))
