"""Building blocks for probes: closed-form linear discriminants (fast enough to refit for
every permutation), Wilson intervals, Holm's correction, label cleaning."""

from __future__ import annotations

import math

import numpy as np

from ..errors import AnalysisError

Z95 = 1.959963984540054


def one_hot(y: np.ndarray, k: int) -> np.ndarray:
    out = np.zeros((len(y), k))
    out[np.arange(len(y)), y] = 1.0
    return out


def lda_accuracy(z_train, y_train, z_test, y_test, k: int) -> float:
    """Held-out accuracy of a linear discriminant (class means, pooled covariance): a linear
    probe fitted in closed form, used as the permutation test's statistic."""
    onehot = one_hot(y_train, k)
    counts = onehot.sum(0)
    present = counts > 0
    means = (onehot.T @ z_train) / np.maximum(counts, 1)[:, None]
    centred = z_train - means[y_train]
    cov = centred.T @ centred / max(1, len(z_train) - k)
    cov += np.eye(cov.shape[0]) * (1e-6 * np.trace(cov) / cov.shape[0] + 1e-12)
    weights = np.linalg.solve(cov, means.T)  # (D, K)
    bias = -0.5 * np.einsum("kd,dk->k", means, weights) + np.log(np.maximum(counts, 1e-300))
    scores = z_test @ weights + np.where(present, bias, -np.inf)
    return float((scores.argmax(1) == y_test).mean())


def lda_accuracy_per_unit(z_train, y_train, z_test, y_test, k: int) -> np.ndarray:
    """Held-out accuracy of a 1-D linear discriminant on each unit alone, shape (D,)."""
    onehot = one_hot(y_train, k)
    counts = onehot.sum(0)
    means = (onehot.T @ z_train) / np.maximum(counts, 1)[:, None]  # (K, D)
    var = ((z_train - means[y_train]) ** 2).sum(0) / max(1, len(z_train) - k) + 1e-12
    log_prior = np.where(counts > 0, np.log(np.maximum(counts, 1e-300)), -np.inf)
    accuracy = np.empty(z_train.shape[1])
    for unit in range(z_train.shape[1]):
        m = means[:, unit]
        scores = (np.outer(z_test[:, unit], m) - 0.5 * m * m) / var[unit] + log_prior
        accuracy[unit] = (scores.argmax(1) == y_test).mean()
    return accuracy


def permutation_p_value(observed: float, null: np.ndarray) -> float:
    """(C + 1) / (n + 1), C the permutations scoring at least the observed value."""
    return float((np.sum(null >= observed - 1e-12) + 1) / (len(null) + 1))


def holm(p_values: np.ndarray) -> np.ndarray:
    """Holm's step-down adjustment of a family of p-values (controls the family-wise error)."""
    p = np.asarray(p_values, dtype=float)
    order = np.argsort(p)
    m = len(p)
    adjusted = np.maximum.accumulate((m - np.arange(m)) * p[order])
    out = np.empty(m)
    out[order] = np.minimum(adjusted, 1.0)
    return out


def wilson_interval(successes: float, n: int) -> tuple[float, float]:
    """95% Wilson score interval for a proportion."""
    if n == 0:
        return (math.nan, math.nan)
    phat = successes / n
    denom = 1 + Z95**2 / n
    centre = (phat + Z95**2 / (2 * n)) / denom
    half = Z95 * math.sqrt(phat * (1 - phat) / n + Z95**2 / (4 * n * n)) / denom
    return (max(0.0, centre - half), min(1.0, centre + half))


def entropy_nats(y: np.ndarray) -> float:
    """Plug-in entropy H(y) of integer labels, in nats."""
    p = np.bincount(y) / len(y)
    p = p[p > 0]
    return float(-(p * np.log(p)).sum())


def clean_labels(labels, n: int, name: str) -> tuple[np.ndarray, np.ndarray, str]:
    """(kept rows, values, task): missing labels (-1, NaN) are dropped; integer-valued labels
    with at most 100 distinct values are classes (re-coded 0..K-1), other numbers a
    regression target."""
    y = np.asarray(labels)
    if len(y) != n:
        raise AnalysisError(
            f"labels {name!r} have {len(y)} entries but the statistics have "
            f"{n} examples; pass labels of the same length"
        )
    if y.dtype.kind not in "biuf":
        try:
            _, y = np.unique(y.astype(str), return_inverse=True)
        except (TypeError, ValueError) as e:
            raise AnalysisError(f"labels {name!r} of type {y.dtype} cannot be encoded") from e
    y = y.astype(np.float64)
    keep = np.isfinite(y) & (y != -1)
    values = y[keep]
    if len(values) and np.all(values == np.round(values)) and len(np.unique(values)) <= 100:
        _, codes = np.unique(values, return_inverse=True)
        return np.flatnonzero(keep), codes.astype(np.int64), "classification"
    return np.flatnonzero(keep), values, "regression"


def least_squares_r2(z_train, y_train, z_test, y_test, k: int = 0) -> float:
    """Held-out R^2 of ordinary least squares with an intercept (closed form)."""
    design = np.column_stack([z_train, np.ones(len(z_train))])
    coef = np.linalg.lstsq(design, y_train, rcond=None)[0]
    predicted = np.column_stack([z_test, np.ones(len(z_test))]) @ coef
    return float(1 - ((y_test - predicted) ** 2).sum() / ((y_test - y_test.mean()) ** 2).sum())


def least_squares_r2_per_unit(z_train, y_train, z_test, y_test, k: int = 0) -> np.ndarray:
    """Held-out R^2 of a 1-D least-squares fit on each unit alone, shape (D,)."""
    zc = z_train - z_train.mean(0)
    slope = (zc * (y_train - y_train.mean())[:, None]).sum(0) / np.maximum((zc**2).sum(0), 1e-300)
    predicted = y_train.mean() + (z_test - z_train.mean(0)) * slope
    residual = ((y_test[:, None] - predicted) ** 2).sum(0)
    return 1 - residual / ((y_test - y_test.mean()) ** 2).sum()


def variance_explained(z, s: int, k: int, task: str):
    """A function of example labels (N,) giving, per unit, the share of variance the label
    explains in the samples z (N * s rows, s per example): between-class over within-class
    sums of squares for classes, squared correlation for a regression target. Shape (D,).
    The label-free parts are computed once, so each call costs one (K x N) @ (N x D) product.
    """
    centred = z - z.mean(0)
    total = (centred**2).sum(0)
    per_example = centred.reshape(-1, s, z.shape[1]).sum(1)  # labels permute by example

    def explained(y: np.ndarray) -> np.ndarray:
        if task == "regression":
            yc = y - y.mean()
            return (yc @ per_example) ** 2 / np.maximum(total * s * (yc @ yc), 1e-300)
        counts = np.maximum(np.bincount(y, minlength=k), 1) * s
        between = ((one_hot(y, k).T @ per_example) ** 2 / counts[:, None]).sum(0)
        return between / np.maximum(total - between, 1e-300)

    return explained
