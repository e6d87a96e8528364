"""Closed-form probes and the statistics of the permutation tests: linear discriminants and
least squares (cheap enough to refit for every permutation), the share of variance a label
explains per unit, permutation p-values and Holm's correction.

Features have shape (rows, D); labels are class codes 0..K-1 (or real targets for the
least-squares functions) of shape (rows,). Scores are shares of held-out rows classified
correctly, or held-out R^2.

References
----------
Holm (1979), "A simple sequentially rejective multiple test procedure".
"""

from __future__ import annotations

import numpy as np

TIE = 1e-12  # a permuted statistic within this of the observed one counts as reaching it


def one_hot(y: np.ndarray, k: int) -> np.ndarray:
    """Indicator matrix of shape (len(y), k)."""
    out = np.zeros((len(y), k))
    out[np.arange(len(y)), y] = 1.0
    return out


def _class_means(z: np.ndarray, y: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
    """Class sizes (K,) and class means (K, D); an empty class has mean 0."""
    onehot = one_hot(y, k)
    counts = onehot.sum(0)
    return counts, (onehot.T @ z) / np.maximum(counts, 1)[:, None]


def _pooled_solve(centred: np.ndarray, dof: int, rhs: np.ndarray) -> np.ndarray:
    """(S + lambda I)^-1 rhs for the pooled covariance S = C^T C / dof of the centred rows C
    (rows, D), with the ridge lambda = 1e-6 trace(S) / D + 1e-12. With more units than rows
    the same solution comes from the rows' side (Woodbury):
    (S + lambda I)^-1 = (I - C^T (dof lambda I + C C^T)^-1 C) / lambda, at O(rows^2 D)
    instead of O(D^3)."""
    rows, d = centred.shape
    ridge = 1e-6 * float((centred * centred).sum()) / dof / d + 1e-12
    if d <= rows:
        cov = centred.T @ centred / dof
        cov[np.diag_indices(d)] += ridge
        return np.linalg.solve(cov, rhs)
    gram = centred @ centred.T
    gram[np.diag_indices(rows)] += dof * ridge
    return (rhs - centred.T @ np.linalg.solve(gram, centred @ rhs)) / ridge


def lda_seconds(rows: int, units: int) -> float:
    """Estimated time of one ``lda_accuracy`` fit on ``rows`` training rows: the covariance
    product and the solve on the cheaper side, at about 40 GFLOP/s (2 cores, measured)."""
    small, large = min(rows, units), max(rows, units)
    return (2 * large * small**2 + small**3) / 40e9


def lda_accuracy(z_train, y_train, z_test, y_test, k: int) -> float:
    """Held-out accuracy of a linear discriminant (class means, pooled covariance, class
    frequencies as priors): a linear probe fitted in closed form, the statistic of the
    sample probe's permutation test. A class absent from training is never predicted."""
    counts, means = _class_means(z_train, y_train, k)
    weights = _pooled_solve(z_train - means[y_train], max(1, len(z_train) - k), means.T)
    bias = -0.5 * np.einsum("kd,dk->k", means, weights) + np.log(np.maximum(counts, 1e-300))
    scores = z_test @ weights + np.where(counts > 0, bias, -np.inf)
    return float((scores.argmax(1) == y_test).mean())


def lda_accuracy_per_unit(z_train, y_train, z_test, y_test, k: int) -> np.ndarray:
    """Held-out accuracy of a 1-D linear discriminant on each unit alone, shape (D,)."""
    counts, means = _class_means(z_train, y_train, k)
    var = ((z_train - means[y_train]) ** 2).sum(0) / max(1, len(z_train) - k) + 1e-12
    log_prior = np.where(counts > 0, np.log(np.maximum(counts, 1e-300)), -np.inf)
    accuracy = np.empty(z_train.shape[1])
    for unit in range(z_train.shape[1]):
        m = means[:, unit]
        scores = (np.outer(z_test[:, unit], m) - 0.5 * m * m) / var[unit] + log_prior
        accuracy[unit] = (scores.argmax(1) == y_test).mean()
    return accuracy


def least_squares_r2(z_train, y_train, z_test, y_test, k: int = 0) -> float:
    """Held-out R^2 of ordinary least squares with an intercept (``k`` is unused: the
    signature matches ``lda_accuracy``)."""
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


def variance_explained(z: np.ndarray, draws: int, k: int, task: str):
    """A function of a batch of example labellings (B, N) giving, per labelling and unit,
    how much of the variance of the samples z (N * draws rows, row n * draws + j is draw j
    of example n) the label explains, shape (B, D): between-class over within-class sums of
    squares for classes, the squared correlation for a regression target. The label-free
    parts are computed once, so a batch costs one (B K x N) @ (N x D) product.
    """
    centred = z - z.mean(0)
    total = (centred**2).sum(0)
    per_example = centred.reshape(-1, draws, z.shape[1]).sum(1)  # labels permute by example

    def explained(ys: np.ndarray) -> np.ndarray:
        if task == "regression":
            yc = ys - ys.mean(1, keepdims=True)
            scale = total * draws * (yc * yc).sum(1)[:, None]
            return (yc @ per_example) ** 2 / np.maximum(scale, 1e-300)
        batch, n = ys.shape
        indicator = np.zeros((batch, k, n))
        indicator[np.arange(batch)[:, None], ys, np.arange(n)] = 1.0
        counts = np.maximum(indicator.sum(2), 1) * draws  # (B, K)
        sums = (indicator.reshape(batch * k, n) @ per_example).reshape(batch, k, -1)
        between = (sums**2 / counts[:, :, None]).sum(1)
        return between / np.maximum(total - between, 1e-300)

    return explained


def holm(p_values: np.ndarray) -> np.ndarray:
    """Holm's step-down adjustment of a family of p-values (controls the family-wise error
    rate): the i-th smallest of m is multiplied by m - i + 1, made non-decreasing, capped
    at 1. Same shape and order as ``p_values``."""
    p = np.asarray(p_values, dtype=float)
    order = np.argsort(p)
    m = len(p)
    adjusted = np.maximum.accumulate((m - np.arange(m)) * p[order])
    out = np.empty(m)
    out[order] = np.minimum(adjusted, 1.0)
    return out
