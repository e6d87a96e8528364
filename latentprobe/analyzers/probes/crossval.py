"""Held-out scores of the probes and their permutation tests.

Folds split by example: a feature matrix has ``draws`` rows per example (row n * draws + j is
draw j of example n; 1 for the means or x), and an example's rows stay on one side. Folds are
stratified for classes, plain k-fold for a regression target, shuffled with the seed.
"""

from __future__ import annotations

import functools
import math
import warnings
from dataclasses import dataclass

import numpy as np

from ...progress import steps
from .discriminants import (
    TIE,
    lda_accuracy,
    lda_accuracy_per_unit,
    lda_seconds,
    least_squares_r2,
    least_squares_r2_per_unit,
    variance_explained,
)
from .estimators import classifier, fit_quietly, full_proba, regressor


def sample_rows(examples: np.ndarray, draws: int) -> np.ndarray:
    """The feature rows of the given examples, ``draws`` rows each."""
    return (examples[:, None] * draws + np.arange(draws)).ravel()


def make_splits(y: np.ndarray, folds: int, task: str, seed: int) -> list:
    """(train, test) example indices for each of ``folds`` folds over labels ``y`` (N,)."""
    from sklearn.model_selection import KFold, StratifiedKFold

    if task == "regression":
        return list(KFold(folds, shuffle=True, random_state=seed).split(np.zeros(len(y))))
    splitter = StratifiedKFold(folds, shuffle=True, random_state=seed)
    return list(splitter.split(np.zeros(len(y)), y))


@dataclass(frozen=True)
class CVScore:
    """Held-out accuracy (R^2 for regression) and, for classes, the held-out cross-entropy
    of each example in nats, averaged over its draws, shape (N,) (empty for regression)."""

    score: float
    example_loss: np.ndarray


def _fit_fold(features, y_rows, train, test, *, draws, family, task, k, seed):
    """Fit on the train examples' rows; (test rows, predictions or (rows, k) probabilities)."""
    train, test = sample_rows(train, draws), sample_rows(test, draws)
    if task == "regression":
        model = fit_quietly(regressor(family, seed), features[train], y_rows[train])
        return test, model.predict(features[test])
    model = fit_quietly(classifier(family, seed), features[train], y_rows[train])
    return test, full_proba(model, features[test], k)


def _regression_score(y_rows: np.ndarray, outputs) -> CVScore:
    predicted = np.empty(len(y_rows))
    for test, values in outputs:
        predicted[test] = values
    residual = ((y_rows - predicted) ** 2).sum()
    return CVScore(float(1 - residual / ((y_rows - y_rows.mean()) ** 2).sum()), np.empty(0))


def _classification_score(y_rows: np.ndarray, outputs, draws: int) -> CVScore:
    correct, loss = np.empty(len(y_rows)), np.empty(len(y_rows))
    for test, proba in outputs:
        correct[test] = proba.argmax(1) == y_rows[test]
        loss[test] = -np.log(proba[np.arange(len(test)), y_rows[test]])
    return CVScore(float(correct.mean()), loss.reshape(-1, draws).mean(1))


def cross_validate(
    features, y, splits, *, task, k=0, draws=1, family="linear", seed=0, n_jobs=1
) -> CVScore:
    """Held-out score of a probe (``family`` "linear" or "mlp") over ``splits``.

    ``features`` (N * draws, F), ``y`` (N,) per example; ``k`` classes (0 for regression);
    the folds run in ``n_jobs`` joblib workers.
    """
    from joblib import Parallel, delayed

    y_rows = np.repeat(y, draws)
    options = dict(draws=draws, family=family, task=task, k=k, seed=seed)
    fit = functools.partial(_fit_fold, features, y_rows, **options)
    outputs = Parallel(n_jobs=n_jobs)(delayed(fit)(train, test) for train, test in splits)
    if task == "regression":
        return _regression_score(y_rows, outputs)
    return _classification_score(y_rows, outputs, draws)


def _closed_form_score(z, y, splits, draws: int, k: int, statistic):
    """A closed-form probe's held-out score over the folds, weighted by test rows: a float,
    or shape (D,) for a per-unit statistic."""
    y_rows = np.repeat(y, draws)
    scores = []
    for train, test in splits:
        tr, te = sample_rows(train, draws), sample_rows(test, draws)
        scores.append(statistic(z[tr], y_rows[tr], z[te], y_rows[te], k) * len(te))
    return np.sum(scores, axis=0) / (len(y) * draws)


def permutation_test(z, y, rng, *, task, k, folds, draws, seed, permutations, label_sets=1):
    """The sample probe's permutation test: (held-out statistic, p-value, permutations run).

    The whole procedure, folds included, is rerun on every permuted labelling (folds
    stratified on the true labels alone would favour them: train and test class shares
    match). A closed-form linear probe (linear discriminant; least squares for regression)
    keeps the refits cheap. The count is adaptive (``sequential_p_value``): at most
    ``most_permutations(permutations, label_sets)``, fewer once the p-value is clearly large.
    """
    statistic = lda_accuracy if task != "regression" else least_squares_r2

    def score(labels):
        splits = make_splits(labels, folds, task, seed)
        return _closed_form_score(z, labels, splits, draws, k, statistic)

    most = most_permutations(permutations, label_sets)
    seconds = _permutation_test_seconds(len(y) * draws, z.shape[1], folds, most)
    if seconds > LONG_SECONDS:
        warnings.warn(
            f"the sample probe's permutation test refits {folds} folds up to {most + 1:,} "
            f"times on {z.shape[1]:,} units: about {seconds / 60:.0f} minutes; bound it with "
            "--permutations N (it stays at least 40 per label set probed, for Holm's "
            "correction) or leave the probes out with --skip probes",
            stacklevel=2,
        )
    observed = score(y)
    labellings = steps(range(most), most, "permutation test", seconds)
    null = (score(rng.permutation(y)) for _ in labellings)
    p, run = sequential_p_value(observed, null, most)
    return float(observed), p, run


#: The sequential test stops once this many permutations score at least the observed value.
ENOUGH_EXCEEDANCES = 10


def most_permutations(permutations: int, label_sets: int, alpha: float = 0.05) -> int:
    """The most permutations of one label set's test: ``permutations``, or enough for the
    smallest p-value to clear Holm's strictest level alpha / m over m label sets with room
    to spare (2 m / alpha), whichever is more."""
    return max(permutations, math.ceil(2 * label_sets / alpha))


def sequential_p_value(observed: float, null, most: int, enough: int = ENOUGH_EXCEEDANCES):
    """Besag & Clifford's (1991) sequential Monte Carlo p-value: (p, permutations run).

    Statistics from ``null`` (an iterable of permuted statistics) are drawn until ``enough``
    of them reach the observed value, after L permutations: p = enough / L; or until ``most``
    have been drawn with C < enough reaching it: p = (C + 1) / (most + 1). Valid as a
    p-value (P(p <= a) <= a under the null) like the fixed-count test with ``most``
    permutations, and as resolved where it matters: a clearly large p-value stops after
    about enough / p permutations, a small one runs them all.

    Reference: Besag & Clifford (1991), "Sequential Monte Carlo p-values", Biometrika 78.
    """
    reached = run = 0
    for value in null:
        run += 1
        reached += value >= observed - TIE
        if reached == enough:
            return enough / run, run
        if run == most:
            break
    return (reached + 1) / (run + 1), run


def _permutation_test_seconds(rows: int, units: int, folds: int, permutations: int) -> float:
    """Estimated time of the sample probe's permutation test (least squares as the LDA)."""
    per_fit = lda_seconds(rows * (folds - 1) // max(folds, 1), units)
    return (permutations + 1) * folds * per_fit


def unit_scores(z, y, splits, *, task, k, draws) -> np.ndarray:
    """Held-out accuracy (R^2 for regression) of a 1-D closed-form probe on each unit's
    samples, shape (D,)."""
    statistic = lda_accuracy_per_unit if task != "regression" else least_squares_r2_per_unit
    return _closed_form_score(z, y, splits, draws, k, statistic)


#: Cost of one permutation of the per-unit tests, measured on a 2-core machine with the
#: labellings in batches: about 10 us, plus 0.1 ns per example x unit x class (its share of
#: a (B K x N) @ (N x D) product; 0.02 to 0.09 ns measured, 0.3 ns one labelling at a time).
PERMUTATION_SECONDS = (10e-6, 0.1e-9)
LONG_SECONDS = 60.0
#: Labellings scored together in one matrix product by the per-unit tests: at most 64, and
#: their (labellings x K x N) indicators within 32 MiB.
PERMUTATION_BATCH, PERMUTATION_BATCH_BYTES = 64, 32 * 2**20


def unit_permutations(permutations: int, n_units: int, alpha: float = 0.05) -> int:
    """Enough permutations for a Holm-corrected p-value to reach ``alpha`` with D units:
    the smallest p, 1 / (n + 1), times D must fall below it (with a margin of 2)."""
    return max(10 * permutations, math.ceil(2 * n_units / alpha))


def permutation_seconds(count: int, examples: int, units: int, classes: int) -> float:
    """Estimated time of ``count`` permutations of the per-unit tests."""
    fixed, per_product = PERMUTATION_SECONDS
    return count * (fixed + per_product * examples * units * max(classes, 1))


def warn_if_long(count: int, examples: int, units: int, classes: int) -> None:
    """Say up front when the per-unit tests will take long, and which options bound them."""
    seconds = permutation_seconds(count, examples, units, classes)
    if seconds > LONG_SECONDS:
        warnings.warn(
            f"the probes' per-unit tests run {count:,} permutations over {examples:,} "
            f"examples x {units:,} units: about {seconds / 60:.0f} minutes; bound them with "
            "--unit-permutations N or turn them off with --no-unit-probes",
            stacklevel=2,
        )


def unit_p_values(z, y, rng, *, task, k, draws, permutations, count=None) -> np.ndarray:
    """Permutation p-value of each unit, shape (D,), over ``count`` labellings (default
    ``unit_permutations``).

    Labels permute between examples; the statistic is each unit's share of variance
    explained by the label (between-class over within-class sums of squares; r^2 for a
    regression target): O(N D), so the thousands of permutations that Holm's correction
    over D units needs stay cheap.
    """
    explained = variance_explained(z, draws, k, task)
    observed = explained(y[None])[0]
    count = count or unit_permutations(permutations, z.shape[1])
    warn_if_long(count, len(y), z.shape[1], k)
    seconds = permutation_seconds(count, len(y), z.shape[1], k)
    exceed = np.zeros(z.shape[1])
    batch = max(1, min(PERMUTATION_BATCH, PERMUTATION_BATCH_BYTES // (8 * max(k, 1) * len(y))))
    batches = range(0, count, batch)
    for start in steps(batches, len(batches), "per-unit permutations", seconds):
        size = min(batch, count - start)
        labellings = np.stack([rng.permutation(y) for _ in range(size)])
        exceed += (explained(labellings) >= observed - TIE).sum(0)
    return (exceed + 1) / (count + 1)
