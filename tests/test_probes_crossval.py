"""Held-out scores and permutation tests (probes.crossval)."""

from __future__ import annotations

import numpy as np
import pytest

from latentprobe.analyzers.probes.crossval import (
    cross_validate,
    make_splits,
    permutation_test,
    sample_rows,
    sequential_p_value,
    unit_p_values,
    unit_permutations,
    unit_scores,
)
from latentprobe.analyzers.probes.estimators import PROBABILITY_FLOOR


def test_sample_rows_keep_an_examples_draws_together():
    assert sample_rows(np.array([0, 2]), 3).tolist() == [0, 1, 2, 6, 7, 8]
    assert sample_rows(np.array([4]), 1).tolist() == [4]


def test_stratified_splits_cover_every_example_once_with_class_shares():
    y = np.array([0] * 30 + [1] * 10)
    splits = make_splits(y, 5, "classification", seed=0)
    tests = np.concatenate([test for _, test in splits])
    assert sorted(tests.tolist()) == list(range(40))
    assert all(np.bincount(y[test]).tolist() == [6, 2] for _, test in splits)
    again = make_splits(y, 5, "classification", seed=0)
    assert all((a[1] == b[1]).all() for a, b in zip(splits, again, strict=True))


def test_regression_splits_are_plain_folds():
    splits = make_splits(np.linspace(0, 1, 23), 4, "regression", seed=1)
    assert sorted(len(test) for _, test in splits) == [5, 6, 6, 6]


def _separable(rng, n=200, draws=2):
    y = rng.integers(0, 2, n)
    z = np.repeat(y, draws)[:, None] * 6.0 + rng.normal(size=(n * draws, 2)) * 0.3
    return z, y


def test_cross_validate_on_separable_classes():
    rng = np.random.default_rng(0)
    z, y = _separable(rng)
    splits = make_splits(y, 5, "classification", seed=0)
    cv = cross_validate(z, y, splits, task="classification", k=2, draws=2)
    assert cv.score == 1.0 and cv.example_loss.shape == (200,)
    floor = -np.log(1 - PROBABILITY_FLOOR + PROBABILITY_FLOOR / 2)  # best possible loss
    assert floor <= cv.example_loss.min() and cv.example_loss.mean() < 0.05


def test_cross_validate_regression_gives_r2():
    rng = np.random.default_rng(1)
    z = rng.normal(size=(150, 2))
    t = 3 * z[:, 0] + 1.0
    splits = make_splits(t, 5, "regression", seed=0)
    cv = cross_validate(z, t, splits, task="regression")
    assert cv.score == pytest.approx(1.0, abs=0.01) and cv.example_loss.size == 0


def test_permutation_test_on_separable_classes_reaches_the_smallest_p():
    rng = np.random.default_rng(2)
    z, y = _separable(rng)
    settings = dict(task="classification", k=2, folds=5, draws=2, seed=0, permutations=19)
    statistic, p, run = permutation_test(z, y, rng, **settings)
    assert statistic == 1.0 and p == 1 / 41 and run == 40  # at least 2 / 0.05 permutations
    statistic, p, run = permutation_test(z, y, rng, **settings, label_sets=4)
    assert p == 1 / 161 and run == 160  # Holm over 4 label sets needs p < 0.0125


def test_a_permutation_test_on_noise_stops_early():
    rng = np.random.default_rng(4)
    z, y = rng.normal(size=(400, 3)), rng.integers(0, 2, size=200)
    settings = dict(task="classification", k=2, folds=5, draws=2, seed=0, permutations=100)
    _, p, run = permutation_test(z, y, rng, **settings)
    assert p > 0.1 and run < 100 and p == 10 / run


def test_the_sequential_p_value_is_valid_under_the_null():
    """Observed and permuted statistics exchangeable: P(p <= a) <= a (4,000 tests; the
    bound plus 3 standard errors), with ties counted as reaching the observed value."""
    rng = np.random.default_rng(0)
    p = np.array(
        [sequential_p_value(rng.random(), iter(rng.random(200)), 200)[0] for _ in range(4000)]
    )
    for level in (0.01, 0.05, 0.1, 0.2, 0.5):
        assert (p <= level).mean() <= level + 3 * np.sqrt(level * (1 - level) / 4000)
    assert sequential_p_value(0.5, iter([0.5 - 1e-13] * 10), 100) == (1.0, 10)
    assert sequential_p_value(0.5, iter([0.1] * 100), 100) == (1 / 101, 100)
    assert sequential_p_value(0.5, iter([0.9, 0.1, 0.1]), 3) == (2 / 4, 3)


def test_unit_permutations_let_holm_reach_alpha():
    assert unit_permutations(100, 10) == 1000
    assert unit_permutations(10, 50) == 2000  # 2 * 50 / 0.05
    for permutations, units in ((1, 3), (100, 64), (5, 400)):
        n = unit_permutations(permutations, units)
        assert units / (n + 1) < 0.05


def test_one_unit_probes_find_the_planted_unit():
    rng = np.random.default_rng(3)
    n, draws = 300, 2
    y = rng.integers(0, 3, n)
    z = rng.normal(size=(n * draws, 3))
    z[:, 1] += np.repeat(y, draws) * 3.0
    splits = make_splits(y, 5, "classification", seed=0)
    accuracy = unit_scores(z, y, splits, task="classification", k=3, draws=draws)
    assert accuracy.shape == (3,) and accuracy.argmax() == 1 and accuracy[1] > 0.9
    p = unit_p_values(z, y, rng, task="classification", k=3, draws=draws, permutations=5)
    count = unit_permutations(5, 3)
    assert p[1] == 1 / (count + 1) and p[0] > 0.01 and p[2] > 0.01


def test_wide_latents_are_announced_and_bounded(monkeypatch):
    import warnings

    from latentprobe.analyzers.probes import crossval

    assert unit_permutations(100, 4000) == 160_000  # 40 D, for Holm over 4,000 units
    assert crossval.permutation_seconds(160_000, 10_000, 4000, 10) > 3600
    rng = np.random.default_rng(3)
    z, y = rng.normal(size=(40, 300)), rng.integers(0, 2, 20)
    settings = dict(task="classification", k=2, draws=2, permutations=1)
    monkeypatch.setattr(crossval, "LONG_SECONDS", 1e-6)
    with pytest.warns(UserWarning, match="--unit-permutations N or turn them off"):
        p = unit_p_values(z, y, rng, **settings, count=9)
    assert p.shape == (300,) and p.min() >= 1 / 10  # nine permutations: p >= 1/10
    monkeypatch.setattr(crossval, "LONG_SECONDS", 60.0)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        unit_p_values(z, y, rng, **settings, count=9)  # a second of work: no warning
