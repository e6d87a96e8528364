"""Per-unit KL against closed forms, Monte Carlo for mixture priors, and the histogram."""

from __future__ import annotations

import warnings

import numpy as np
import pytest
from linear_gaussian import example
from scipy.stats import norm

from latentprobe.analyzers import kl_divergence
from latentprobe.analyzers.kl_divergence import histogram_edges
from latentprobe.types import Prior


def test_closed_form_per_example():
    mu = np.array([[0.0, 1.0], [2.0, -1.0]])
    logvar = np.array([[0.0, np.log(0.5)], [np.log(2.0), 0.0]])
    result = kl_divergence(mu, logvar)
    var = np.exp(logvar)
    expected = 0.5 * (var + mu**2 - 1 - logvar)
    np.testing.assert_allclose(result.per_example, expected, rtol=1e-14)
    assert result.per_example[0, 0] == 0.0  # exactly the prior
    assert result.exact and result.total_rate == pytest.approx(expected.sum(1).mean())


def test_linear_gaussian_rates():
    model = example()
    mu, logvar = model.sample(10_000, seed=0)
    result = kl_divergence(mu, logvar)
    np.testing.assert_allclose(result.per_unit_rate, model.per_unit_rate(), atol=0.03)


def test_diagonal_gaussian_prior_against_scipy_integration():
    prior = Prior.diagonal([0.5], [np.log(2.0)])
    result = kl_divergence(np.array([[1.5]]), np.array([[np.log(0.3)]]), prior=prior)
    grid = np.linspace(-10, 10, 200_001)
    q, p = norm.pdf(grid, 1.5, np.sqrt(0.3)), norm.pdf(grid, 0.5, np.sqrt(2.0))
    numeric = np.trapezoid(q * (np.log(q + 1e-300) - np.log(p)), grid)
    assert result.per_example[0, 0] == pytest.approx(numeric, rel=1e-6)


def test_mixture_prior_units_by_quadrature_total_with_an_error_bar():
    """Each unit's KL to its 1-D marginal prior by quadrature, against numerical integration
    on a fine grid (to 1e-6 nats); the total against the 2-D mixture by Monte Carlo, with
    its error bar."""
    rng = np.random.default_rng(0)
    mu, logvar = rng.normal(size=(300, 2)), np.full((300, 2), -1.0)
    prior = Prior.mixture([0.3, 0.7], [[-1.0, 0.0], [1.0, 0.5]], [[0.0, -0.5], [0.2, 0.0]])
    result = kl_divergence(mu, logvar, prior=prior, draws_per_example=64, seed=1)
    assert not result.exact and result.total_rate_stderr > 0
    assert np.all(result.per_unit_rate_stderr == 0)
    grid = np.linspace(-12, 12, 200_001)
    p = 0.3 * norm.pdf(grid, -1.0, 1.0) + 0.7 * norm.pdf(grid, 1.0, np.exp(0.1))
    truth = []
    for n in range(300):
        q = norm.pdf(grid, mu[n, 0], np.exp(-0.5))
        truth.append(np.trapezoid(q * (np.log(q + 1e-300) - np.log(p)), grid))
    np.testing.assert_allclose(result.per_example[:, 0], truth, atol=1e-6)
    assert result.per_unit_rate[0] == pytest.approx(np.mean(truth), abs=1e-6)


def test_the_per_unit_kl_to_a_mixture_prior_does_not_depend_on_the_seed():
    """With Monte Carlo (16 draws) a unit near the 0.01 threshold flipped between collapsed
    and inactive from one seed to the next; quadrature gives the same values."""
    rng = np.random.default_rng(3)
    mu, logvar = 0.05 * rng.normal(size=(100, 2)), np.full((100, 2), -0.02)
    prior = Prior.mixture([0.5, 0.5], [[-0.1, 0.0], [0.1, 0.0]], np.zeros((2, 2)))
    a = kl_divergence(mu, logvar, prior=prior, seed=0).per_example
    b = kl_divergence(mu, logvar, prior=prior, seed=1).per_example
    np.testing.assert_array_equal(a, b)


def test_a_one_component_mixture_equals_the_closed_form():
    rng = np.random.default_rng(1)
    mu, logvar = rng.normal(size=(200, 3)), rng.normal(size=(200, 3)) * 0.3
    exact = kl_divergence(mu, logvar)
    assert exact.exact
    # a two-component mixture of identical standard normals is the standard normal
    twin = Prior.mixture([0.5, 0.5], np.zeros((2, 3)), np.zeros((2, 3)))
    mc = kl_divergence(mu, logvar, prior=twin, draws_per_example=32)
    assert abs(mc.total_rate - exact.total_rate) < 4 * mc.total_rate_stderr + 1e-12


def test_histogram_reads_collapsed_and_active_units():
    rng = np.random.default_rng(2)
    mu = np.column_stack([np.zeros(500), rng.normal(size=500) * 2])
    logvar = np.column_stack([np.full(500, 1e-5), np.full(500, -2.0)])
    result = kl_divergence(mu, logvar)
    edges, counts = result.histogram_edges, result.histogram_counts
    assert edges[0] == 0 and edges[1] == 1e-6 and edges[-1] >= result.per_example.max()
    assert counts.sum(axis=1).tolist() == [500, 500]
    collapsed_bins = np.flatnonzero(counts[0])
    assert edges[collapsed_bins.max() + 1] <= 1e-5  # piled up near 0
    assert edges[np.flatnonzero(counts[1]).min()] >= 1e-2  # spread over the decades above


def test_edges_cover_large_values():
    edges = histogram_edges(1234.5)
    assert edges[-1] == pytest.approx(1e4) and np.all(np.diff(edges) > 0)


def test_posteriors_all_wider_than_the_prior_while_the_means_move_are_flagged():
    """A softplus std read as a log-variance: every 'log-variance' positive; a warning names
    --param, and the smallest value is kept. Not flagged with one negative log-variance, nor
    when the means do not move (nothing to misread), nor at exactly 0 (unit variances)."""
    rng = np.random.default_rng(0)
    mu, std = rng.normal(size=(300, 3)), 0.1 + rng.random((300, 3))
    with pytest.warns(UserWarning, match="check --param"):
        result = kl_divergence(mu, std)
    assert result.smallest_logvar == pytest.approx(std.min())
    shifted = std.copy()
    shifted[7, 2] = -0.5
    quiet = [(mu, shifted), (np.zeros_like(mu), std), (mu, np.zeros_like(mu))]
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        for m, lv in quiet:
            kl_divergence(m, lv)


def test_posteriors_narrower_than_a_wide_prior_are_not_flagged():
    """The check compares with the prior's widest component, not with N(0, 1)."""
    rng = np.random.default_rng(1)
    mu, logvar = rng.normal(size=(300, 2)), np.full((300, 2), 0.5)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        result = kl_divergence(mu, logvar, prior=Prior.diagonal(0.0, 1.0))
    assert not result.wider_than_prior and result.smallest_logvar == 0.5
    with pytest.warns(UserWarning, match="check --param"):
        assert kl_divergence(mu, logvar).wider_than_prior
