"""Plain data: the prior p(z) and the encoder statistics. No file library is imported here;
``store`` reads and writes them."""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np

from .errors import DataError, PosteriorError, PriorError


@dataclass(frozen=True)
class Prior:
    """A mixture of diagonal Gaussians; K = 1 is a diagonal Gaussian prior.

    ``weights`` has shape (K,); ``means`` and ``logvars`` have shape (K, D) or (K, 1) (one
    value for every unit), log-variances in natural log.
    """

    weights: np.ndarray
    means: np.ndarray
    logvars: np.ndarray

    @classmethod
    def standard_normal(cls) -> Prior:
        return cls.diagonal(0.0, 0.0)

    @classmethod
    def diagonal(cls, mean, logvar) -> Prior:
        """A Gaussian prior; ``mean`` and ``logvar`` are one number or one per unit."""
        mean = np.atleast_1d(np.asarray(mean, dtype=np.float64))
        logvar = np.atleast_1d(np.asarray(logvar, dtype=np.float64))
        return cls.mixture([1.0], mean[None, :], logvar[None, :])

    @classmethod
    def mixture(cls, weights, means, logvars) -> Prior:
        """A mixture prior, validated: K positive weights summing to 1, finite components."""
        weights = np.asarray(weights, dtype=np.float64)
        means = np.atleast_2d(np.asarray(means, dtype=np.float64))
        logvars = np.atleast_2d(np.asarray(logvars, dtype=np.float64))
        if weights.ndim != 1 or len(weights) != len(means) or len(means) != len(logvars):
            raise PriorError(
                f"prior needs K weights and (K, D) means and logvars, got "
                f"{weights.shape}, {means.shape}, {logvars.shape}"
            )
        if (weights <= 0).any() or not np.isclose(weights.sum(), 1.0):
            raise PriorError("prior weights must be positive and sum to 1")
        for name, arr in (("means", means), ("logvars", logvars)):
            if not np.isfinite(arr).all():
                raise PriorError(f"prior {name} must be finite")
        return cls(weights, means, logvars)

    @property
    def kind(self) -> str:
        if len(self.weights) > 1:
            return "mixture_of_diagonal_gaussians"
        if not self.means.any() and not self.logvars.any():
            return "standard_normal"
        return "diagonal_gaussian"

    @property
    def is_gaussian(self) -> bool:
        return len(self.weights) == 1

    def check_fits(self, n_units: int) -> None:
        """Raise unless the prior has one value, or one per unit, for ``n_units`` units."""
        if self.means.shape[1] not in (1, n_units) or self.logvars.shape[1] not in (1, n_units):
            raise PriorError(
                f"the prior has {self.means.shape[1]} units but the encoder has {n_units}; "
                "give one value, or one per unit, to --prior-mean/--prior-logvar"
            )

    def expanded(self, n_units: int) -> Prior:
        """The prior with (K, n_units) means and logvars."""
        self.check_fits(n_units)
        shape = (len(self.weights), n_units)
        return Prior(
            self.weights,
            np.broadcast_to(self.means, shape).copy(),
            np.broadcast_to(self.logvars, shape).copy(),
        )

    def sample(self, n: int, rng: np.random.Generator) -> np.ndarray:
        """``n`` draws z ~ p(z), shape (n, D) (D from the means; ``expanded`` first for one
        value per unit): the component, then the Gaussian noise, from ``rng``."""
        component = rng.choice(len(self.weights), size=n, p=self.weights)
        noise = rng.standard_normal((n, self.means.shape[1]))
        return self.means[component] + np.exp(0.5 * self.logvars[component]) * noise

    def describe(self) -> dict:
        standard = self.kind == "standard_normal"
        return {
            "kind": self.kind,
            "components": len(self.weights),
            "mean": 0.0 if standard else self.means.tolist(),
            "logvar": 0.0 if standard else self.logvars.tolist(),
        }


@dataclass(frozen=True)
class EncoderStats:
    """Posterior parameters of every example, with labels, the prior and provenance.

    ``mu`` and ``logvar`` are float64 arrays of shape (N, D): the means and the log-variances
    (natural log) of each unit's marginal q(z_i|x); ``labels`` maps a label-set name to an
    array of shape (N,). ``family`` names the posterior family (``posteriors.FAMILIES``);
    a full-covariance one (``multivariate_normal``) has its Cholesky factors in
    ``scale_tril`` (N, D, D), and its ``logvar`` must be their diagonal log-variances.
    """

    mu: np.ndarray
    logvar: np.ndarray
    labels: dict = field(default_factory=dict)
    prior: Prior = field(default_factory=Prior.standard_normal)
    provenance: dict = field(default_factory=dict)
    family: str = "normal"
    scale_tril: np.ndarray | None = None

    def __post_init__(self):
        mu, logvar = np.asarray(self.mu), np.asarray(self.logvar)
        validate_posteriors(mu, logvar)
        self.prior.check_fits(mu.shape[1])
        # analyses work in float64 whatever precision the encoder had
        object.__setattr__(self, "mu", mu.astype(np.float64, copy=False))
        object.__setattr__(self, "logvar", logvar.astype(np.float64, copy=False))
        self._check_family()
        for name, y in self.labels.items():
            check_label_set(name, y, len(self.mu))

    def _check_family(self) -> None:
        if self.family not in FAMILIES:
            raise PosteriorError(
                f"unknown posterior family {self.family!r}; one of {list(FAMILIES)}"
            )
        full = self.family == "multivariate_normal"
        if (self.scale_tril is not None) != full:
            raise PosteriorError(
                "scale_tril goes with, and only with, a multivariate_normal family"
            )
        if full:
            tril = np.asarray(self.scale_tril, dtype=np.float64)
            check_scale_tril(tril, self.mu.shape)
            if not np.allclose(marginal_logvar(tril), self.logvar, rtol=0, atol=1e-5):
                raise PosteriorError("logvar is not the log-variance of scale_tril's diagonal")
            object.__setattr__(self, "scale_tril", tril)

    @property
    def posterior(self) -> dict:
        """The family and its parameters beyond (mu, logvar), as analyzers take them."""
        return {"family": self.family, "scale_tril": self.scale_tril}

    @property
    def n_examples(self) -> int:
        return self.mu.shape[0]

    @property
    def n_units(self) -> int:
        return self.mu.shape[1]

    @property
    def latent_shape(self) -> tuple[int, ...]:
        """The encoder's latent layout, e.g. (C, H, W) or (T, D), flattened in C order to the
        D units (provenance ``latent_shape``); (D,) for a flat latent or a layout that does
        not fit D."""
        shape = self.provenance.get("latent_shape")
        if isinstance(shape, (list, tuple)) and all(isinstance(s, int) and s > 0 for s in shape):
            if shape and math.prod(shape) == self.n_units:
                return tuple(shape)
        return (self.n_units,)

    @classmethod
    def from_latents(cls, mu, logvar, **fields) -> EncoderStats:
        """Statistics from posteriors of any layout (N, ...) such as (N, C, H, W): flattened
        to (N, D), the layout kept in the provenance as ``latent_shape``."""
        mu, logvar = np.asarray(mu), np.asarray(logvar)
        provenance = {**fields.pop("provenance", {}), "latent_shape": list(mu.shape[1:])}
        flat = (len(mu), -1)
        return cls(mu.reshape(flat), logvar.reshape(flat), provenance=provenance, **fields)


FAMILIES = {
    "normal": "diagonal Gaussian",
    "laplace": "factorised Laplace",
    "multivariate_normal": "full-covariance Gaussian (Cholesky factor scale_tril)",
}


def marginal_logvar(scale_tril) -> np.ndarray:
    """log Sigma_ii = log sum_j L_ij^2 of a stack of Cholesky factors (N, D, D)."""
    return np.log((np.asarray(scale_tril, dtype=np.float64) ** 2).sum(-1))


def check_scale_tril(scale_tril, mu_shape) -> None:
    """Raise unless ``scale_tril`` is (N, D, D) for mu of shape (N, D), finite, lower
    triangular with a positive diagonal."""
    tril = np.asarray(scale_tril)
    n, d = mu_shape
    if tril.shape != (n, d, d):
        raise PosteriorError(f"scale_tril has shape {tril.shape}; expected (N, D, D) = {(n, d, d)}")
    if tril.dtype.kind not in "f" or not np.isfinite(tril).all():
        raise PosteriorError("scale_tril must hold finite real numbers")
    if np.triu(tril, k=1).any():
        raise PosteriorError("scale_tril has entries above its diagonal; not a Cholesky factor")
    if not (np.diagonal(tril, axis1=1, axis2=2) > 0).all():
        raise PosteriorError("scale_tril has a diagonal entry <= 0; expected a Cholesky factor")


def check_label_set(name: str, y, n: int) -> None:
    """Raise unless ``y`` is a 1-D array of N numbers (classes coded as integers)."""
    y = np.asarray(y)
    if y.ndim != 1:
        raise DataError(f"labels {name!r} have shape {y.shape}; pass one label per example")
    if len(y) != n:
        raise DataError(
            f"labels {name!r} have {len(y)} entries for {n} examples; "
            "pass labels of the same length"
        )
    if y.dtype.kind not in "biuf":
        raise DataError(
            f"labels {name!r} hold {y.dtype} values, not numbers; code the classes as integers"
        )


def validate_posteriors(mu, logvar) -> None:
    """Raise unless mu and logvar are finite real arrays of the same shape (N, D), N >= 1,
    within ``LIMITS``."""
    mu_shape, lv_shape = np.shape(mu), np.shape(logvar)
    if mu_shape != lv_shape or len(mu_shape) != 2:
        raise PosteriorError(
            f"expected mu and logvar of the same shape (N, D), got {mu_shape} and {lv_shape}"
        )
    if mu_shape[0] == 0 or mu_shape[1] == 0:
        raise PosteriorError(f"no examples or no units: mu has shape {mu_shape}")
    for name, arr in (("mu", mu), ("logvar", logvar)):
        if np.asarray(arr).dtype.kind not in "biuf":
            raise PosteriorError(
                f"{name} must hold real numbers, got dtype {np.asarray(arr).dtype}"
            )
    if (problem := bad_value(mu, logvar)) is not None:
        raise PosteriorError(f"{problem}; check the encoder")


#: The largest |mu| and |logvar| the analyses compute with: beyond them mu^2 or
#: exp(+-logvar) overflow float64.
LIMITS = {"mu": 1e150, "logvar": 700.0}


def _first(mu, logvar, bad) -> tuple[str, int, int, float] | None:
    """(array name, row, column, value) of the first value of mu, then logvar, where
    ``bad(name, array)`` is true (2-D numpy arrays or torch tensors)."""
    for name, arr in (("mu", mu), ("logvar", logvar)):
        mask = bad(name, np.asarray(arr))
        if mask.any():
            row, col = (int(i) for i in np.argwhere(mask)[0])
            return name, row, col, float(arr[row][col])
    return None


def find_non_finite(mu, logvar) -> tuple[str, int, int, float] | None:
    """The first NaN or infinity (see ``_first``)."""
    return _first(mu, logvar, lambda name, arr: ~np.isfinite(arr))


def find_out_of_range(mu, logvar) -> tuple[str, int, int, float] | None:
    """The first finite value beyond ``LIMITS`` (see ``_first``); the limit is a float64
    scalar so that float32 arrays are compared in float64, not the limit cast to float32."""
    return _first(mu, logvar, lambda name, arr: np.abs(arr) > np.float64(LIMITS[name]))


def within_limits(mu, logvar) -> bool:
    """Whether every value is finite and within ``LIMITS``, for float64 arrays or tensors on
    any device (the comparison runs where the data is; NaN and infinity fail it)."""
    return all(
        bool((abs(arr) <= LIMITS[name]).all()) for name, arr in (("mu", mu), ("logvar", logvar))
    )


def bad_value(mu, logvar, offset: int = 0) -> str | None:
    """The first value that is not finite, then the first beyond ``LIMITS``, in words (rows
    counted from ``offset``); None when there is none."""
    if (found := find_non_finite(mu, logvar)) is not None:
        name, row, col, value = found
        return f"{name} is not finite at example {offset + row}, unit {col}: {value}"
    if (found := find_out_of_range(mu, logvar)) is not None:
        name, row, col, value = found
        return (
            f"{name} = {value:.3g} at example {offset + row}, unit {col} is beyond "
            f"+-{LIMITS[name]:g}, where float64 arithmetic overflows"
        )
    return None
