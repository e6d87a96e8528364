"""How much a probe says about y, in nats and bits: the I(z;y) lower bound, the control
task's selectivity, and the online (MDL) code length. Class labels only.

References
----------
Pimentel et al. (2020), "Information-theoretic probing for linguistic structure":
    I(z;y) >= H(y) - held-out cross-entropy.
Hewitt & Liang (2019), "Designing and interpreting probes with control tasks": selectivity.
Voita & Titov (2020), "Information-theoretic probing with minimum description length":
    online code length.
"""

from __future__ import annotations

import math

import numpy as np

from ..intervals import normal_interval, wilson_interval
from .crossval import CVScore, cross_validate, make_splits
from .estimators import classifier, fit_quietly, full_proba

MDL_FRACTIONS = (0.001, 0.002, 0.004, 0.008, 0.016, 0.032, 0.064, 0.128, 0.256, 0.512, 1.0)
CONTROL_CLUSTERS = 100
NAN = math.nan


def entropy_nats(y: np.ndarray) -> float:
    """Plug-in entropy H(y) of class codes (N,), in nats."""
    p = np.bincount(y) / len(y)
    p = p[p > 0]
    return float(-(p * np.log(p)).sum())


def bound_figures(y: np.ndarray, main: CVScore) -> dict:
    """Chance, the accuracy's 95% Wilson interval and the bound on I(z;y), in nats, for the
    sample probe ``main`` on class codes ``y`` (N,).

    H(y) - held-out cross-entropy is below I(z;y) only in expectation (the point estimate
    exceeded a known I(z;y) in 17 of 40 seeds); the reported bound is the lower end of its
    95% interval (normal, over the N examples' losses), and at least 0, which exceeded it in
    2 of 40."""
    n = len(y)
    entropy = entropy_nats(y)
    cross_entropy = float(main.example_loss.mean())
    estimate = entropy - cross_entropy
    stderr = float(main.example_loss.std(ddof=1)) / math.sqrt(n)
    interval = list(normal_interval(estimate, stderr))
    return dict(
        chance=float(np.bincount(y).max() / n),
        accuracy_ci95=list(wilson_interval(main.score * n, n)),
        cross_entropy_nats=cross_entropy,
        class_entropy_nats=entropy,
        mi_lower_bound_nats=max(0.0, interval[0]),
        mi_lower_bound_ci95=interval,
    )


def cluster(x: np.ndarray, clusters: int, seed: int):
    """k-means of the standardised x (N, F), fitted on one OpenMP thread: scikit-learn's
    Lloyd step adds the threads' partial sums in the order the threads finish, so with three
    or more threads the centres (and then borderline assignments) change from run to run."""
    from sklearn.cluster import KMeans
    from sklearn.preprocessing import StandardScaler
    from threadpoolctl import threadpool_limits

    with threadpool_limits(limits=1, user_api="openmp"):
        return KMeans(clusters, n_init=1, random_state=seed).fit(StandardScaler().fit_transform(x))


def control_labels(x: np.ndarray, y: np.ndarray, rng, seed: int) -> np.ndarray:
    """Hewitt & Liang's control task for VAEs: each k-means cluster of x (N, F) gets one
    label drawn from y's distribution, so a probe solves it only if z tells which x it came
    from. Shape (N,)."""
    clusters = min(CONTROL_CLUSTERS, max(2, len(x) // 10))
    assignment = cluster(x, clusters, seed).labels_
    cluster_label = rng.choice(y, size=clusters)
    return cluster_label[assignment]


def control_task(z, x, y, rng, *, folds, draws, seed, n_jobs) -> tuple[float, list[str]]:
    """Held-out accuracy of the linear probe on samples z (N * draws, D) for the control
    task, and notes: NaN, with a note, when a control class has fewer than two members."""
    labels = np.unique(control_labels(x, y, rng, seed), return_inverse=True)[1]
    counts = np.bincount(labels)
    if len(counts) < 2 or counts.min() < 2:
        return NAN, ["control task left out: its labels have too few members per class"]
    splits = make_splits(labels, min(folds, int(counts.min())), "classification", seed)
    options = dict(task="classification", k=len(counts), draws=draws, seed=seed, n_jobs=n_jobs)
    return cross_validate(z, labels, splits, **options).score, []


def _block_proba(z, y, start: int, stop: int, k: int, seed: int) -> np.ndarray:
    """Probabilities (stop - start, k) for the block's labels from a linear probe trained
    on the examples before it (label frequencies, add-one, when those hold one class)."""
    if len(np.unique(y[:start])) < 2:
        counts = np.bincount(y[:start], minlength=k) + 1.0
        return np.tile(counts / counts.sum(), (stop - start, 1))
    model = fit_quietly(classifier("linear", seed), z[:start], y[:start])
    return full_proba(model, z[start:stop], k)


def mdl_code_length(z, y, k: int, rng, seed: int) -> tuple[float, float]:
    """Online code length of class codes y (N,) given z (N, D), in bits (Voita & Titov
    2020), and the uniform code's length, N log2 k.

    Examples in a fixed random order; blocks end at 0.1%, 0.2%, 0.4%, ... 100% of them. The
    first block is sent with the uniform code; each later block with a linear probe trained
    from scratch on everything before it.
    """
    order = rng.permutation(len(y))
    z, y = z[order], y[order]
    ends = sorted({max(1, int(round(f * len(y)))) for f in MDL_FRACTIONS})
    bits = ends[0] * math.log2(k)
    for start, stop in zip(ends[:-1], ends[1:], strict=True):
        proba = _block_proba(z, y, start, stop, k, seed)
        bits -= np.log2(proba[np.arange(stop - start), y[start:stop]]).sum()
    return float(bits), float(len(y) * math.log2(k))


def mdl_figures(z, y, k: int, rng, seed: int) -> dict:
    """``mdl_code_length`` as result fields, with the compression uniform / online."""
    bits, uniform = mdl_code_length(z, y, k, rng, seed)
    return dict(mdl_bits=bits, uniform_bits=uniform, compression=uniform / bits)
