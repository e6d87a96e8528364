"""Standard errors and 95% intervals against brute-force formulas and hand-computed values."""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy import stats

from latentprobe.analyzers.intervals import Z95, normal_interval, paired_stderr, wilson_interval


def brute_full(draws: np.ndarray) -> float:
    """Var(mean of all draws) with only z random: (1/R^2) sum_n Var_s(d_ns) / S."""
    rows, samples = draws.shape
    total = 0.0
    for r in range(rows):
        m = sum(draws[r]) / samples
        total += sum((d - m) ** 2 for d in draws[r]) / (samples - 1) / samples
    return math.sqrt(total) / rows


def brute_rows(draws: np.ndarray) -> float:
    """The spread of the row means over sqrt(R)."""
    means = [sum(row) / len(row) for row in draws]
    m = sum(means) / len(means)
    var = sum((x - m) ** 2 for x in means) / (len(means) - 1)
    return math.sqrt(var / len(means))


def test_z95_is_the_normal_quantile():
    assert Z95 == pytest.approx(stats.norm.ppf(0.975), abs=1e-15)


def test_paired_stderr_full_data_several_draws():
    draws = np.array([[1.0, 2.0, 4.0], [0.0, 0.0, 3.0], [5.0, 5.0, 5.0], [-1.0, 1.0, 0.0]])
    assert paired_stderr(draws, full=True) == pytest.approx(brute_full(draws), rel=1e-14)
    # by hand: Var_s = 7/3, 3, 0, 1 -> sqrt((7/3 + 3 + 0 + 1) / 3) / 4
    assert paired_stderr(draws, full=True) == pytest.approx(math.sqrt(19 / 9) / 4, rel=1e-14)


def test_paired_stderr_full_data_ignores_differences_between_examples():
    """Rows that differ only by a constant have the same error as rows that do not."""
    rng = np.random.default_rng(0)
    draws = rng.normal(size=(7, 5))
    shifted = draws + np.arange(7)[:, None] * 100.0
    assert paired_stderr(shifted, full=True) == pytest.approx(paired_stderr(draws, full=True))
    # a constant row per example: only z is random, and it does not move d
    assert paired_stderr(np.arange(6.0)[:, None].repeat(4, axis=1), full=True) == 0.0


def test_paired_stderr_single_draw_uses_the_rows():
    rng = np.random.default_rng(1)
    draws = rng.normal(size=(9, 1))
    expected = draws[:, 0].std(ddof=1) / 3.0
    assert paired_stderr(draws, full=True) == pytest.approx(expected, rel=1e-12)
    assert paired_stderr(draws, full=True) == pytest.approx(brute_rows(draws), rel=1e-12)


def test_paired_stderr_subsampled_rows_use_the_row_means():
    rng = np.random.default_rng(2)
    draws = rng.normal(size=(6, 4))
    assert paired_stderr(draws, full=False) == pytest.approx(brute_rows(draws), rel=1e-12)
    # hand: row means 1, 2, 3 -> std 1 -> 1/sqrt(3)
    rows = np.array([[0.0, 2.0], [2.0, 2.0], [1.0, 5.0]])
    assert paired_stderr(rows, full=False) == pytest.approx(1 / math.sqrt(3), rel=1e-14)


def test_paired_stderr_with_fewer_than_two_rows():
    assert paired_stderr(np.zeros((1, 1)), full=True) == 0.0
    assert paired_stderr(np.zeros((1, 3)), full=False) == 0.0
    assert math.isnan(paired_stderr(np.array([[0.5]]), full=True))
    assert math.isnan(paired_stderr(np.array([[0.5, 0.1]]), full=False))
    # one row with several draws over the full data: the spread within the row
    one = np.array([[1.0, 3.0]])
    assert paired_stderr(one, full=True) == pytest.approx(math.sqrt(2.0 / 2))


def test_paired_stderr_returns_a_python_float():
    assert type(paired_stderr(np.ones((3, 2)), full=True)) is float
    assert type(paired_stderr(np.ones((3, 1)), full=True)) is float


def test_normal_interval():
    low, high = normal_interval(1.0, 0.5)
    assert low == pytest.approx(1.0 - 0.5 * 1.959963984540054)
    assert high == pytest.approx(1.0 + 0.5 * 1.959963984540054)
    assert normal_interval(2.0, 0.0) == (2.0, 2.0)
    assert (high - low) / 2 == pytest.approx(Z95 * 0.5)


def wilson_roots(successes: int, n: int) -> tuple[float, float]:
    """The Wilson bounds as the roots in p of (phat - p)^2 = z^2 p (1 - p) / n."""
    phat, z2 = successes / n, Z95**2
    a, b, c = 1 + z2 / n, -(2 * phat + z2 / n), phat**2
    root = math.sqrt(b * b - 4 * a * c)
    return (-b - root) / (2 * a), (-b + root) / (2 * a)


def test_wilson_interval_by_hand():
    """5 of 10: centre 0.5, half-width 1.96 sqrt(0.025 + z^2/400) / (1 + z^2/10)."""
    lo, hi = wilson_interval(5, 10)
    assert lo == pytest.approx(0.236593, abs=1e-6)
    assert hi == pytest.approx(0.763407, abs=1e-6)
    assert (lo + hi) / 2 == pytest.approx(0.5)


@pytest.mark.parametrize("successes, n", [(1, 10), (3, 7), (81, 263), (1, 1), (999, 1000)])
def test_wilson_interval_solves_the_score_equation(successes, n):
    assert wilson_interval(successes, n) == pytest.approx(wilson_roots(successes, n), abs=1e-12)


@pytest.mark.parametrize("successes, n", [(2, 9), (81, 263), (40, 41), (12, 12), (0, 5)])
def test_wilson_interval_matches_scipy(successes, n):
    ci = stats.binomtest(successes, n).proportion_ci(confidence_level=0.95, method="wilson")
    assert wilson_interval(successes, n) == pytest.approx((ci.low, ci.high), abs=1e-12)


def test_wilson_interval_closed_forms_at_the_extremes():
    z2 = Z95**2
    for n in (1, 7, 10, 100):
        assert wilson_interval(0, n) == pytest.approx((0.0, z2 / (n + z2)), abs=1e-12)
        assert wilson_interval(n, n) == pytest.approx((n / (n + z2), 1.0), abs=1e-12)
    assert wilson_interval(0, 10)[1] == pytest.approx(0.277533, abs=1e-6)


def test_wilson_interval_ends_are_exact_at_the_extremes():
    for n in range(1, 60):
        assert wilson_interval(0, n)[0] == 0.0, n
        assert wilson_interval(n, n)[1] == 1.0, n


def test_wilson_interval_is_symmetric_and_contains_the_estimate():
    for n in (3, 20, 57):
        for k in range(n + 1):
            lo, hi = wilson_interval(k, n)
            assert 0.0 <= lo <= k / n + 1e-12 and k / n - 1e-12 <= hi <= 1.0
            assert hi - lo > 0
            mirror = wilson_interval(n - k, n)
            assert lo == pytest.approx(1 - mirror[1]) and hi == pytest.approx(1 - mirror[0])


def test_wilson_interval_without_trials_is_nan():
    assert all(math.isnan(v) for v in wilson_interval(0, 0))
