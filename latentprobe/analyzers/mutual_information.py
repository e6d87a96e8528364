"""Mutual information I(x;z) under the empirical data distribution, and its decomposition."""

from __future__ import annotations

import dataclasses
import math
import warnings
from dataclasses import dataclass

import numpy as np
import torch

from .. import posteriors
from ..errors import OptionsError
from ..formatting import fmt
from ..gaussian import (
    EXPANSION_TOLERANCE,
    as_float64_tensor,
    as_posteriors,
    log_mixture_density,
    log_mixture_density_per_unit,
    log_normal_diag,
)
from ..options import Options, option
from ..types import Prior
from ..verdict import Evidence, Review, Thresholds, Verdict
from .intervals import Z95, normal_interval, paired_stderr
from .result import Estimate, Result, quantity

CEILING_MARGIN = 0.5


@dataclass(frozen=True)
class MutualInformationOptions(Options):
    draws_per_example: int = option(
        2, "Draws of z per example for I(x;z).", flag="--draws", aliases=("--samples",), minimum=1
    )
    max_points: int | None = option(
        None,
        "Evaluate I(x;z) at most at this many points z, whole examples drawn at random "
        "(the mixture q(z) keeps all N components). Default: every point while the joint "
        "term fits its time budget, else as many as fit (see point_budget).",
        flag="--max-points",
        aliases=("--max-samples",),
        minimum=2,
    )
    per_unit: bool = option(
        True,
        "Also estimate I(x;z_i), KL(q(z_i) || p(z_i)) and the TC.",
        flag="--unit-terms",
    )
    growth: bool = option(
        True,
        "Re-estimate I(x;z) on random quarters and halves of the examples: a growing "
        "estimate means the dataset caps it.",
        flag="--growth-check",
    )
    per_unit_max_points: int | None = option(
        None,
        "At most this many evaluation points for the per-unit terms and the TC. Default: "
        "as many as cost what the joint term costs (at least 1 s of work; see point_budget).",
        flag="--unit-max-points",
        minimum=2,
    )


DEFAULTS = MutualInformationOptions()


@dataclass(frozen=True)
class MutualInformationResult(Result):
    nats: float = quantity("I(x;z) = E[log q(z|x_n) - log q(z)], q(z) over all N", "nats")
    stderr: float = quantity("Monte Carlo standard error of nats", "nats")
    ci95_low: float = quantity("lower end of the 95% interval (nats +- 1.96 stderr)", "nats")
    ci95_high: float = quantity("upper end of the 95% interval", "nats")
    log_n: float = quantity("log N, the ceiling of I(x;z) under the empirical distribution", "nats")
    near_ceiling: bool = quantity(f"estimate within {CEILING_MARGIN} nats of log N")
    rate: float = quantity("R = E_x KL(q(z|x) || p(z)) = I(x;z) + KL(q(z) || p(z))", "nats")
    rate_stderr: float = quantity("Monte Carlo standard error of rate (0 when exact)", "nats")
    marginal_kl: float = quantity("KL(q(z) || p(z)) = rate - I(x;z)", "nats")
    marginal_kl_stderr: float = quantity("Monte Carlo standard error of marginal_kl", "nats")
    per_unit_mi: np.ndarray = quantity("I(x;z_i) with the 1-D marginal q(z_i)", "nats", per="unit")
    per_unit_mi_stderr: np.ndarray = quantity("Monte Carlo standard errors", "nats", per="unit")
    per_unit_marginal_kl: np.ndarray = quantity("KL(q(z_i) || p(z_i))", "nats", per="unit")
    per_unit_marginal_kl_stderr: np.ndarray = quantity(
        "Monte Carlo standard errors", "nats", per="unit"
    )
    total_correlation: float = quantity("KL(q(z) || prod_i q(z_i)) (Chen et al. 2018)", "nats")
    total_correlation_stderr: float = quantity("Monte Carlo standard error", "nats")
    n_examples: int = quantity("N, mixture components of q(z) (never subsampled)")
    draws_per_example: int = quantity("S, draws of z per evaluated example")
    n_points: int = quantity("evaluation points z for I(x;z)")
    n_points_per_unit: int = quantity("evaluation points z for the per-unit terms and TC")
    stderr_method: str = quantity("how stderr was estimated (see docs/report-format.md)")
    seed: int = quantity("seed of the sampled z")
    growth_examples: list[int] = quantity(
        "numbers of examples of the growth check: N/4, N/2, N (empty when not run)",
        default_factory=list,
    )
    growth_nats: list[float] = quantity(
        "I(x;z) averaged over the 4 disjoint quarters and the 2 halves of the examples (in a "
        "random order), and of all of them",
        "nats",
        default_factory=list,
    )
    population_low: float = quantity(
        "lower end of a 95% bracket on the population I(x;z) of the encoder: this estimate "
        "is a lower bound in expectation (InfoNCE with the true critic), less 1.96 times its "
        "standard error over examples (Poole et al. 2019)",
        "nats",
        default=math.nan,
    )
    population_high: float = quantity(
        "upper end of the bracket: the leave-one-out estimate (q(z) without the point's own "
        "example), an upper bound in expectation, plus 1.96 times its standard error over "
        "examples (Poole et al. 2019)",
        "nats",
        default=math.nan,
    )
    population_nats: float = quantity(
        "bias-corrected estimate of the population I(x;z): 2 I(N) - I(N/2), extrapolation "
        "in 1/N from the growth check's halves (Strong et al. 1998); NaN when the growth "
        "check did not run or found the estimate capped by the data",
        "nats",
        default=math.nan,
    )
    population_stderr: float = quantity(
        "standard error of population_nats: the spread over examples (the sampling of the "
        "data, with the draws of z), to first order that of the corrected estimate too",
        "nats",
        default=math.nan,
    )
    capped_by_data: bool = quantity(
        "I(x;z) of all N examples exceeds the quarters' mean by more than 4 standard "
        "deviations (the quarters' spread / 2 with the stderr) and 0.01 nats: the dataset "
        "caps the empirical estimand",
        default=False,
    )


#: The cost model behind the default numbers of evaluation points, measured on a 2-core
#: machine (bench/bench_analyze.py): one (point, component) pair of the joint term costs
#: about 2 + 0.12 (D - 32) ns (a GEMM row and one exp), one (point, component, unit) triple
#: of the per-unit terms about 1.7 ns (one exp).
JOINT_PAIR_NS = (2.0, 0.12)
UNIT_TRIPLE_NS = 1.7
#: Work allowed by default: the joint term about 6 s, the per-unit terms as much as the
#: joint term but at least 1 s; never fewer than 100 examples' draws.
JOINT_BUDGET_NS, UNIT_FLOOR_NS, MIN_EXAMPLES = 6e9, 1e9, 100
#: A joint term expected to take longer than this is announced up front.
LONG_SECONDS = 60.0
#: The growth check runs from 4 x this many examples; it calls the estimate capped when the
#: whole exceeds the mean of the quarters by this many standard deviations (the quarters'
#: spread, over 2, with the whole's standard error) and by this many nats.
MIN_GROWTH_EXAMPLES, GROWTH_SIGMAS, GROWTH_MIN_NATS = 50, 4.0, 0.01


def joint_pair_ns(units: int) -> float:
    fixed, per_unit = JOINT_PAIR_NS
    return fixed + per_unit * max(0, units - 32)


def point_budget(
    n: int,
    units: int,
    draws: int,
    joint_ns: float | None = None,
    unit_floor_ns: float | None = None,
) -> tuple[int, int]:
    """Default numbers of evaluation points (joint term, per-unit terms) for N examples of D
    units with S draws each: whole examples, every point when the work fits the budgets
    (``joint_ns`` of work for the joint term, JOINT_BUDGET_NS by default; the per-unit
    terms as much, but at least ``unit_floor_ns``, UNIT_FLOOR_NS). A deterministic
    function of its arguments, so the same seed gives the same report anywhere; the
    intervals widen with fewer points, and the summary and the file say how many."""
    joint_ns = JOINT_BUDGET_NS if joint_ns is None else joint_ns
    unit_floor_ns = UNIT_FLOOR_NS if unit_floor_ns is None else unit_floor_ns
    every = n * draws
    joint = max(joint_ns / (n * joint_pair_ns(units)), MIN_EXAMPLES * draws)
    joint_points = min(every, int(joint) // draws * draws)
    spent_ns = joint_points * n * joint_pair_ns(units)
    unit = max(spent_ns, unit_floor_ns) / (n * units * UNIT_TRIPLE_NS)
    unit_points = min(joint_points, max(int(unit) // draws, MIN_EXAMPLES) * draws)
    return joint_points, unit_points


@dataclass(frozen=True)
class _Points:
    """Evaluation points: S draws for each of R examples, ordered example by example."""

    z: torch.Tensor
    index: torch.Tensor
    rows: int
    draws: int
    full: bool


def _points(q: posteriors.Normal, draws: int, max_points: int | None, rng) -> _Points:
    n = q.n
    rows = n if max_points is None else min(n, max_points // draws)
    chosen = None if rows == n else np.sort(rng.choice(n, size=rows, replace=False))
    z, index = q.sample(draws, rng, chosen)
    return _Points(z, index, rows, draws, rows == n)


def _subset(points: _Points, max_points: int, rng) -> tuple[_Points, torch.Tensor | slice]:
    """A random subset of whole examples (all S draws of each) of at most max_points, and
    the positions of its points among ``points`` (to reuse what was computed there)."""
    rows = min(points.rows, max(2, max_points // points.draws))
    if rows == points.rows:
        return points, slice(None)
    keep = np.sort(rng.choice(points.rows, size=rows, replace=False))
    flat = torch.as_tensor(
        (keep[:, None] * points.draws + np.arange(points.draws)).ravel(), device=points.z.device
    )
    return _Points(points.z[flat], points.index[flat], rows, points.draws, False), flat


def _mean_and_stderr(
    draws: torch.Tensor, points: _Points, *, over_examples: bool = False
) -> tuple[float, float]:
    """Mean and standard error of paired draws; ``over_examples``: the error of a mean over
    examples drawn from the population (the spread between examples counts)."""
    values = draws.cpu().numpy().reshape(points.rows, points.draws)
    return float(values.mean()), paired_stderr(values, full=points.full and not over_examples)


def _log_prior(z, prior: Prior, per_unit: bool) -> torch.Tensor:
    means, logvars = (as_float64_tensor(a, z.device) for a in (prior.means, prior.logvars))
    if prior.is_gaussian:
        units = log_normal_diag(z, means[0], logvars[0])
        return units if per_unit else units.sum(1)
    log_w = torch.log(as_float64_tensor(prior.weights, z.device))
    kernel = log_mixture_density_per_unit if per_unit else log_mixture_density
    return kernel(z, means, logvars, log_w)


def mutual_information(
    mu,
    logvar,
    *,
    prior: Prior | None = None,
    draws_per_example: int = DEFAULTS.draws_per_example,
    max_points: int | None = DEFAULTS.max_points,
    per_unit: bool = DEFAULTS.per_unit,
    per_unit_max_points: int | None = DEFAULTS.per_unit_max_points,
    growth: bool = DEFAULTS.growth,
    seed: int = 0,
    block_bytes: int | None = None,
    family: str = "normal",
    scale_tril=None,
) -> MutualInformationResult:
    """I(x;z) over the full dataset, with its error bar and the rate decomposition.

    q(z) is the aggregate posterior over **all N examples**. For each evaluated example n
    and each of S draws z ~ q(z|x_n), log q(z|x_n) and log q(z) are evaluated at the same z
    and their difference averaged (the paired estimator: its Monte Carlo noise vanishes as
    q(z|x) approaches q(z), exactly where the verdict on collapse is decided).

    Parameters
    ----------
    mu, logvar : arrays (numpy or torch; CUDA tensors stay on the GPU) of shape (N, D)
    prior : Prior, optional (standard normal by default)
    draws_per_example : int
        S, draws of z per evaluated example.
    max_points : int, optional
        At most this many evaluation points z (whole examples, drawn at random; at least two
        examples' draws); the mixture q(z) keeps all N components. The standard error then
        counts the spread between examples, so the interval widens. Default: from
        ``point_budget`` (every point up to about N = 50,000 at D = 32).
    per_unit : bool
        Also compute I(x;z_i), KL(q(z_i) || p(z_i)) and the total correlation, on at most
        ``per_unit_max_points`` points, a subset of the joint term's (per point they cost
        about D times the joint term; default from ``point_budget``).
    seed : int
        Seed of every draw; the same seed gives the same numbers.
    family, scale_tril : the posterior family (``posteriors.FAMILIES``; default the
        diagonal Gaussian, with the fast GEMM kernel) and, for ``multivariate_normal``, the
        Cholesky factors (N, D, D); ``logvar`` holds the marginals' log-variances.

    Returns
    -------
    MutualInformationResult, all quantities in nats.

    References
    ----------
    Hoffman & Johnson (2016), "ELBO surgery" (I(x;z) and R = I + KL(q(z)||p(z)));
    Chen et al. (2018), "Isolating sources of disentanglement in VAEs" (per-unit terms, TC);
    Alemi et al. (2018), "Fixing a broken ELBO" (I <= R).
    """
    mu, logvar = as_posteriors(mu, logvar)
    q = posteriors.of(family, mu, logvar, scale_tril)
    _check_points(draws_per_example, max_points)
    prior = (prior or Prior.standard_normal()).expanded(mu.shape[1])
    rng = np.random.default_rng(seed)
    auto_points, auto_unit_points = point_budget(mu.shape[0], mu.shape[1], draws_per_example)
    points = _points(q, draws_per_example, max_points or auto_points, rng)
    _warn_if_long(points.rows * points.draws, mu.shape[0], mu.shape[1])
    log_q_units = q.log_density_units(points.z, points.index)
    log_q_cond = q.log_density(points.z, points.index)
    log_q, log_q_others = _log_aggregate(points, q, log_q_cond, block_bytes)
    information = log_q_cond - log_q  # the estimate's draws, log q(z|x_n) - log q(z)
    nats, stderr = _mean_and_stderr(information, points)
    rates = _rate_terms(q, prior, points, log_q_cond, log_q, stderr)
    if per_unit:
        subset, where = _subset(points, per_unit_max_points or auto_unit_points, rng)
        units = _per_unit_terms(q, prior, subset, log_q_units[where], log_q[where], block_bytes)
    else:
        units = _no_per_unit_terms(mu.shape[1])
    result = _result(nats, stderr, rates, units, points, mu.shape[0], seed)
    between = _mean_and_stderr(information, points, over_examples=True)[1]
    result = _with_bracket(result, points, between, log_q_cond - log_q_others)
    if not growth or mu.shape[0] < 4 * MIN_GROWTH_EXAMPLES:
        return result
    return _with_growth(result, q, points, log_q_cond, block_bytes, rng, between)


def _subset_information(q, points: _Points, log_q_cond, examples, block_bytes):
    """(I(x;z), stderr) as if the dataset were only ``examples`` (sorted indices): the points
    drawn from those examples against the mixture of their posteriors alone."""
    keep = torch.as_tensor(np.isin(points.index.cpu().numpy(), examples), device=q.mu.device)
    chosen = torch.as_tensor(examples, device=q.mu.device)
    log_q = q.rows(chosen).log_mixture(points.z[keep], block_bytes=block_bytes)
    rows = int(keep.sum()) // points.draws
    subset = _Points(points.z[keep], points.index[keep], rows, points.draws, points.full)
    return _mean_and_stderr(log_q_cond[keep] - log_q, subset)


def _with_growth(result, q, points: _Points, log_q_cond, block_bytes, rng, between):
    """The result with I(x;z) re-estimated on the four disjoint quarters and the two halves
    of a random ordering of the examples (at about 3/4 of the joint term's cost), and
    whether it grows with N beyond what the quarters' spread explains; if it does not, the
    estimate extrapolated to N = infinity in 1/N (its error: ``between``, the standard error
    over examples)."""
    n = q.n
    order = rng.permutation(n)

    def on(parts: int) -> np.ndarray:
        size = n // parts
        return np.array(
            [
                _subset_information(
                    q,
                    points,
                    log_q_cond,
                    np.sort(order[i * size : (i + 1) * size]),
                    block_bytes,
                )[0]
                for i in range(parts)
            ]
        )

    quarters, halves = on(4), on(2)
    noise = math.hypot(quarters.std(ddof=1) / 2, result.stderr)
    rise = result.nats - quarters.mean()
    capped = bool(rise > max(GROWTH_MIN_NATS, GROWTH_SIGMAS * noise))
    population, population_se = math.nan, math.nan
    if not capped and math.isfinite(result.nats):
        population = _at_least_zero(2 * result.nats - float(halves.mean()))
        population_se = between  # the correction adds O(1/N) to it (Quenouille 1956)
    return dataclasses.replace(
        result,
        growth_examples=[n // 4, n // 2, n],
        growth_nats=[float(quarters.mean()), float(halves.mean()), result.nats],
        capped_by_data=capped,
        population_nats=population,
        population_stderr=population_se,
    )


def _with_bracket(result, points: _Points, between: float, leave_one_out):
    """The result with the bracket on the population I(x;z): the estimate itself is a lower
    bound in expectation and the leave-one-out estimate (``leave_one_out``, its draws) an
    upper bound; each is a mean over examples drawn from the population, so their error
    bars (``between`` for the estimate) count the spread between examples."""
    if result.n_examples < 2 or not math.isfinite(result.nats):
        return result
    high, high_se = _mean_and_stderr(leave_one_out, points, over_examples=True)
    return dataclasses.replace(
        result,
        population_low=_at_least_zero(result.nats - Z95 * between),
        population_high=high + Z95 * high_se,
    )


def _at_least_zero(nats: float) -> float:
    """``nats`` moved up to 0, NaN kept (``max(0.0, nan)`` would give 0)."""
    return nats if math.isnan(nats) else max(0.0, nats)


def _warn_if_long(n_points: int, n: int, units: int) -> None:
    """Say up front when the joint term at the points asked for will take minutes."""
    seconds = n_points * n * joint_pair_ns(units) / 1e9
    if seconds > LONG_SECONDS:
        warnings.warn(
            f"I(x;z) at {n_points:,} points against {n:,} components of {units:,} units: "
            f"about {seconds / 60:.0f} minutes on 2 cores; lower --max-points (the default "
            "fits the work to about 6 s)",
            stacklevel=3,
        )


def _log_aggregate(points: _Points, q, log_q_cond, block_bytes: int | None):
    """(log q(z), log q_-n(z)) at the points: the aggregate posterior over all N examples,
    and the leave-one-out one over the N - 1 examples other than the point's own (-inf when
    N = 1: q(z) is then q(z|x_1), and I(x;z) = 0 exactly). The own example's term is added
    from log q(z|x_n), so neither density subtracts one sum from another."""
    n = q.n
    if n == 1:
        return log_q_cond, torch.full_like(log_q_cond, -math.inf)
    others = q.log_mixture(points.z, block_bytes=block_bytes, exclude=points.index)
    log_q = torch.logaddexp(others, log_q_cond - math.log(n))
    return log_q, others + math.log(n / (n - 1))


def _rate_terms(q, prior: Prior, points: _Points, log_q_cond, log_q, stderr) -> dict:
    """The rate R and the standard errors of R and of KL(q(z)||p(z)) = R - I."""
    if prior.is_gaussian:  # exact rate over all N; KL(q(z)||p(z)) = R - I shares I's error
        rate = float(_exact_unit_rates(q, prior).sum() + q.dependence().mean())
        return {"rate": rate, "rate_stderr": 0.0, "marginal_kl_stderr": stderr}
    log_p = _log_prior(points.z, prior, per_unit=False)
    rate, rate_se = _mean_and_stderr(log_q_cond - log_p, points)
    marginal_kl_se = _mean_and_stderr(log_q - log_p, points)[1]
    return {"rate": rate, "rate_stderr": rate_se, "marginal_kl_stderr": marginal_kl_se}


def _within_bounds(nats: float, stderr: float, log_n: float) -> float:
    """I(x;z) under the empirical distribution lies in [0, log N]: an estimate outside by
    less than its noise (4 standard errors) and ``EXPANSION_TOLERANCE`` is moved to the
    nearest bound; one further outside is a numerical failure and becomes NaN, never a
    number, with a warning."""
    slack = 4 * stderr + EXPANSION_TOLERANCE
    if -slack <= nats <= log_n + slack:
        return min(max(nats, 0.0), log_n)
    warnings.warn(
        f"I(x;z) came out as {nats:.6g} nats, outside [0, log N = {log_n:.3f}] by more than "
        "its error: a numerical failure, reported as NaN; please report the statistics file",
        stacklevel=4,
    )
    return math.nan


def _result(nats, stderr, rates: dict, units: dict, points: _Points, n: int, seed: int):
    log_n = math.log(n)
    nats = _within_bounds(nats, stderr, log_n)
    near_ceiling = bool(nats > log_n - CEILING_MARGIN)
    if near_ceiling:
        warnings.warn(
            f"I(x;z) = {nats:.3f} nats is within {CEILING_MARGIN} nats of its ceiling "
            f"log N = {log_n:.3f}: the estimate is capped by the dataset size",
            stacklevel=3,
        )
    low, high = normal_interval(nats, stderr)
    if not math.isnan(nats):
        low, high = max(0.0, low), min(log_n, high)
    return MutualInformationResult(
        nats=nats,
        stderr=stderr,
        ci95_low=low,
        ci95_high=high,
        log_n=log_n,
        near_ceiling=near_ceiling,
        marginal_kl=rates["rate"] - nats,
        **rates,
        **units,
        n_examples=n,
        draws_per_example=points.draws,
        n_points=points.rows * points.draws,
        stderr_method=_stderr_method(points),
        seed=seed,
    )


def _check_points(draws: int, max_points: int | None) -> None:
    if draws < 1:
        raise OptionsError(f"draws of z per example must be at least 1, got {draws}")
    if max_points is not None and max_points < 2 * draws:
        raise OptionsError(
            f"--max-points {max_points} holds fewer than two examples' draws "
            f"(2 x {draws}); raise it to at least {2 * draws}"
        )


def _exact_unit_rates(q, prior: Prior) -> np.ndarray:
    """The per-unit rates of the marginals against a Gaussian prior, in closed form."""
    mean, lv = (as_float64_tensor(a[0], q.mu.device) for a in (prior.means, prior.logvars))
    return q.kl_units(mean, lv).mean(0).cpu().numpy()


def _per_unit_terms(q, prior: Prior, points: _Points, log_q_units, log_q, block_bytes) -> dict:
    """I(x;z_i), KL(q(z_i)||p(z_i)) and TC, all paired at the same points; ``log_q_units``
    (log q(z_i|x_n)) and ``log_q`` (log q(z)) at those points come from the joint estimate."""
    mu, logvar = q.mu, q.logvar
    if mu.shape[0] == 1:
        log_marginals = log_q_units  # one component: each marginal is q(z_i|x_1)
    else:
        log_marginals = q.log_mixture_units(points.z, block_bytes=block_bytes)
    d = mu.shape[1]
    mi = [_mean_and_stderr(log_q_units[:, i] - log_marginals[:, i], points) for i in range(d)]
    mi_values, mi_se = (np.array(v) for v in zip(*mi, strict=True))
    same = ((mu == mu[0]) & (logvar == logvar[0])).all(dim=0).cpu().numpy()
    mi_values[same], mi_se[same] = 0.0, 0.0  # identical components: exactly no information
    if prior.is_gaussian:
        mkl, mkl_se = _exact_unit_rates(q, prior) - mi_values, mi_se
    else:
        log_p = _log_prior(points.z, prior, per_unit=True)
        pairs = [_mean_and_stderr(log_marginals[:, i] - log_p[:, i], points) for i in range(d)]
        mkl, mkl_se = (np.array(v) for v in zip(*pairs, strict=True))
    tc, tc_se = _mean_and_stderr(log_q - log_marginals.sum(1), points)
    return {
        "per_unit_mi": mi_values,
        "per_unit_mi_stderr": mi_se,
        "per_unit_marginal_kl": mkl,
        "per_unit_marginal_kl_stderr": mkl_se,
        "total_correlation": tc,
        "total_correlation_stderr": tc_se,
        "n_points_per_unit": points.rows * points.draws,
    }


def _no_per_unit_terms(d: int) -> dict:
    nan = np.full(d, np.nan)
    return {
        "per_unit_mi": nan,
        "per_unit_mi_stderr": nan,
        "per_unit_marginal_kl": nan,
        "per_unit_marginal_kl_stderr": nan,
        "total_correlation": math.nan,
        "total_correlation_stderr": math.nan,
        "n_points_per_unit": 0,
    }


def _stderr_method(points: _Points) -> str:
    if points.full and points.draws >= 2:
        return "within-example: sqrt(sum_n Var_s(d_ns) / S) / N"
    if points.full:
        return "conservative: std(d_n) / sqrt(N) (S = 1; includes between-example spread)"
    return "subsampled examples: std(mean_s d_ns) / sqrt(R)"


def vote(result: MutualInformationResult, thresholds: Thresholds) -> Evidence:
    """The direct measure, with its intervals: a unit carries no information when the upper
    end of its 95% interval on I(x;z_i) is below the threshold, shown information when the
    lower end is above it (when the per-unit terms ran); z is informative when the interval
    on I(x;z) clears the threshold."""
    informative = bool(result.ci95_low > thresholds.mi_threshold)
    units, half = result.per_unit_mi, Z95 * result.per_unit_mi_stderr
    if not (np.isfinite(units).all() and np.isfinite(half).all()):
        return Evidence(informative=informative)
    return Evidence(
        uninformative=units + half < thresholds.mi_threshold,
        shown_informative=units - half > thresholds.mi_threshold,
        informative=informative,
    )


def review(result: MutualInformationResult, verdict: Verdict) -> Review:
    notes = []
    active = "active" in verdict.unit_status
    open_units = verdict.units_with("undetermined")
    if verdict.z_informative and not active and open_units:
        notes.append(
            f"z carries information but no unit's interval clears the threshold on its own: "
            f"units {open_units} are undetermined"
        )
    elif verdict.z_informative and not active and len(verdict.unit_status) > 1:
        notes.append(
            "z as a whole carries information although every unit is shown below the "
            "threshold: the information is spread thinly over several units"
        )
    if verdict.z_informative is False and active:
        notes.append(
            "some units look active but the interval on I(x;z) does not clear the "
            "threshold: treat them with caution"
        )
    if result.capped_by_data:
        quarter, half, whole = result.growth_nats
        notes.append(
            f"I(x;z) grows with the number of examples ({result.growth_examples[0]:,}: "
            f"{quarter:.3f}, {result.growth_examples[1]:,}: {half:.3f}, all "
            f"{result.growth_examples[2]:,}: {whole:.3f} nats): the dataset caps the "
            "estimate; the model's population value is higher, between "
            f"{result.population_low:.3f} and {result.population_high:.3f} nats (95%)"
        )
    if result.near_ceiling:
        notes.append(
            f"I(x;z) = {result.nats:.3f} nats is within {CEILING_MARGIN} nats of log N = "
            f"{result.log_n:.3f}: the estimate is capped by the dataset size; use more data"
        )
    return Review(notes=tuple(notes))


def summary_lines(result: MutualInformationResult) -> list[str]:
    r = result
    return [
        f"I(x;z) = {fmt(r.nats)} +- {fmt(r.stderr)} nats (95% CI {fmt(r.ci95_low)} to "
        f"{fmt(r.ci95_high)}; ceiling log N = {fmt(r.log_n, 3)}; {_points_text(r)})",
        f"estimand: I(x;z) under the empirical distribution of these {r.n_examples:,} "
        f"examples (at most log N; below the model's population value when N caps it)"
        + _growth_text(r),
        *_population_text(r),
        f"decomposition at these points: R {_with_error(r.rate, r.rate_stderr)} = I(x;z) "
        f"{fmt(r.nats)} + KL(q(z)||p(z)) {_with_error(r.marginal_kl, r.marginal_kl_stderr)}; "
        f"total correlation {_with_error(r.total_correlation, r.total_correlation_stderr)}",
    ]


def _growth_text(r: MutualInformationResult) -> str:
    if not r.growth_nats:
        return ""
    pairs = ", ".join(
        f"{k:,}: {fmt(v, 3)}" for k, v in zip(r.growth_examples, r.growth_nats, strict=True)
    )
    return f"; by number of examples {pairs} nats"


def _population_text(r: MutualInformationResult) -> list[str]:
    """The population value of I(x;z) (over the data distribution, not these N examples):
    the bias-corrected estimate when there is one, and the bracket."""
    if math.isnan(r.population_low):
        return []
    bracket = f"95% bracket {fmt(r.population_low)} to {fmt(r.population_high)} nats"
    if math.isnan(r.population_nats):
        why = "capped by the data" if r.capped_by_data else "no growth check"
        return [f"population I(x;z): no bias-corrected estimate ({why}); {bracket}"]
    low, high = normal_interval(r.population_nats, r.population_stderr)
    return [
        f"population I(x;z): {fmt(r.population_nats)} +- {fmt(r.population_stderr)} nats "
        f"(95% CI {fmt(max(0.0, low))} to {fmt(high)}; extrapolated in 1/N); {bracket}"
    ]


def _points_text(r: MutualInformationResult) -> str:
    """How many evaluation points each part used, and of how many."""
    every = r.n_examples * r.draws_per_example
    text = f"{r.n_points:,} of {every:,} points, {r.draws_per_example} draws per example"
    if r.n_points_per_unit:
        text += f"; per-unit terms and TC at {r.n_points_per_unit:,}"
    return text


def _with_error(value: float, stderr: float) -> str:
    """``value`` alone when it is exact (stderr 0), else ``value +- stderr``."""
    return fmt(value) if stderr == 0 else f"{fmt(value)} +- {fmt(stderr)}"


def estimates(result: MutualInformationResult) -> list[Estimate]:
    r = result
    return [
        Estimate("mi", "I(x;z)", r.nats, r.stderr, r.ci95_low, r.ci95_high),
        Estimate.normal("marginal_kl", "KL(q(z)||p(z))", r.marginal_kl, r.marginal_kl_stderr),
        Estimate.normal("tc", "TC", r.total_correlation, r.total_correlation_stderr),
    ]


def figures(result: MutualInformationResult, unit_status: tuple[str, ...]) -> dict:
    return {"information": lambda fig: draw_information(fig, result)}


def draw_information(fig, result: MutualInformationResult) -> None:
    """I(x;z) with its 95% interval against its ceiling log N, beside the rate R and its
    other part KL(q(z)||p(z)), and the total correlation: what the rate is made of."""
    r = result
    names = ["I(x;z)", "KL(q(z)||p(z))", "rate R", "TC"]
    values = [r.nats, r.marginal_kl, r.rate, r.total_correlation]
    halves = [Z95 * e for e in (r.stderr, r.marginal_kl_stderr, r.rate_stderr)]
    halves.append(Z95 * r.total_correlation_stderr)
    low = [r.nats - r.ci95_low, *halves[1:]]
    high = [r.ci95_high - r.nats, *halves[1:]]
    fig.set_size_inches(6, 4)
    ax = fig.add_subplot()
    x = np.arange(len(names))
    ax.errorbar(x, values, yerr=[low, high], fmt="o", capsize=5, label="estimate, 95% interval")
    ax.axhline(r.log_n, color="black", linestyle="--", label=f"ceiling log N = {r.log_n:.2f}")
    ax.set_xticks(x, names)
    ax.set_ylabel("nats")
    ax.set_xlim(-0.5, len(names) - 0.5)
    ax.set_title(f"Information in z ({r.n_examples:,} examples)")
    ax.legend(loc="center right")
