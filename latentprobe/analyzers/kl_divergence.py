"""KL divergence of each posterior to the prior, per example and per unit, and its histogram."""

from __future__ import annotations

import dataclasses
import math
import warnings
from dataclasses import dataclass

import numpy as np
import torch

from .. import posteriors
from ..formatting import fmt
from ..gaussian import (
    as_float64_tensor,
    as_posteriors,
    log_mixture_density,
    log_mixture_density_per_unit,
)
from ..options import Options, option
from ..types import Prior
from ..verdict import STATUS_COLOURS, Evidence, Review, Thresholds, Verdict
from .intervals import paired_stderr
from .result import Estimate, Result, quantity

SMALLEST_EDGE = 1e-6
BINS_PER_DECADE = 4
#: The last finite edge is at most 10^9 nats; larger values (overflowing extreme posteriors,
#: infinities) fall in one last bin [10^9, inf).
LARGEST_DECADE = 9
#: Quadrature points evaluated at once (examples x nodes x units) for a unit's KL to a
#: mixture prior (the rule is the family's: ``posteriors``).
QUADRATURE_CHUNK = 2**21


@dataclass(frozen=True)
class KLDivergenceOptions(Options):
    draws_per_example: int = option(
        16, "Draws of z per example for the Monte Carlo KL to a mixture prior (at least 2)."
    )


DEFAULTS = KLDivergenceOptions()


@dataclass(frozen=True)
class KLDivergenceResult(Result):
    per_example: np.ndarray = quantity(
        "KL(q(z_i|x_n) || p(z_i)) per example (rows) and unit (columns)", "nats", per="example"
    )
    per_unit_rate: np.ndarray = quantity(
        "mean over examples of the per-unit KL", "nats", per="unit"
    )
    per_unit_rate_stderr: np.ndarray = quantity(
        "0: closed form, or quadrature for a mixture prior", "nats", per="unit"
    )
    total_rate: float = quantity("E_x KL(q(z|x) || p(z)), the rate R", "nats")
    total_rate_stderr: float = quantity("Monte Carlo standard error (0 when exact)", "nats")
    histogram_edges: np.ndarray = quantity(
        "shared bin edges: [0, 1e-6), then 4 log-spaced bins per decade (last edge inf beyond 1e9)",
        "nats",
        dims=("kl_edge",),
    )
    histogram_counts: np.ndarray = quantity(
        "examples per bin, one row per unit", dims=("unit", "kl_bin")
    )
    exact: bool = quantity("closed form (Gaussian prior) rather than Monte Carlo")
    smallest_logvar: float = quantity(
        "smallest log-variance over every example and unit", default=math.nan
    )
    wider_than_prior: bool = quantity(
        "every posterior wider than the prior's widest component while the means move with "
        "x: the mark of a std or variance read as a log-variance (see --param)",
        default=False,
    )

    def check(self) -> None:
        units, edges, counts = len(self.per_unit_rate), self.histogram_edges, self.histogram_counts
        if edges.ndim != 1 or len(edges) < 2 or not np.all(np.diff(edges) > 0):
            raise ValueError("the KL histogram's edges do not increase")
        if counts.shape != (units, len(edges) - 1) or (counts < 0).any():
            raise ValueError(f"the KL histogram's counts do not fit {units} units and its edges")
        if self.per_example.ndim != 2 or self.per_example.shape[1] != units:
            raise ValueError(f"the per-example KL does not have {units} columns")


def histogram_edges(largest: float) -> np.ndarray:
    """[0, 1e-6, 10^-5.75, ..., 10^k] with 10^k >= largest: collapsed units pile into the
    first few bins, active ones spread over the decades above. Beyond 10^9 nats (an
    infinite ``largest`` included) the edges end with [..., 10^9, inf]."""
    overflow = not largest <= 10.0**LARGEST_DECADE
    top = LARGEST_DECADE if overflow else math.ceil(math.log10(max(largest, SMALLEST_EDGE)))
    decades = max(0, top) - round(math.log10(SMALLEST_EDGE))
    logspaced = np.logspace(math.log10(SMALLEST_EDGE), max(0, top), decades * BINS_PER_DECADE + 1)
    return np.concatenate([[0.0], logspaced, [math.inf] * overflow])


def kl_histogram(per_example: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Per-unit counts on shared edges; negative Monte Carlo values fall in the first bin
    (NaN, from overflowing Monte Carlo draws, in none)."""
    values = np.clip(per_example, 0.0, None)
    edges = histogram_edges(float(np.nanmax(values, initial=0.0)))
    counts = np.stack([np.histogram(values[:, i], bins=edges)[0] for i in range(values.shape[1])])
    return edges, counts


def kl_divergence(
    mu,
    logvar,
    *,
    prior: Prior | None = None,
    draws_per_example: int = DEFAULTS.draws_per_example,
    seed: int = 0,
    family: str = "normal",
    scale_tril=None,
) -> KLDivergenceResult:
    """KL(q(z|x_n) || p(z)) per example and unit, the per-unit rates and the total rate R.

    Parameters
    ----------
    mu, logvar : arrays of shape (N, D)
        Posterior means and marginal log-variances (log sigma^2).
    family, scale_tril : the posterior family (``posteriors.FAMILIES``; default the
        diagonal Gaussian) and, for ``multivariate_normal``, the Cholesky factors (N, D, D).
        Per unit the KL is that of the marginal q(z_i|x) (Laplace against a Gaussian prior
        in closed form too); with a full covariance the total rate adds, per example,
        KL(q(z|x) || prod_i q(z_i|x)) = (sum_i log Sigma_ii - log det Sigma) / 2.
    prior : Prior, optional
        Standard normal by default. For a diagonal Gaussian the KL is in closed form
        (0.5 (sigma^2/s^2 + (mu - m)^2/s^2 - 1 - log sigma^2/s^2)); for a mixture it has none:
        each unit's KL to its 1-D marginal prior comes from Gauss-Hermite quadrature
        (``unit_kl_by_quadrature``), the total rate from Monte Carlo with
        ``draws_per_example`` draws per example (at least 2), with its standard error.

    Returns
    -------
    KLDivergenceResult, in nats.

    References
    ----------
    Kingma & Welling (2014), appendix B (the Gaussian KL); Hoffman & Johnson (2016).
    """
    mu, logvar = as_posteriors(mu, logvar)
    q = posteriors.of(family, mu, logvar, scale_tril)
    prior = (prior or Prior.standard_normal()).expanded(mu.shape[1])
    checked = _check_parametrisation(mu, logvar, float(np.max(prior.logvars)))
    if not prior.is_gaussian:
        result = _monte_carlo_kl(q, prior, max(2, draws_per_example), seed)
        return dataclasses.replace(result, **checked)
    mean, lv = (as_float64_tensor(a[0], mu.device) for a in (prior.means, prior.logvars))
    per_example = q.kl_units(mean, lv).cpu().numpy()
    rate = per_example.mean(0)
    total = float(rate.sum() + q.dependence().mean())
    zeros = np.zeros(mu.shape[1])
    histogram = kl_histogram(per_example)
    return KLDivergenceResult(per_example, rate, zeros, total, 0.0, *histogram, True, **checked)


#: Means varying by more than this (variance over examples, as for active units) count as
#: informative units for the parametrisation check.
MEANS_VARY = 0.01


def _check_parametrisation(mu, logvar, widest_prior: float) -> dict:
    """The smallest log-variance, and whether every posterior is wider than the prior's
    widest component (log-variance ``widest_prior``) although some unit's means vary, with a
    warning then: that is what a std or a variance read as a log-variance gives (a log sigma
    read as log sigma^2 has no such mark: too wide by the square root, not wider than all)."""
    smallest = float(logvar.min())
    varies = mu.shape[0] > 1 and bool((mu.var(dim=0) > MEANS_VARY).any())
    wider = smallest > widest_prior and varies
    if wider:
        warnings.warn(misread_text(smallest), stacklevel=3)
    return {"smallest_logvar": smallest, "wider_than_prior": wider}


def misread_text(smallest: float) -> str:
    return (
        f"every posterior is wider than the prior (smallest log-variance {smallest:.3g}) "
        "while the means vary with x: a std or variance read as a log-variance looks like "
        "this; check --param"
    )


def _monte_carlo_kl(q: posteriors.Normal, prior: Prior, draws: int, seed: int):
    """Per unit, KL to the 1-D marginal prior by quadrature (deterministic: a unit's status
    no longer flips with the seed); the total against the D-dimensional mixture, which does
    not factorise, by Monte Carlo with its standard error."""
    n, d = q.mu.shape
    z, index = q.sample(draws, np.random.default_rng(seed))
    log_q = q.log_density(z, index)
    means, logvars = (as_float64_tensor(a, q.mu.device) for a in (prior.means, prior.logvars))
    log_w = torch.log(as_float64_tensor(prior.weights, q.mu.device))
    log_p = log_mixture_density(z, means, logvars, log_w)
    total_draws = (log_q - log_p).cpu().numpy().reshape(n, draws)
    per_example = unit_kl_by_quadrature(q, means, logvars, log_w).cpu().numpy()
    return KLDivergenceResult(
        per_example,
        per_example.mean(0),
        np.zeros(d),
        float(total_draws.mean()),
        paired_stderr(total_draws, full=True),
        *kl_histogram(per_example),
        exact=False,
    )


def unit_kl_by_quadrature(q, means, logvars, log_w):
    """KL(q(z_i|x_n) || sum_k w_k N(m_k, e^lv_k)) per example and unit, shape (N, D), for
    posteriors ``q`` (``posteriors``): minus the marginal's entropy minus E_q[log p(z_i)],
    the expectation by the family's quadrature rule (``quadrature``; its accuracy is
    stated there), in chunks of examples."""
    mu = q.mu
    x, w = (as_float64_tensor(a, mu.device) for a in q.quadrature())
    entropy, scale = q.entropy_units(), q.scale()
    out = torch.empty_like(mu)
    step = max(1, QUADRATURE_CHUNK // (len(x) * mu.shape[1]))
    for start in range(0, mu.shape[0], step):
        m, s = mu[start : start + step], scale[start : start + step]
        z = (m[:, None, :] + s[:, None, :] * x[:, None]).reshape(-1, m.shape[1])
        log_p = log_mixture_density_per_unit(z, means, logvars, log_w).reshape(len(m), len(x), -1)
        out[start : start + step] = -entropy[start : start + step] - (w[:, None] * log_p).sum(1)
    return out


def collapsed_units(result: KLDivergenceResult, thresholds: Thresholds) -> np.ndarray:
    """Mask of units whose KL is below the threshold for at least the given fraction of x."""
    below = result.per_example < thresholds.kl_threshold
    return below.mean(axis=0) >= thresholds.collapsed_fraction


def vote(result: KLDivergenceResult, thresholds: Thresholds) -> Evidence:
    return Evidence(collapsed=collapsed_units(result, thresholds))


def review(result: KLDivergenceResult, verdict: Verdict) -> Review:
    """A note when the posteriors look like a misread parametrisation (see
    ``_check_parametrisation``) and some unit is not collapsed."""
    open_units = any(s != "collapsed" for s in verdict.unit_status)
    if result.wider_than_prior and open_units and verdict.z_informative is not False:
        return Review(notes=(misread_text(result.smallest_logvar),))
    return Review()


def summary_lines(result: KLDivergenceResult) -> list[str]:
    how = "exact" if result.exact else f"Monte Carlo, +- {fmt(result.total_rate_stderr)}"
    return [f"rate R = E_x KL(q(z|x) || p(z)) = {fmt(result.total_rate)} nats ({how})"]


def figures(result: KLDivergenceResult, unit_status: tuple[str, ...]) -> dict:
    return {"kl_histogram": lambda fig: draw_histogram(fig, result, unit_status)}


def draw_histogram(fig, result: KLDivergenceResult, unit_status: tuple[str, ...]) -> None:
    """Per-unit histograms of the per-example KL on shared log-spaced edges, by status."""
    edges = result.histogram_edges
    edges = np.where(np.isfinite(edges), edges, edges[-2] * 10)  # draw [1e9, inf) as a decade
    centres = np.sqrt(np.maximum(edges[:-1], edges[1] / 10) * edges[1:])
    fig.set_size_inches(8, 4.5)
    ax = fig.add_subplot()
    for row, status in zip(result.histogram_counts, unit_status, strict=True):
        first = status not in ax.get_legend_handles_labels()[1]
        colour = STATUS_COLOURS[status]
        ax.step(centres, row, where="mid", color=colour, alpha=0.7, label=status if first else None)
    ax.set_xscale("log")
    ax.set_xlabel("KL(q(z_i|x) || p(z_i)) per example (nats; first bin holds [0, 1e-6))")
    ax.set_ylabel("examples")
    ax.set_title("Per-unit KL to the prior")
    ax.legend()


def estimates(result: KLDivergenceResult) -> list[Estimate]:
    return [Estimate.normal("rate", "rate R", result.total_rate, result.total_rate_stderr)]
