"""Closed-form probes, permutation p-values and Holm (probes.discriminants)."""

from __future__ import annotations

import numpy as np
import pytest

from latentprobe.analyzers.probes.discriminants import (
    holm,
    lda_accuracy,
    lda_accuracy_per_unit,
    least_squares_r2,
    least_squares_r2_per_unit,
    one_hot,
    variance_explained,
)


def test_holm_against_hand_computed_values():
    # sorted 0.01, 0.03, 0.04, 0.2 times 4, 3, 2, 1: 0.04, 0.09, 0.08 -> 0.09 (monotone), 0.2
    np.testing.assert_allclose(holm(np.array([0.01, 0.04, 0.03, 0.2])), [0.04, 0.09, 0.09, 0.2])


def test_holm_keeps_the_order_and_caps_at_one():
    # sorted 0.001, 0.3, 0.5 times 3, 2, 1: 0.003, 0.6, 0.5 -> 0.6; then 1.2, 0.7 -> 1, 1
    np.testing.assert_allclose(holm([0.5, 0.3, 0.001]), [0.6, 0.6, 0.003])
    np.testing.assert_allclose(holm([0.7, 0.6]), [1.0, 1.0])


def test_one_hot():
    np.testing.assert_array_equal(one_hot(np.array([2, 0]), 3), [[0, 0, 1], [1, 0, 0]])


def _separable(rng, n=300):
    y = rng.integers(0, 3, n)
    z = np.column_stack([y * 5.0 + rng.normal(size=n) * 0.1, rng.normal(size=n)])
    return z, y


def test_lda_accuracy_on_separable_classes_is_one():
    rng = np.random.default_rng(0)
    z, y = _separable(rng)
    assert lda_accuracy(z[:200], y[:200], z[200:], y[200:], 3) == 1.0


def test_lda_never_predicts_a_class_absent_from_training():
    rng = np.random.default_rng(1)
    z, y = _separable(rng)
    train = y < 2
    assert lda_accuracy(z[train], y[train], z[~train], y[~train], 3) == 0.0


def test_lda_per_unit_finds_the_informative_unit():
    rng = np.random.default_rng(2)
    z, y = _separable(rng)
    accuracy = lda_accuracy_per_unit(z[:200], y[:200], z[200:], y[200:], 3)
    assert accuracy.shape == (2,) and accuracy[0] == 1.0 and accuracy[1] < 0.6


def test_least_squares_r2_on_an_exact_linear_target_is_one():
    rng = np.random.default_rng(3)
    z = rng.normal(size=(100, 3))
    t = z @ [1.0, -2.0, 0.0] + 4.0
    assert least_squares_r2(z[:60], t[:60], z[60:], t[60:]) == pytest.approx(1.0)
    per_unit = least_squares_r2_per_unit(z[:60], t[:60], z[60:], t[60:])
    assert per_unit.shape == (3,) and per_unit[1] > per_unit[0] > per_unit[2]


def _brute_force_ratio(z, y_rows):
    """Between-class over within-class sums of squares, per unit, by loops."""
    ratios = []
    for unit in range(z.shape[1]):
        col = z[:, unit]
        between = sum(
            (y_rows == c).sum() * (col[y_rows == c].mean() - col.mean()) ** 2
            for c in np.unique(y_rows)
        )
        within = sum(
            ((col[y_rows == c] - col[y_rows == c].mean()) ** 2).sum() for c in np.unique(y_rows)
        )
        ratios.append(between / within)
    return np.array(ratios)


def test_variance_explained_against_a_brute_force_ratio():
    rng = np.random.default_rng(4)
    draws, n = 3, 40
    y = rng.integers(0, 4, n)
    z = rng.normal(size=(n * draws, 2)) + np.repeat(y, draws)[:, None] * [1.0, 0.0]
    explained = variance_explained(z, draws, 4, "classification")
    shuffled = rng.permutation(y)
    both = explained(np.stack([y, shuffled]))
    np.testing.assert_allclose(both[0], _brute_force_ratio(z, np.repeat(y, draws)))
    np.testing.assert_allclose(both[1], _brute_force_ratio(z, np.repeat(shuffled, draws)))


def test_variance_explained_for_a_target_is_the_squared_correlation():
    rng = np.random.default_rng(5)
    draws, n = 2, 50
    t = rng.normal(size=n)
    z = rng.normal(size=(n * draws, 2)) + np.repeat(t, draws)[:, None] * [2.0, 0.3]
    expected = [np.corrcoef(z[:, u], np.repeat(t, draws))[0, 1] ** 2 for u in range(2)]
    np.testing.assert_allclose(variance_explained(z, draws, 0, "regression")(t[None])[0], expected)


@pytest.mark.parametrize("rows, units", [(40, 300), (300, 40)])
def test_pooled_solve_matches_the_ridge_covariance_solve_on_both_sides(rows, units):
    """With more units than rows the solve runs on the rows' side (Woodbury); either way it
    is (C^T C / dof + lambda I)^-1 B, computed here directly in float64."""
    from latentprobe.analyzers.probes.discriminants import _pooled_solve

    rng = np.random.default_rng(3)
    centred, rhs, dof = rng.normal(size=(rows, units)), rng.normal(size=(units, 3)), rows - 3
    ridge = 1e-6 * (centred**2).sum() / dof / units + 1e-12
    direct = np.linalg.solve(centred.T @ centred / dof + ridge * np.eye(units), rhs)
    got = _pooled_solve(centred, dof, rhs)
    assert np.abs(got - direct).max() <= 1e-6 * np.abs(direct).max()


def test_a_wide_permutation_test_says_up_front_how_long_it_takes(monkeypatch):
    from latentprobe.analyzers.probes import crossval

    monkeypatch.setattr(crossval, "LONG_SECONDS", 1e-6)
    rng = np.random.default_rng(0)
    z, y = rng.normal(size=(30, 50)), np.arange(30) % 2
    with pytest.warns(UserWarning, match="--permutations N .*or leave the probes out"):
        crossval.permutation_test(
            z, y, rng, task="classification", k=2, folds=3, draws=1, seed=0, permutations=2
        )
