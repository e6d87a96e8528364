"""Posterior families: how q(z|x) is sampled, evaluated and compared with a Gaussian.

I(x;z) and the KL need only log q(z|x) at points and draws from q(z|x), so any family with
both can be analysed. Three are supported, named in ``FAMILIES`` (the stats file stores the
name; reading selects from this table only):

- ``normal``: the diagonal Gaussian N(mu, diag sigma^2), with the GEMM kernels of
  ``gaussian`` (the fast path: almost every VAE);
- ``laplace``: a factorised Laplace with scale b per unit (variance 2 b^2);
- ``multivariate_normal``: a full-covariance Gaussian N(mu, L L^T), through its Cholesky
  factor L (lower triangular, positive diagonal), stored as ``scale_tril``.

In every family ``logvar`` is the log-variance of each unit's marginal q(z_i|x) (Laplace:
log 2b^2; full covariance: log Sigma_ii), so what reads means and marginal widths (active
units, the per-unit terms of a Gaussian marginal) means the same thing whatever the family.
The mixture densities of the other families are computed directly, tile by tile (O(D) per
pair for Laplace, O(D^2) for full covariance), with the same running log-sum-exp.
"""

from __future__ import annotations

import math

import numpy as np
import torch

from .errors import PosteriorError
from .gaussian import (
    JOINT_BLOCK_BYTES,
    JOINT_TILE_ROWS,
    LOG_2PI,
    UNIT_BLOCK_BYTES,
    UNIT_TILE_ROWS,
    as_float64_tensor,
    draw_posteriors,
    kl_diagonal_gaussians,
    leave_out,
    log_mixture_density,
    log_mixture_density_per_unit,
    log_normal_diag,
    sample_posteriors,
    tile_shape,
    tiled_logsumexp,
)
from .types import FAMILIES

LOG_2 = math.log(2.0)
HERMITE_NODES = 64
#: Panel edges (in scales b from the mode) of the Laplace quadrature: narrow near the mode,
#: where the weight e^-u changes fastest, wider out to 64.
LAPLACE_PANELS = np.array([0, 0.25, 0.5, 1, 2, 3, 4, 6, 8, 12, 16, 24, 32, 48, 64], dtype=float)


class Normal:
    """Diagonal Gaussian posteriors: ``mu``, ``logvar`` float64 tensors of shape (N, D)."""

    family = "normal"

    def __init__(self, mu: torch.Tensor, logvar: torch.Tensor):
        self.mu, self.logvar = mu, logvar

    @property
    def n(self) -> int:
        return self.mu.shape[0]

    def rows(self, index) -> Normal:
        """The posteriors of the examples ``index`` (a tensor of row numbers)."""
        return type(self)(self.mu[index], self.logvar[index])

    def sample(self, draws: int, rng: np.random.Generator, rows=None):
        """(z, index): ``draws`` draws for each of ``rows`` (default all), example-major."""
        return sample_posteriors(self.mu, self.logvar, draws, rng, rows)

    def sample_with_log_density(self, draws: int, rng: np.random.Generator, rows=None):
        """(z, index, log q(z | x_index)) of ``sample``'s draws. The diagonal Gaussian's
        density comes from its own noise, -(|eps|^2 + sum_i logvar_i + D log 2 pi) / 2,
        without a second pass over z; other families evaluate ``log_density``."""
        if self.family != "normal":
            z, index = self.sample(draws, rng, rows)
            return z, index, self.log_density(z, index)
        z, index, eps = draw_posteriors(self.mu, self.logvar, draws, rng, rows)
        d = self.mu.shape[1]
        log_norm = -0.5 * (self.logvar[index[::draws]].sum(1) + d * LOG_2PI)
        log_q = (-0.5 * (eps * eps).sum(-1) + log_norm[:, None]).reshape(-1)
        return z, index, log_q

    def log_density_units(self, z, index) -> torch.Tensor:
        """log q(z_i | x_index) of each unit's marginal at the points z, shape (M, D)."""
        return log_normal_diag(z, self.mu[index], self.logvar[index])

    def log_density(self, z, index) -> torch.Tensor:
        """log q(z | x_index) at the points z, shape (M,)."""
        return self.log_density_units(z, index).sum(1)

    def log_mixture(self, z, *, block_bytes=None, exclude=None) -> torch.Tensor:
        """log (1/N) sum_n q(z | x_n) at the points z (``exclude``: as in
        ``gaussian.log_mixture_density``), shape (M,)."""
        return log_mixture_density(
            z, self.mu, self.logvar, block_bytes=block_bytes, exclude=exclude
        )

    def log_mixture_units(self, z, *, block_bytes=None) -> torch.Tensor:
        """log (1/N) sum_n q(z_i | x_n) of each unit's marginal, shape (M, D)."""
        return log_mixture_density_per_unit(z, self.mu, self.logvar, block_bytes=block_bytes)

    def kl_units(self, mean, logvar) -> torch.Tensor:
        """KL(q(z_i|x_n) || N(mean_i, e^logvar_i)) of each marginal, shape (N, D)."""
        return kl_diagonal_gaussians(self.mu, self.logvar, mean, logvar)

    def dependence(self) -> torch.Tensor:
        """KL(q(z|x_n) || prod_i q(z_i|x_n)) per example, shape (N,): what the joint KL to a
        factorised prior adds to the sum of the marginals' KLs (0 for factorised families)."""
        return torch.zeros(self.n, dtype=self.mu.dtype, device=self.mu.device)

    def entropy_units(self) -> torch.Tensor:
        """Entropy of each marginal q(z_i|x_n), shape (N, D)."""
        return 0.5 * (LOG_2PI + 1.0 + self.logvar)

    def scale(self) -> torch.Tensor:
        """The marginals' scale: z_i = mu_i + scale_i * t with t from ``quadrature``."""
        return torch.exp(0.5 * self.logvar)

    @staticmethod
    def quadrature() -> tuple[np.ndarray, np.ndarray]:
        """Nodes t and weights w with E f(t) ~ sum_j w_j f(t_j) for the standard marginal:
        64-node Gauss-Hermite, exact for polynomials of degree 127. For f = log p of a
        mixture prior, measured against adaptive quadrature: below 1e-8 nats when the
        prior's components are wider than the posterior (logvar -1..1 against -6..0); up to
        0.45 nats for posteriors far wider than narrow components (logvar up to 4 against
        -4), where log p bends sharply between components."""
        t, w = np.polynomial.hermite.hermgauss(HERMITE_NODES)
        return t * math.sqrt(2.0), w / math.sqrt(math.pi)


class Laplace(Normal):
    """Factorised Laplace posteriors; ``logvar`` is log 2b^2 for the scale b."""

    family = "laplace"

    def _log_b(self, logvar=None) -> torch.Tensor:
        return 0.5 * ((self.logvar if logvar is None else logvar) - LOG_2)

    def sample(self, draws: int, rng: np.random.Generator, rows=None):
        rows = np.arange(self.n) if rows is None else np.asarray(rows)
        index = torch.as_tensor(np.repeat(rows, draws), device=self.mu.device)
        eps = as_float64_tensor(rng.laplace(size=(len(index), self.mu.shape[1])), self.mu.device)
        return self.mu[index] + torch.exp(self._log_b(self.logvar[index])) * eps, index

    def log_density_units(self, z, index) -> torch.Tensor:
        log_b = self._log_b(self.logvar[index])
        return -(LOG_2 + log_b) - (z - self.mu[index]).abs() * torch.exp(-log_b)

    def log_mixture(self, z, *, block_bytes=None, exclude=None) -> torch.Tensor:
        inv_b = torch.exp(-self._log_b())
        const = -math.log(self.n) - (LOG_2 + self._log_b()).sum(1)
        units = self.mu.shape[1]
        tile = tile_shape(
            z.shape[0], self.n, (block_bytes or JOINT_BLOCK_BYTES) // units, JOINT_TILE_ROWS
        )

        def fill(r0: int, r1: int, c0: int, c1: int) -> torch.Tensor:
            distance = (z[r0:r1, None, :] - self.mu[c0:c1]).abs_().mul_(inv_b[c0:c1]).sum(2)
            block = const[c0:c1] - distance
            if exclude is not None:
                leave_out(block, exclude[r0:r1], c0, c1)
            return block

        out = torch.empty(z.shape[0], dtype=torch.float64, device=z.device)
        return tiled_logsumexp(z.shape[0], self.n, tile, fill, out, "I(x;z)")

    def log_mixture_units(self, z, *, block_bytes=None) -> torch.Tensor:
        inv_b = torch.exp(-self._log_b()).T.contiguous()
        const = (-math.log(self.n) - LOG_2 - self._log_b()).T.contiguous()
        z_t, mu_t = z.T.contiguous(), self.mu.T.contiguous()
        tile = tile_shape(z.shape[0], self.n, block_bytes or UNIT_BLOCK_BYTES, UNIT_TILE_ROWS)
        out = torch.empty(self.mu.shape[1], z.shape[0], dtype=torch.float64, device=z.device)
        for unit in range(self.mu.shape[1]):

            def fill(r0, r1, c0, c1, unit=unit):
                distance = (z_t[unit, r0:r1, None] - mu_t[unit, c0:c1]).abs_()
                return distance.mul_(-inv_b[unit, c0:c1]).add_(const[unit, c0:c1])

            tiled_logsumexp(z.shape[0], self.n, tile, fill, out[unit])
        return out.T.contiguous()

    def kl_units(self, mean, logvar) -> torch.Tensor:
        """Closed form: -H(q) - E_q log N(z; m, s^2), with E_q (z - m)^2 = (mu - m)^2 + 2b^2."""
        second_moment = (self.mu - mean) ** 2 + torch.exp(self.logvar)
        return -self.entropy_units() + 0.5 * (LOG_2PI + logvar + second_moment * torch.exp(-logvar))

    def entropy_units(self) -> torch.Tensor:
        return 1.0 + LOG_2 + self._log_b()

    def scale(self) -> torch.Tensor:
        return torch.exp(self._log_b())

    @staticmethod
    def quadrature() -> tuple[np.ndarray, np.ndarray]:
        """E f(t) = (1/2) int_0^inf e^-u (f(u) + f(-u)) du for the standard Laplace, by
        16-point Gauss-Legendre on each of the panels ``LAPLACE_PANELS`` on each side of the
        mode (448 nodes; the density's kink falls between the two sides; e^-64 is left
        out). Against adaptive quadrature, for f = log p of a mixture prior: below 1e-11
        nats for components wider than the posterior, up to 0.003 nats for posteriors far
        wider than narrow components (Gauss-Laguerre with 64 nodes erred by 0.7 there)."""
        x, w = np.polynomial.legendre.leggauss(16)
        lo, hi = LAPLACE_PANELS[:-1, None], LAPLACE_PANELS[1:, None]
        u = ((hi - lo) / 2 * x + (hi + lo) / 2).ravel()
        weights = ((hi - lo) / 2 * w).ravel() * np.exp(-u) / 2
        return np.concatenate([u, -u]), np.concatenate([weights, weights])


class MultivariateNormal(Normal):
    """Full-covariance Gaussian posteriors N(mu_n, L_n L_n^T); ``scale_tril`` (N, D, D)."""

    family = "multivariate_normal"

    def __init__(self, mu, logvar, scale_tril: torch.Tensor):
        super().__init__(mu, logvar)
        self.scale_tril = scale_tril

    def rows(self, index) -> MultivariateNormal:
        return type(self)(self.mu[index], self.logvar[index], self.scale_tril[index])

    def _half_log_det(self, index=slice(None)) -> torch.Tensor:
        return torch.diagonal(self.scale_tril[index], dim1=-2, dim2=-1).log().sum(-1)

    def sample(self, draws: int, rng: np.random.Generator, rows=None):
        rows = np.arange(self.n) if rows is None else np.asarray(rows)
        index = torch.as_tensor(np.repeat(rows, draws), device=self.mu.device)
        eps = as_float64_tensor(rng.standard_normal((len(index), self.mu.shape[1])), self.mu.device)
        return self.mu[index] + (self.scale_tril[index] @ eps[:, :, None])[:, :, 0], index

    def log_density(self, z, index) -> torch.Tensor:
        out = torch.empty(z.shape[0], dtype=torch.float64, device=z.device)
        step = max(1, JOINT_BLOCK_BYTES // (8 * self.mu.shape[1] ** 2))
        for s in range(0, z.shape[0], step):
            i = index[s : s + step]
            diff = (z[s : s + step] - self.mu[i])[:, :, None]
            white = torch.linalg.solve_triangular(self.scale_tril[i], diff, upper=False)
            out[s : s + step] = self._log_norm(i) - 0.5 * (white**2).sum((1, 2))
        return out

    def _log_norm(self, index) -> torch.Tensor:
        return -0.5 * self.mu.shape[1] * LOG_2PI - self._half_log_det(index)

    def log_mixture(self, z, *, block_bytes=None, exclude=None) -> torch.Tensor:
        units = self.mu.shape[1]
        const = self._log_norm(slice(None)) - math.log(self.n)
        tile = tile_shape(
            z.shape[0], self.n, (block_bytes or JOINT_BLOCK_BYTES) // units, JOINT_TILE_ROWS
        )

        def fill(r0: int, r1: int, c0: int, c1: int) -> torch.Tensor:
            diff = (z[None, r0:r1, :] - self.mu[c0:c1, None, :]).transpose(1, 2)  # (C, D, R)
            white = torch.linalg.solve_triangular(self.scale_tril[c0:c1], diff, upper=False)
            block = (const[c0:c1, None] - 0.5 * (white**2).sum(1)).T.contiguous()
            if exclude is not None:
                leave_out(block, exclude[r0:r1], c0, c1)
            return block

        out = torch.empty(z.shape[0], dtype=torch.float64, device=z.device)
        return tiled_logsumexp(z.shape[0], self.n, tile, fill, out, "I(x;z)")

    def dependence(self) -> torch.Tensor:
        """0.5 (sum_i log Sigma_ii - log det Sigma) >= 0 (Hadamard's inequality)."""
        return 0.5 * self.logvar.sum(1) - self._half_log_det()


def of(family: str, mu: torch.Tensor, logvar: torch.Tensor, scale_tril=None) -> Normal:
    """The posteriors of ``family`` (a name in ``FAMILIES``) with float64 tensors."""
    if family not in FAMILIES:
        raise PosteriorError(f"unknown posterior family {family!r}; one of {list(FAMILIES)}")
    if family == "multivariate_normal":
        if scale_tril is None:
            raise PosteriorError("a multivariate_normal posterior needs its scale_tril")
        return MultivariateNormal(mu, logvar, as_float64_tensor(scale_tril, mu.device))
    return Laplace(mu, logvar) if family == "laplace" else Normal(mu, logvar)
