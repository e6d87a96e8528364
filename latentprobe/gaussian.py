"""Numerical kernels for diagonal Gaussians, shared by the analyzers (float64 throughout).

The central one is the log density of a mixture of N diagonal Gaussians at M points, e.g.
the aggregate posterior q(z) = (1/N) sum_n N(z; mu_n, sigma_n^2) over a whole dataset. The
squared Mahalanobis terms are a matrix product in disguise::

    sum_d (z_d - mu_nd)^2 / s_nd = [z^2, z] . [1/s_n, -2 mu_n/s_n] + sum_d mu_nd^2 / s_nd

so each tile of evaluation points x components costs one GEMM plus an in-place
log-sum-exp merged into a running one, with memory O(tile + (M + N) D), never N x N and
never N x N x D.
"""

from __future__ import annotations

import math

import numpy as np
import torch

from . import progress
from .errors import PosteriorError
from .types import bad_value, within_limits

LOG_2PI = math.log(2.0 * math.pi)
#: Memory for one tile of log densities (rows x components) and its rows. Tiles that stay
#: in the cache make the passes over them (product, max, exp, sum) cheap, and 256 rows keep
#: the GEMM efficient whatever N is; a log-sum-exp over N is merged tile by tile. Measured
#: on a 2-core machine (bench/bench_analyze.py): 4 MiB joint tiles were as fast as or faster
#: than 16 and 64 MiB from D = 32 to D = 4,096 (at N = 200,000, D = 256, 32 MiB tiles took
#: 4x the floor); 2 MiB per-unit tiles take 1.7 ns per element (4.6 ns with 64 MiB blocks).
JOINT_BLOCK_BYTES, UNIT_BLOCK_BYTES = 4 * 2**20, 2 * 2**20
#: Largest error, in nats, allowed in a log density from the GEMM expansion (see
#: ``log_mixture_density``): far below the error bars of I(x;z). The bound is a worst case,
#: about 100x the errors seen (sigma^2 = e^-12 and |mu| = 10 at D = 32: bound 3e-5).
EXPANSION_TOLERANCE = 1e-4
JOINT_TILE_ROWS, UNIT_TILE_ROWS = 256, 256


def as_float64_tensor(array, device=None) -> torch.Tensor:
    """A float64 torch tensor on ``device`` (default: where a tensor already is, else CPU)."""
    if isinstance(array, torch.Tensor):
        return array.detach().to(device=device or array.device, dtype=torch.float64)
    return torch.as_tensor(np.asarray(array, dtype=np.float64), device=device)


def _real_tensor(array, name: str, device=None) -> torch.Tensor:
    if not isinstance(array, torch.Tensor) and np.asarray(array).dtype.kind not in "biuf":
        raise PosteriorError(f"{name} must hold real numbers, got dtype {np.asarray(array).dtype}")
    return as_float64_tensor(array, device)


def as_posteriors(mu, logvar=None) -> tuple[torch.Tensor, torch.Tensor | None]:
    """mu (and logvar) as float64 tensors on mu's device, checked at an analyzer's boundary
    as ``types.validate_posteriors`` checks statistics: real, finite, within ``LIMITS``, of
    one shape (N, D) with N, D >= 1; a ``PosteriorError`` otherwise."""
    mu = _real_tensor(mu, "mu")
    logvar = None if logvar is None else _real_tensor(logvar, "logvar", mu.device)
    other = torch.zeros_like(mu) if logvar is None else logvar
    if mu.shape != other.shape or mu.ndim != 2 or 0 in mu.shape:
        raise PosteriorError(
            f"expected mu and logvar of the same shape (N, D) with N, D >= 1, got "
            f"{tuple(mu.shape)} and {tuple(other.shape)}"
        )
    if not within_limits(mu, other):
        raise PosteriorError(bad_value(mu.cpu().numpy(), other.cpu().numpy()))
    return mu, logvar


def kl_diagonal_gaussians(mu, logvar, prior_mean, prior_logvar) -> torch.Tensor:
    """KL(N(mu, e^logvar) || N(prior_mean, e^prior_logvar)) elementwise, in nats.

    0.5 * (prior_logvar - logvar + (e^logvar + (mu - prior_mean)^2) / e^prior_logvar - 1);
    broadcasts, so (N, D) posteriors against a (D,) prior give (N, D).
    """
    ratio = torch.exp(logvar - prior_logvar)
    return 0.5 * (
        ratio + (mu - prior_mean) ** 2 * torch.exp(-prior_logvar) - 1.0 - logvar + prior_logvar
    )


def log_normal_diag(z, mu, logvar) -> torch.Tensor:
    """log N(z; mu, e^logvar) per unit (elementwise), in nats."""
    return -0.5 * (LOG_2PI + logvar + (z - mu) ** 2 * torch.exp(-logvar))


def tile_shape(n_rows: int, n_cols: int, tile_bytes: int, most_rows: int) -> tuple[int, int]:
    """(rows, columns) of a tile of float64 within ``tile_bytes``."""
    rows = max(1, min(n_rows, most_rows, tile_bytes // 8))
    return rows, max(1, min(n_cols, tile_bytes // (8 * rows)))


def tiled_logsumexp(n_rows: int, n_cols: int, tile: tuple[int, int], fill, out, what=None):
    """out[r] = log sum_c exp(a[r, c]) where ``fill(r0, r1, c0, c1)`` returns the tile
    a[r0:r1, c0:c1] (a fresh tensor, consumed); tiles along c are merged with a running
    maximum, so no row of a is ever held whole; a row of -inf gives -inf. ``what`` names
    the progress bar, if any."""
    rows, cols = tile
    starts = range(0, n_rows, rows)
    for r0 in starts if what is None else progress.steps(starts, len(starts), what):
        r1 = min(n_rows, r0 + rows)
        top = torch.full((r1 - r0,), -math.inf, dtype=out.dtype, device=out.device)
        total = torch.zeros_like(top)
        for c0 in range(0, n_cols, cols):
            block = fill(r0, r1, c0, min(n_cols, c0 + cols))
            new_top = torch.maximum(top, block.max(dim=1).values)
            shift = new_top.nan_to_num(neginf=0.0)  # a row of -inf so far: total stays 0
            total.mul_(torch.exp(top - shift))
            total.add_(block.sub_(shift[:, None]).exp_().sum(dim=1))
            top = new_top
        out[r0:r1] = top.nan_to_num(neginf=0.0) + total.log()
    return out


def log_mixture_density(
    z, mu, logvar, log_weights=None, *, block_bytes: int | None = None, exclude=None
) -> torch.Tensor:
    """log sum_n w_n N(z_m; mu_n, diag e^logvar_n) for every row z_m, in nats.

    Parameters
    ----------
    z : tensor of shape (M, D)
    mu, logvar : tensors of shape (N, D), the mixture components
    log_weights : tensor of shape (N,), optional; uniform (-log N) when omitted
    block_bytes : memory for one tile (rows x components) of log densities (default
        ``JOINT_BLOCK_BYTES``; ``UNIT_BLOCK_BYTES`` for the per-unit kernel)
    exclude : integer tensor of shape (M,), optional: row m's sum leaves out component
        ``exclude[m]`` (the leave-one-out density; -inf when nothing is left)

    Returns a float64 tensor of shape (M,). Exact (no subsampling of components); memory is
    O(block_bytes + (M + N) D). Every value is within ``EXPANSION_TOLERANCE`` nats of the
    float64 direct computation: the expansion's rounding error in a tile is bounded by
    (2D + 2) eps sum_d max_n p_nd (|z_md| + max_n |mu_nd|)^2 (p the precisions, after a
    per-unit shift by the mean of mu), and the rows of a tile where that bound exceeds the
    tolerance (posteriors both narrow and far apart: sigma^2 = e^-30 at |mu| = 1e4) are
    computed by direct differences instead, at O(D) per pair rather than a GEMM's share.
    """
    n = mu.shape[0]
    # a per-unit shift leaves every (z - mu) unchanged and shrinks the terms that cancel; the
    # direct differences use the unshifted values (z - mu of nearby floats is exact)
    shift = mu.mean(dim=0)
    z0, mu0 = z, mu
    z, mu = z - shift, mu - shift
    precision = torch.exp(-logvar)
    weights = torch.cat([-0.5 * precision, mu * precision], dim=1).T.contiguous()  # (2D, N)
    if log_weights is None:
        log_weights = torch.full((n,), -math.log(n), dtype=mu.dtype, device=mu.device)
    log_norm = log_weights - 0.5 * (mu.shape[1] * LOG_2PI + logvar.sum(1))
    const = log_norm - 0.5 * (mu * mu * precision).sum(1)
    features = torch.cat([z * z, z], dim=1)  # (M, 2D)
    tile = tile_shape(z.shape[0], n, block_bytes or JOINT_BLOCK_BYTES, JOINT_TILE_ROWS)
    scale = (2 * mu.shape[1] + 2) * torch.finfo(torch.float64).eps

    def fill(r0: int, r1: int, c0: int, c1: int) -> torch.Tensor:
        block = torch.addmm(const[c0:c1], features[r0:r1], weights[:, c0:c1])
        p_max = precision[c0:c1].max(dim=0).values
        mu_max = mu[c0:c1].abs().max(dim=0).values
        bound = scale * (p_max * (z[r0:r1].abs() + mu_max) ** 2).sum(dim=1)
        unsafe = (bound > EXPANSION_TOLERANCE).nonzero().squeeze(1)
        if len(unsafe):
            rows = z0[r0:r1][unsafe]
            block[unsafe] = _direct(rows, mu0[c0:c1], precision[c0:c1], log_norm[c0:c1])
        if exclude is not None:
            leave_out(block, exclude[r0:r1], c0, c1)
        return block

    out = torch.empty(z.shape[0], dtype=torch.float64, device=z.device)
    return tiled_logsumexp(z.shape[0], n, tile, fill, out, "I(x;z)")


def leave_out(block: torch.Tensor, columns: torch.Tensor, c0: int, c1: int) -> None:
    """Set block[r, columns[r] - c0] to -inf for the rows whose column lies in [c0, c1)."""
    inside = ((columns >= c0) & (columns < c1)).nonzero().squeeze(1)
    block[inside, columns[inside] - c0] = -math.inf


def _direct(z, mu, precision, log_norm, chunk_bytes: int = 16 * 2**20) -> torch.Tensor:
    """log w_n + log N(z_m; mu_n, 1 / precision_n) for rows z (R, D) and components (C, D)
    by direct differences (no cancellation), in chunks of rows: shape (R, C)."""
    out = torch.empty(z.shape[0], mu.shape[0], dtype=z.dtype, device=z.device)
    step = max(1, chunk_bytes // (8 * mu.numel()))
    for start in range(0, z.shape[0], step):
        diff = z[start : start + step, None, :] - mu  # (rows, C, D)
        out[start : start + step] = log_norm - 0.5 * (diff * diff * precision).sum(dim=2)
    return out


def log_mixture_density_per_unit(
    z, mu, logvar, log_weights=None, *, block_bytes: int | None = None
) -> torch.Tensor:
    """The 1-D marginal mixtures: log sum_n w_n N(z_mi; mu_ni, e^logvar_ni) for each unit i.

    Shapes as in ``log_mixture_density``; returns (M, D). Computed elementwise (the
    difference (z - mu) directly), which is as cheap as a GEMM in one dimension.
    """
    n, d = mu.shape
    if log_weights is None:
        log_weights = torch.full((n,), -math.log(n), dtype=mu.dtype, device=mu.device)
    out = torch.empty(d, z.shape[0], dtype=torch.float64, device=z.device)
    tile = tile_shape(z.shape[0], n, block_bytes or UNIT_BLOCK_BYTES, UNIT_TILE_ROWS)
    # one unit's values contiguous: a column of an (N, D) array is read with stride D
    z_t, mu_t, logvar_t = (a.T.contiguous() for a in (z, mu, logvar))
    for unit in progress.steps(range(d), d, "per-unit terms"):
        lv = logvar_t[unit]
        precision, const = torch.exp(-lv), log_weights - 0.5 * (LOG_2PI + lv)
        fill = _unit_tiles(z_t[unit], mu_t[unit], precision, const)
        tiled_logsumexp(z.shape[0], n, tile, fill, out[unit])
    return out.T.contiguous()


def _unit_tiles(z, mu, precision, const):
    """The tile filler of one unit: log w_n + log N(z_m; mu_n, 1 / precision_n), elementwise
    (the difference (z - mu) directly, as cheap as a GEMM in one dimension)."""

    def fill(r0: int, r1: int, c0: int, c1: int) -> torch.Tensor:
        diff = z[r0:r1, None] - mu[c0:c1]  # (rows, cols)
        return diff.mul_(diff).mul_(-0.5 * precision[c0:c1]).add_(const[c0:c1])

    return fill


def sample_posteriors(
    mu, logvar, draws: int, generator: np.random.Generator, rows=None
) -> tuple[torch.Tensor, torch.Tensor]:
    """Draw z = mu + sigma * eps for the given example rows (default all), ``draws`` each.

    Returns (z, example_index) with z of shape (len(rows) * draws, D), ordered example
    by example. The noise comes from ``generator`` (numpy, float64), so a seed fixes it.
    """
    z, index, _ = draw_posteriors(mu, logvar, draws, generator, rows)
    return z, index


def draw_posteriors(mu, logvar, draws: int, generator: np.random.Generator, rows=None):
    """``sample_posteriors`` with the standard normal noise eps (len(rows), draws, D) kept:
    each example's mu and sigma are broadcast over its draws (no per-draw copies)."""
    rows = np.arange(mu.shape[0]) if rows is None else np.asarray(rows)
    eps = generator.standard_normal((len(rows), draws, mu.shape[1]))
    eps = as_float64_tensor(eps, mu.device)
    rows_t = torch.as_tensor(rows, device=mu.device)
    sigma = torch.exp(0.5 * logvar[rows_t])
    z = (mu[rows_t][:, None] + sigma[:, None] * eps).reshape(-1, mu.shape[1])
    return z, rows_t.repeat_interleave(draws), eps
