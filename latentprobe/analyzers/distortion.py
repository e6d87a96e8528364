"""Does the decoder use z? Distortion, the ELBO and the decoder's reliance on z, per unit.

Per example, in nats: the distortion D_n = -E_q(z|x_n)[log p(x_n|z)], the rate R_n =
KL(q(z|x_n) || p(z)) and ELBO_n = -(D_n + R_n) (Alemi et al. 2018, "Fixing a broken ELBO").
The decoder's reliance is the rise in distortion when z ~ q(z|x_n) is replaced by a draw
that carries nothing about x_n: from the prior p(z), or the z of another example
(shuffled). Per unit, z_i alone is replaced by a draw from the prior's marginal p(z_i) or
from the aggregate marginal q(z_i) = (1/N) sum_m q(z_i|x_m), the rest of z kept. A
decoder that ignores z, or unit i, gives a reliance of exactly 0.

Error bars are the Monte Carlo error of the full-dataset means (``paired_stderr``): the
replaced and the kept draws share their example, so a difference is measured per example.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import torch

from .. import posteriors
from ..formatting import fmt
from ..gaussian import as_float64_tensor, as_posteriors, log_mixture_density
from ..options import Options, option
from ..types import Prior
from ..verdict import Evidence, Review, Thresholds, Verdict
from .intervals import Z95, paired_stderr
from .result import Estimate, Result, quantity

#: Decoder rows (examples x draws) per call: bounds the memory of a call whatever N is.
ROWS_PER_CALL = 4096
#: Independent streams of random numbers, one per purpose, so that the numbers do not
#: depend on how the examples are batched.
STREAMS = ("posterior", "prior", "shuffle", "unit_prior", "unit_marginal")


@dataclass(frozen=True)
class DistortionOptions(Options):
    draws_per_example: int = option(
        4,
        "Draws of z per example for the distortion and the reliance.",
        flag="--decoder-draws",
        minimum=1,
    )
    per_unit: bool = option(
        True,
        "Also measure each unit's reliance (2 D more decoder passes).",
        flag="--unit-reliance",
    )
    unit_limit: int = option(
        64,
        "Measure each unit's reliance only for latents of at most this many units (each "
        "unit costs two more passes of the decoder over the data).",
        flag="--unit-reliance-limit",
        minimum=0,
    )
    rows_per_call: int = option(
        ROWS_PER_CALL,
        "Decoder rows (examples x draws) per call.",
        flag="--decoder-rows",
        minimum=1,
    )


DEFAULTS = DistortionOptions()


@dataclass(frozen=True)
class DistortionResult(Result):
    per_example_distortion: np.ndarray = quantity(
        "-E_q[log p(x_n|z)] per example (Monte Carlo over the draws)", "nats", per="example"
    )
    per_example_elbo: np.ndarray = quantity(
        "ELBO_n = E_q[log p(x_n|z)] - KL(q(z|x_n) || p(z)) per example", "nats", per="example"
    )
    distortion: float = quantity("D = -E_x E_q[log p(x|z)]", "nats")
    distortion_stderr: float = quantity("Monte Carlo standard error of D", "nats")
    rate: float = quantity("R = E_x KL(q(z|x) || p(z))", "nats")
    rate_stderr: float = quantity("0 when exact (Gaussian prior), else Monte Carlo", "nats")
    elbo: float = quantity("ELBO = -(D + R), mean over examples", "nats")
    elbo_stderr: float = quantity("Monte Carlo standard error of the ELBO", "nats")
    prior_distortion: float = quantity("the distortion with z ~ p(z) instead of q(z|x)", "nats")
    reliance: float = quantity(
        "prior_distortion - D: what the decoder gains from the x-specific z", "nats"
    )
    reliance_stderr: float = quantity("paired Monte Carlo standard error", "nats")
    shuffled_distortion: float = quantity(
        "the distortion with z ~ q(z|x_m) of another example m", "nats"
    )
    shuffled_reliance: float = quantity("shuffled_distortion - D", "nats")
    shuffled_reliance_stderr: float = quantity("paired Monte Carlo standard error", "nats")
    per_unit_reliance: np.ndarray = quantity(
        "rise in D when z_i alone is drawn from the prior's p(z_i) (NaN: not run)",
        "nats",
        per="unit",
    )
    per_unit_reliance_stderr: np.ndarray = quantity(
        "paired Monte Carlo standard error", "nats", per="unit"
    )
    per_unit_marginal_reliance: np.ndarray = quantity(
        "rise in D when z_i alone is drawn from the aggregate q(z_i) (NaN: not run)",
        "nats",
        per="unit",
    )
    per_unit_marginal_reliance_stderr: np.ndarray = quantity(
        "paired Monte Carlo standard error", "nats", per="unit"
    )
    draws_per_example: int = quantity("draws of z per example (S)")
    decoder: str = quantity("how log p(x|z) was computed (the decoder convention)")

    def check(self) -> None:
        n = len(self.per_example_distortion)
        if self.per_example_elbo.shape != (n,):
            raise ValueError("the per-example ELBO does not have one value per example")


@dataclass(frozen=True)
class _Draws:
    """What one batch of examples gave, each of shape (B, S) (units: (B, S, D))."""

    posterior: np.ndarray
    rate: np.ndarray
    prior: np.ndarray
    shuffled: np.ndarray
    unit_prior: np.ndarray | None
    unit_marginal: np.ndarray | None


def _generators(seed: int) -> dict[str, np.random.Generator]:
    children = np.random.SeedSequence(seed).spawn(len(STREAMS))
    return {name: np.random.default_rng(c) for name, c in zip(STREAMS, children, strict=True)}


def batches(x, n: int, examples: int):
    """(row numbers, x of those rows as a tensor) for consecutive batches of examples."""
    for start in range(0, n, examples):
        rows = np.arange(start, min(n, start + examples))
        yield rows, x[rows] if torch.is_tensor(x) else torch.as_tensor(np.asarray(x[rows]))


def _score(log_p_x, x_rows, z, draws: int) -> torch.Tensor:
    """log p(x|z) of shape (B, S) for z of shape (B * S, D), example-major."""
    b = len(x_rows)
    return log_p_x(x_rows, z.reshape(b, draws, -1)).to(z.device)


class _Rates:
    """R_n per draw: exact for a Gaussian prior (the same value for every draw), else
    log q(z|x) - log p(z) at the draws."""

    def __init__(self, q, prior: Prior):
        self.q, self.prior = q, prior
        device = q.mu.device
        self.means, self.logvars = (
            as_float64_tensor(a, device) for a in (prior.means, prior.logvars)
        )
        self.log_w = torch.log(as_float64_tensor(prior.weights, device))
        self.exact = None
        if prior.is_gaussian:
            self.exact = q.kl_units(self.means[0], self.logvars[0]).sum(1) + q.dependence()

    def at(self, z, index, rows, draws: int) -> torch.Tensor:
        if self.exact is not None:
            return self.exact[rows].reshape(-1, 1).expand(-1, draws)
        log_p = log_mixture_density(z, self.means, self.logvars, self.log_w)
        return (self.q.log_density(z, index) - log_p).reshape(-1, draws)


def _batch(q, x_rows, rows, draws, log_p_x, rngs, rates, per_unit, n) -> _Draws:
    device = q.mu.device
    z, index = q.sample(draws, rngs["posterior"], rows)
    d = z.shape[1]
    prior = rates.prior
    z_prior = as_float64_tensor(prior.sample(len(z), rngs["prior"]), device)
    z_other = q.sample(draws, rngs["shuffle"], _other_examples(rows, n, rngs["shuffle"]))[0]
    score = lambda zz: _score(log_p_x, x_rows, zz, draws)  # noqa: E731
    kept = score(z)
    unit_prior = unit_marginal = None
    if per_unit:
        replace_p = as_float64_tensor(prior.sample(len(z), rngs["unit_prior"]), device)
        donors = rngs["unit_marginal"].integers(0, n, len(z))
        replace_q = q.sample(1, rngs["unit_marginal"], donors)[0]
        unit_prior = torch.stack([score(_with_unit(z, replace_p, i)) for i in range(d)], -1)
        unit_marginal = torch.stack([score(_with_unit(z, replace_q, i)) for i in range(d)], -1)
    rate = rates.at(z, index, rows, draws)
    parts = (kept, rate, score(z_prior), score(z_other), unit_prior, unit_marginal)
    # copied out of torch: small tensors kept per batch pin the allocator's memory
    return _Draws(*(None if t is None else t.cpu().numpy() for t in parts))


def _other_examples(rows: np.ndarray, n: int, rng) -> np.ndarray:
    """For each row, another example drawn uniformly (the row itself when N = 1)."""
    if n == 1:
        return rows
    others = rng.integers(0, n - 1, len(rows))
    return others + (others >= rows)


def _with_unit(z: torch.Tensor, replacement: torch.Tensor, unit: int) -> torch.Tensor:
    out = z.clone()
    out[:, unit] = replacement[:, unit]
    return out


def _mean_and_error(draws: np.ndarray) -> tuple[float, float]:
    return float(draws.mean()), paired_stderr(draws, full=True)


def _units(kept: np.ndarray, replaced: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Per unit: mean rise in distortion, kept log p minus replaced, and its error."""
    rise = kept[..., None] - replaced  # (N, S, D)
    means = rise.mean(axis=(0, 1))
    errors = np.array([paired_stderr(rise[..., i], full=True) for i in range(rise.shape[2])])
    return means, errors


def distortion(
    mu,
    logvar,
    x,
    log_p_x: Callable,
    *,
    prior: Prior | None = None,
    draws_per_example: int = DEFAULTS.draws_per_example,
    per_unit: bool = DEFAULTS.per_unit,
    rows_per_call: int = DEFAULTS.rows_per_call,
    seed: int = 0,
    decoder: str = "",
    family: str = "normal",
    scale_tril=None,
) -> DistortionResult:
    """Distortion, rate, ELBO and the decoder's reliance on z (as a whole and per unit).

    Parameters
    ----------
    mu, logvar : arrays of shape (N, D)
        Posterior means and marginal log-variances; ``family`` and ``scale_tril`` as in
        ``kl_divergence``.
    x : array or tensor of shape (N, ...)
        The inputs the posteriors were computed from, in the decoder's layout.
    log_p_x : callable
        ``log_p_x(x_rows, z)`` with x_rows (B, ...) and z (B, S, D) float64, giving
        log p(x|z) of shape (B, S) (``decoders.Decoder.log_likelihood``).
    prior : Prior, optional
        Standard normal by default; the rate is exact for a Gaussian prior, Monte Carlo from
        the same draws for a mixture.
    draws_per_example, per_unit, rows_per_call, seed : see ``DistortionOptions``.

    Returns
    -------
    DistortionResult, in nats.

    References
    ----------
    Alemi et al. (2018), "Fixing a broken ELBO" (D, R and -ELBO = D + R).
    Bowman et al. (2016); Chen et al. (2017), "Variational lossy autoencoder" (decoders
    that ignore z).
    """
    mu, logvar = as_posteriors(mu, logvar)
    q = posteriors.of(family, mu, logvar, scale_tril)
    n, d = mu.shape
    prior = (prior or Prior.standard_normal()).expanded(d)
    rates, rngs = _Rates(q, prior), _generators(seed)
    s = draws_per_example
    examples = max(1, rows_per_call // s)
    parts = []
    for rows, x_rows in batches(x, n, examples):
        parts.append(_batch(q, x_rows, rows, s, log_p_x, rngs, rates, per_unit, n))
    return _result(parts, rates, s, d, decoder)


def _gather(parts, name: str) -> np.ndarray | None:
    if getattr(parts[0], name) is None:
        return None
    return np.concatenate([getattr(p, name) for p in parts])


def _result(parts, rates: _Rates, s: int, d: int, decoder: str) -> DistortionResult:
    kept, rate = _gather(parts, "posterior"), _gather(parts, "rate")
    prior, shuffled = _gather(parts, "prior"), _gather(parts, "shuffled")
    distortion_mean, distortion_error = _mean_and_error(-kept)
    rate_mean = float(rate.mean())
    rate_error = 0.0 if rates.exact is not None else paired_stderr(rate, full=True)
    elbo_draws = kept - rate
    elbo_mean, elbo_error = _mean_and_error(elbo_draws)
    reliance, reliance_error = _mean_and_error(kept - prior)
    shuffled_reliance, shuffled_error = _mean_and_error(kept - shuffled)
    nan = np.full(d, math.nan)
    units = marginal = (nan, nan)
    if parts[0].unit_prior is not None:
        units = _units(kept, _gather(parts, "unit_prior"))
        marginal = _units(kept, _gather(parts, "unit_marginal"))
    return DistortionResult(
        -kept.mean(1),
        elbo_draws.mean(1),
        distortion_mean,
        distortion_error,
        rate_mean,
        rate_error,
        elbo_mean,
        elbo_error,
        float(-prior.mean()),
        reliance,
        reliance_error,
        float(-shuffled.mean()),
        shuffled_reliance,
        shuffled_error,
        *units,
        *marginal,
        s,
        decoder,
    )


def ignored_units(result: DistortionResult, thresholds: Thresholds) -> np.ndarray | None:
    """Units the decoder is shown not to use: the 95% interval on their reliance (prior
    replacement) lies within the information threshold of 0 on both sides. (A reliance
    shown below -threshold is not "ignored": the decoder reacts to the unit, and does better
    without its encoded value.)"""
    half = Z95 * result.per_unit_reliance_stderr
    reliance, t = result.per_unit_reliance, thresholds.mi_threshold
    if not (np.isfinite(reliance).all() and np.isfinite(half).all()):
        return None
    return (reliance + half < t) & (reliance - half > -t)


def uses_z(result: DistortionResult, thresholds: Thresholds) -> bool:
    """The decoder uses z when the lower end of the 95% interval on its reliance clears the
    information threshold."""
    return bool(result.reliance - Z95 * result.reliance_stderr > thresholds.mi_threshold)


def vote(result: DistortionResult, thresholds: Thresholds) -> Evidence:
    return Evidence(
        ignored=ignored_units(result, thresholds), decoder_uses_z=uses_z(result, thresholds)
    )


def review(result: DistortionResult, verdict: Verdict) -> Review:
    """One line when encoder and decoder disagree: z carries information about x that the
    decoder does not use, or the decoder relies on z that is shown not to carry any."""
    shown = f"{fmt(result.reliance)} +- {fmt(Z95 * result.reliance_stderr)} nats"
    if verdict.z_informative and verdict.decoder_uses_z is False:
        return Review(
            notes=(
                f"z carries information about x but the decoder does not use it (reliance "
                f"{shown}): the decoder models x without z (decoder-side collapse)",
            )
        )
    if verdict.z_informative is False and verdict.decoder_uses_z:
        return Review(
            notes=(
                f"the decoder's output changes with z (reliance {shown}) although I(x;z) is "
                "below the threshold: z varies, but not with x",
            )
        )
    return Review()


def summary_lines(result: DistortionResult) -> list[str]:
    def pm(value, error):
        return f"{fmt(value)} +- {fmt(Z95 * error)}"

    lines = [
        f"distortion D = {pm(result.distortion, result.distortion_stderr)} nats, "
        f"ELBO = {pm(result.elbo, result.elbo_stderr)} nats ({result.decoder})",
        f"decoder reliance on z: {pm(result.reliance, result.reliance_stderr)} nats "
        f"(z from the prior), {pm(result.shuffled_reliance, result.shuffled_reliance_stderr)}"
        " nats (z of another example)",
    ]
    if not np.isfinite(result.per_unit_reliance).all():
        lines.append(
            "per-unit reliance not measured (--no-unit-reliance, or more units than "
            "--unit-reliance-limit)"
        )
    return lines


def estimates(result: DistortionResult) -> list[Estimate]:
    r = result
    return [
        Estimate.normal("distortion", "distortion D", r.distortion, r.distortion_stderr),
        Estimate.normal("elbo", "ELBO", r.elbo, r.elbo_stderr),
        Estimate.normal("reliance", "decoder reliance", r.reliance, r.reliance_stderr),
    ]
