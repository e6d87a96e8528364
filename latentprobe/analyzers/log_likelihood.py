"""The importance-weighted bound on log p(x) (IWAE; Burda et al. 2016), reported as NLL.

Per example, with K draws z_k ~ q(z|x) and weights w_k = p(x|z_k) p(z_k) / q(z_k|x):

    log p(x) >= L_K = log (1/K) sum_k w_k,

K = 1 being the ELBO; E L_K grows with K towards log p(x). The K draws are scored in chunks
with a running log-sum-exp, so memory is bounded whatever K and N are. The bound is also
reported at K = 1, 10, 100, ... from prefixes of the same draws (its convergence), with the
effective sample size (sum w)^2 / sum w^2 (Kish 1965).

Error bars are the Monte Carlo error of the full-dataset mean, from each example's own
draws by the delta method: Var L_K ~= (mean w^2 / (mean w)^2 - 1) / K. It is an estimate,
and too small when the weights' distribution has a heavy tail that K draws have not
reached; a low effective sample size is the warning sign.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import torch

from .. import posteriors
from ..formatting import fmt
from ..gaussian import (
    LOG_2PI,
    as_float64_tensor,
    as_posteriors,
    log_mixture_density,
    log_normal_diag,
)
from ..options import Options, option
from ..types import Prior
from .distortion import ROWS_PER_CALL, batches
from .intervals import Z95
from .result import Estimate, Result, quantity


@dataclass(frozen=True)
class LogLikelihoodOptions(Options):
    samples: int = option(
        1000,
        "Importance samples K per example for the IWAE bound on log p(x).",
        flag="--iwae-samples",
        minimum=1,
    )
    rows_per_call: int = option(
        ROWS_PER_CALL, "Decoder rows (examples x samples) per call.", flag="--iwae-rows", minimum=1
    )


DEFAULTS = LogLikelihoodOptions()


@dataclass(frozen=True)
class LogLikelihoodResult(Result):
    per_example: np.ndarray = quantity(
        "the IWAE bound L_K on log p(x_n) per example", "nats", per="example"
    )
    per_example_stderr: np.ndarray = quantity(
        "Monte Carlo standard error of each example's L_K (delta method)", "nats", per="example"
    )
    log_likelihood: float = quantity(
        "mean over examples of L_K, a lower bound on E log p(x)", "nats"
    )
    log_likelihood_stderr: float = quantity("Monte Carlo standard error", "nats")
    nll: float = quantity("-log_likelihood: the negative log-likelihood (an upper bound)", "nats")
    elbo: float = quantity("mean over examples and draws of log w: the ELBO (K = 1)", "nats")
    elbo_stderr: float = quantity("Monte Carlo standard error", "nats")
    gap: float = quantity("log_likelihood - elbo: what the K draws add to the ELBO", "nats")
    gap_stderr: float = quantity(
        "Monte Carlo standard error (the two errors added in quadrature: conservative, "
        "since both come from the same draws)",
        "nats",
    )
    samples: int = quantity("importance samples K per example")
    samples_at: np.ndarray = quantity(
        "K values of the convergence table: 1, 10, 100, ..., K", dims=("iwae_checkpoint",)
    )
    log_likelihood_at: np.ndarray = quantity(
        "mean L_k at each of samples_at", "nats", dims=("iwae_checkpoint",)
    )
    effective_samples: float = quantity("mean over examples of (sum w)^2 / sum w^2 (out of K)")
    decoder: str = quantity("how log p(x|z) was computed (the decoder convention)")

    def check(self) -> None:
        if len(self.samples_at) != len(self.log_likelihood_at):
            raise ValueError("the convergence table's K values and bounds differ in length")


def checkpoints(samples: int) -> list[int]:
    """1, 10, 100, ... below K, then K."""
    ks = [10**p for p in range(int(math.log10(samples)) + 1) if 10**p < samples]
    return [*ks, samples]


class _Running:
    """Per example, over the draws seen so far: log sum w, log sum w^2, sum of log w and
    of its square, and L_k at the checkpoints."""

    def __init__(self, b: int, ks: list[int], device):
        zeros = lambda: torch.zeros(b, dtype=torch.float64, device=device)  # noqa: E731
        self.log_sum = torch.full((b,), -math.inf, dtype=torch.float64, device=device)
        self.log_sum_sq = self.log_sum.clone()
        self.total, self.total_sq, self.seen = zeros(), zeros(), 0
        self.ks, self.at = ks, {}

    def add(self, log_w: torch.Tensor) -> None:
        """Take a chunk of log-weights (B, C) in draw order."""
        c = log_w.shape[1]
        chunk = torch.logsumexp(log_w, 1)
        for k in self.ks:  # a prefix's log-sum-exp only where a checkpoint falls
            if self.seen < k <= self.seen + c:
                part = (
                    chunk if k == self.seen + c else torch.logsumexp(log_w[:, : k - self.seen], 1)
                )
                self.at[k] = torch.logaddexp(self.log_sum, part) - math.log(k)
        self.log_sum = torch.logaddexp(self.log_sum, chunk)
        self.log_sum_sq = torch.logaddexp(self.log_sum_sq, torch.logsumexp(2 * log_w, 1))
        self.total += log_w.sum(1)
        self.total_sq += (log_w * log_w).sum(1)
        self.seen += c


def _prior_log_density(prior: Prior, device) -> Callable:
    """log p(z) at points z (M, D): in closed form for a Gaussian, else the mixture's."""
    means, logvars = (as_float64_tensor(a, device) for a in (prior.means, prior.logvars))
    if prior.kind == "standard_normal":
        return lambda z: -0.5 * ((z * z).sum(1) + z.shape[1] * LOG_2PI)
    if prior.is_gaussian:
        return lambda z: log_normal_diag(z, means[0], logvars[0]).sum(1)
    log_w = torch.log(as_float64_tensor(prior.weights, device))
    return lambda z: log_mixture_density(z, means, logvars, log_w)


def _example_batch(q, x_rows, rows, k, chunk, log_p_x, log_prior, rng, ks) -> _Running:
    running = _Running(len(rows), ks, q.mu.device)
    for start in range(0, k, chunk):
        c = min(chunk, k - start)
        z, _, log_q = q.sample_with_log_density(c, rng, rows)
        log_px = log_p_x(x_rows, z.reshape(len(rows), c, -1)).to(z.device)
        log_w = log_px + (log_prior(z) - log_q).reshape(len(rows), c)
        running.add(log_w)
    return running


def log_likelihood(
    mu,
    logvar,
    x,
    log_p_x: Callable,
    *,
    prior: Prior | None = None,
    samples: int = DEFAULTS.samples,
    rows_per_call: int = DEFAULTS.rows_per_call,
    seed: int = 0,
    decoder: str = "",
    family: str = "normal",
    scale_tril=None,
) -> LogLikelihoodResult:
    """The IWAE bound on log p(x) with ``samples`` importance samples per example.

    ``mu``, ``logvar``, ``x``, ``log_p_x``, ``prior``, ``family``, ``scale_tril``: as
    in ``distortion``. The draws come from one generator seeded by ``seed``, chunk by chunk
    of examples and draws as ``rows_per_call`` cuts them: the same seed and options give the
    same bytes; another ``rows_per_call`` gives other draws of the same distribution.

    References
    ----------
    Burda, Grosse & Salakhutdinov (2016), "Importance weighted autoencoders".
    """
    mu, logvar = as_posteriors(mu, logvar)
    q = posteriors.of(family, mu, logvar, scale_tril)
    n, d = mu.shape
    prior = (prior or Prior.standard_normal()).expanded(d)
    log_prior, rng, ks = (
        _prior_log_density(prior, mu.device),
        np.random.default_rng(seed),
        checkpoints(samples),
    )
    chunk = max(1, min(samples, rows_per_call))
    examples = max(1, rows_per_call // chunk)
    sums = _Sums(n, ks)
    for rows, x_rows in batches(x, n, examples):
        sums.keep(
            rows, _example_batch(q, x_rows, rows, samples, chunk, log_p_x, log_prior, rng, ks)
        )
    return _result(sums, samples, ks, decoder)


class _Sums:
    """Each example's running sums, copied out of torch batch by batch into arrays of N
    (small tensors kept per batch would pin the allocator's memory between the decoder's
    large blocks: memory grew with N)."""

    NAMES = ("log_sum", "log_sum_sq", "total", "total_sq")

    def __init__(self, n: int, ks: list[int]):
        self.values = {name: np.empty(n) for name in self.NAMES}
        self.at = {k: np.empty(n) for k in ks}

    def keep(self, rows: np.ndarray, running: _Running) -> None:
        for name in self.NAMES:
            self.values[name][rows] = getattr(running, name).cpu().numpy()
        for k in self.at:
            self.at[k][rows] = running.at[k].cpu().numpy()


def _result(sums: _Sums, k: int, ks: list[int], decoder: str) -> LogLikelihoodResult:
    v = sums.values
    n = len(v["log_sum"])
    bound = v["log_sum"] - math.log(k)
    # mean w^2 / (mean w)^2 = K sum w^2 / (sum w)^2
    ratio = np.exp(math.log(k) + v["log_sum_sq"] - 2 * v["log_sum"])
    per_example_stderr = np.sqrt(np.maximum(ratio - 1.0, 0.0) / k)
    mean_log_w = v["total"] / k
    var_log_w = np.maximum(v["total_sq"] / k - mean_log_w**2, 0.0)
    ll_error = float(math.sqrt((per_example_stderr**2).sum()) / n)
    elbo_error = float(math.sqrt((var_log_w / max(k - 1, 1)).sum()) / n) if k > 1 else math.nan
    at = np.array([float(sums.at[kk].mean()) for kk in ks])
    ll, elbo = float(bound.mean()), float(mean_log_w.mean())
    return LogLikelihoodResult(
        bound,
        per_example_stderr,
        ll,
        ll_error,
        -ll,
        elbo,
        elbo_error,
        ll - elbo,
        float(math.hypot(ll_error, elbo_error)) if k > 1 else math.nan,
        k,
        np.array(ks, dtype=np.int64),
        at,
        float(np.mean(k / ratio)),
        decoder,
    )


def summary_lines(result: LogLikelihoodResult) -> list[str]:
    k = result.samples
    return [
        f"log p(x) >= {fmt(result.log_likelihood)} +- {fmt(Z95 * result.log_likelihood_stderr)}"
        f" nats (IWAE, K = {k:,}; NLL {fmt(result.nll)} nats), "
        f"{fmt(result.gap)} nats above the ELBO; effective samples "
        f"{result.effective_samples:,.0f} of {k:,}",
    ]


def estimates(result: LogLikelihoodResult) -> list[Estimate]:
    r = result
    return [
        Estimate.normal("nll", f"NLL (K = {r.samples:,})", r.nll, r.log_likelihood_stderr),
        Estimate.normal("iwae_gap", "IWAE - ELBO", r.gap, r.gap_stderr),
    ]
