"""The numerical kernels against float64 brute force and closed forms."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from scipy.special import logsumexp
from scipy.stats import norm

from latentprobe.gaussian import (
    as_posteriors,
    kl_diagonal_gaussians,
    log_mixture_density,
    log_mixture_density_per_unit,
    log_normal_diag,
    sample_posteriors,
)


def adversarial(n, m, d, seed=0):
    rng = np.random.default_rng(seed)
    mu = rng.uniform(-10, 10, (n, d))
    logvar = rng.uniform(-12, 4, (n, d))
    mu[:, 0] = -7.5  # a unit whose means do not vary at all
    z = rng.uniform(-12, 12, (m, d))
    z[: m // 2] = mu[: m // 2] + np.exp(0.5 * logvar[: m // 2]) * rng.normal(size=(m // 2, d))
    return mu, logvar, z


def brute_log_mixture(z, mu, logvar, log_w=None):
    log_w = np.full(len(mu), -math.log(len(mu))) if log_w is None else log_w
    per_unit = norm.logpdf(z[:, None, :], mu[None], np.exp(0.5 * logvar)[None])
    return logsumexp(per_unit.sum(-1) + log_w, axis=1)


@pytest.mark.parametrize("n, m, d", [(1, 3, 2), (9, 12, 5), (30, 17, 256)])
def test_log_mixture_density_matches_brute_force(n, m, d):
    mu, logvar, z = adversarial(n, m, d, seed=n)
    t = lambda a: torch.from_numpy(a)  # noqa: E731
    expected = brute_log_mixture(z, mu, logvar)
    got = log_mixture_density(t(z), t(mu), t(logvar), block_bytes=8 * n * 3).numpy()
    np.testing.assert_allclose(got, expected, rtol=1e-10, atol=1e-6)


def test_per_unit_density_matches_brute_force():
    mu, logvar, z = adversarial(20, 15, 6, seed=3)
    t = lambda a: torch.from_numpy(a)  # noqa: E731
    got = log_mixture_density_per_unit(t(z), t(mu), t(logvar), block_bytes=8 * 20 * 4).numpy()
    for unit in range(6):
        expected = brute_log_mixture(z[:, [unit]], mu[:, [unit]], logvar[:, [unit]])
        np.testing.assert_allclose(got[:, unit], expected, rtol=1e-12, atol=1e-9)


@pytest.mark.parametrize("tile_bytes", [8, 8 * 7, 8 * 64, 2**20])
def test_every_tiling_merges_to_the_brute_force(tile_bytes):
    """Tiles of 1 x 1 up to the whole (M x N) array: the running maximum and sum that merge
    the tiles along N give the brute-force log-sum-exp (adversarial logvar -12..4,
    |mu| <= 10, a unit whose means never vary)."""
    mu, logvar, z = adversarial(40, 23, 4, seed=11)
    t = lambda a: torch.from_numpy(a)  # noqa: E731
    joint = log_mixture_density(t(z), t(mu), t(logvar), block_bytes=tile_bytes).numpy()
    np.testing.assert_allclose(joint, brute_log_mixture(z, mu, logvar), rtol=1e-10, atol=1e-6)
    units = log_mixture_density_per_unit(t(z), t(mu), t(logvar), block_bytes=tile_bytes)
    for unit in range(4):
        expected = brute_log_mixture(z[:, [unit]], mu[:, [unit]], logvar[:, [unit]])
        np.testing.assert_allclose(units[:, unit].numpy(), expected, rtol=1e-12, atol=1e-9)


def test_weighted_mixture():
    rng = np.random.default_rng(1)
    mu, logvar, z = rng.normal(size=(4, 3)), rng.normal(size=(4, 3)), rng.normal(size=(7, 3))
    w = np.array([0.1, 0.2, 0.3, 0.4])
    t = lambda a: torch.from_numpy(a)  # noqa: E731
    got = log_mixture_density(t(z), t(mu), t(logvar), t(np.log(w))).numpy()
    np.testing.assert_allclose(got, brute_log_mixture(z, mu, logvar, np.log(w)), rtol=1e-12)


def test_closed_form_kl_against_numerical_integration():
    grid = np.linspace(-30, 30, 400_001)
    for mu, logvar, m, lv in [(0.3, -2.0, 0.0, 0.0), (4.0, 1.0, -1.0, 0.5), (0.0, 0.0, 0.0, 0.0)]:
        q = norm.pdf(grid, mu, math.exp(logvar / 2))
        p = norm.pdf(grid, m, math.exp(lv / 2))
        numeric = np.trapezoid(q * (np.log(q + 1e-300) - np.log(p + 1e-300)), grid)
        args = (torch.tensor(v, dtype=torch.float64) for v in (mu, logvar, m, lv))
        assert float(kl_diagonal_gaussians(*args)) == pytest.approx(numeric, abs=1e-7)


def test_log_normal_diag_is_scipy():
    z, mu, logvar = (
        torch.tensor([0.5, -2.0], dtype=torch.float64),
        torch.tensor([0.0, 1.0], dtype=torch.float64),
        torch.tensor([-3.0, 2.0], dtype=torch.float64),
    )
    expected = norm.logpdf(z.numpy(), mu.numpy(), np.exp(0.5 * logvar.numpy()))
    np.testing.assert_allclose(log_normal_diag(z, mu, logvar).numpy(), expected, rtol=1e-14)


def test_samples_have_the_posterior_moments():
    mu = torch.tensor([[1.0, -2.0]], dtype=torch.float64)
    logvar = torch.tensor([[0.0, math.log(0.25)]], dtype=torch.float64)
    z, index = sample_posteriors(mu, logvar, 40_000, np.random.default_rng(0))
    assert index.tolist() == [0] * 40_000
    np.testing.assert_allclose(z.mean(0).numpy(), [1.0, -2.0], atol=0.02)
    np.testing.assert_allclose(z.var(0).numpy(), [1.0, 0.25], rtol=0.03)


@pytest.mark.parametrize(
    "mu, logvar, message",
    [
        (np.zeros((4, 2)), np.zeros((4, 3)), r"same shape \(N, D\)"),
        (np.zeros(4), np.zeros(4), r"same shape \(N, D\)"),
        (np.zeros((0, 2)), np.zeros((0, 2)), r"N, D >= 1"),
        (np.zeros((3, 2), complex), np.zeros((3, 2)), "real numbers"),
        (np.array([[0.0, 1.0], [np.inf, 0.0]]), np.zeros((2, 2)), "mu is not finite at example 1"),
        (np.zeros((2, 2)), np.array([[0.0, np.nan], [0.0, 0.0]]), "logvar is not finite at"),
        (
            np.array([[0.0, 1e200], [0.0, 0.0]]),
            np.zeros((2, 2)),
            "mu = 1e.200 at example 0, unit 1 is",
        ),
        (np.zeros((2, 2)), np.full((2, 2), 800.0), "logvar = 800 at example 0, unit 0 is beyond"),
    ],
)
def test_every_analyzer_checks_its_posteriors(mu, logvar, message):
    from latentprobe.analyzers import active_units, kl_divergence, mutual_information
    from latentprobe.errors import PosteriorError

    with pytest.raises(PosteriorError, match=message):
        as_posteriors(mu, logvar)
    for analyzer in (kl_divergence, mutual_information):
        with pytest.raises(PosteriorError):
            analyzer(mu, logvar)
    if "logvar" not in message and "same shape" not in message:
        with pytest.raises(PosteriorError):
            active_units(mu)


def narrow_and_far(n, m, d, logvar_range, mu_scale, seed):
    """Posteriors both narrow and far apart, with points drawn from them: the GEMM expansion
    loses everything to cancellation here (I(x;z) came out as -231 nats against 6.21)."""
    rng = np.random.default_rng(seed)
    mu = rng.uniform(-mu_scale, mu_scale, (n, d))
    logvar = rng.uniform(*logvar_range, (n, d))
    pick = rng.integers(0, n, m)
    z = mu[pick] + np.exp(0.5 * logvar[pick]) * rng.normal(size=(m, d))
    return mu, logvar, z


def brute_direct(z, mu, logvar):
    """float64 direct differences, (M, N, D) at once, and a log-sum-exp over N."""
    a = -0.5 * (
        np.log(2 * np.pi) + logvar[None] + (z[:, None] - mu[None]) ** 2 / np.exp(logvar)[None]
    )
    return logsumexp(a.sum(-1) - math.log(len(mu)), axis=1)


@pytest.mark.parametrize(
    "logvar_range, mu_scale, d",
    [((-30, -30), 1e4, 2), ((-40, 10), 1e4, 3), ((-40, -20), 1e3, 8), ((-12, 4), 10, 16)],
)
def test_narrow_far_posteriors_stay_within_the_stated_tolerance(logvar_range, mu_scale, d):
    from latentprobe.gaussian import EXPANSION_TOLERANCE

    mu, logvar, z = narrow_and_far(60, 50, d, logvar_range, mu_scale, seed=d)
    t = lambda a: torch.from_numpy(a)  # noqa: E731
    got = log_mixture_density(t(z), t(mu), t(logvar), block_bytes=8 * 20 * 16).numpy()
    expected = brute_direct(z, mu, logvar)
    assert np.abs(got - expected).max() <= EXPANSION_TOLERANCE + 1e-12 * np.abs(expected).max()


def test_the_guard_is_what_keeps_the_expansion_exact(monkeypatch):
    """Without the direct differences (tolerance infinite) the same inputs are wrong by
    thousands of nats: the test above can fail."""
    import latentprobe.gaussian as gaussian

    mu, logvar, z = narrow_and_far(60, 50, 2, (-30, -30), 1e4, seed=2)
    monkeypatch.setattr(gaussian, "EXPANSION_TOLERANCE", math.inf)
    t = lambda a: torch.from_numpy(a)  # noqa: E731
    got = gaussian.log_mixture_density(t(z), t(mu), t(logvar)).numpy()
    assert np.abs(got - brute_direct(z, mu, logvar)).max() > 1.0


def test_the_leave_one_out_mixture_leaves_out_one_component_per_row_in_every_tile():
    """Brute force in float64, with tiles far smaller than N so that the left-out
    component falls in every position of a tile; one component alone gives -inf."""
    rng = np.random.default_rng(11)
    mu = torch.tensor(rng.normal(size=(300, 4)) * 3)
    logvar = torch.tensor(rng.normal(size=(300, 4)) * 0.5)
    own = torch.tensor(rng.integers(0, 300, size=90))
    z = mu[own] + torch.exp(0.5 * logvar[own]) * torch.tensor(rng.normal(size=(90, 4)))
    log_k = -0.5 * (
        math.log(2 * math.pi) + logvar[None] + (z[:, None] - mu[None]) ** 2 / logvar.exp()
    )
    log_k = log_k.sum(2).numpy() - np.log(300)
    log_k[np.arange(90), own.numpy()] = -np.inf
    got = log_mixture_density(z, mu, logvar, exclude=own, block_bytes=8 * 16 * 7)
    np.testing.assert_allclose(got.numpy(), logsumexp(log_k, axis=1), rtol=0, atol=1e-10)
    alone = log_mixture_density(z[:2], mu[:1], logvar[:1], exclude=torch.tensor([0, 0]))
    assert torch.isneginf(alone).all()


def test_a_row_left_empty_by_its_first_tile_keeps_its_later_small_densities():
    """One column per tile, the left-out component first and the others' log densities near
    -1,000: a running maximum floored at 0 after the empty first tile lost them (-inf)."""
    z = torch.zeros(3, 1, dtype=torch.float64)
    mu = torch.tensor([[0.0], [45.0], [45.5], [-46.0], [44.0]], dtype=torch.float64)
    logvar = torch.zeros_like(mu)
    own = torch.zeros(3, dtype=torch.long)
    got = log_mixture_density(z, mu, logvar, exclude=own, block_bytes=8 * 3)
    log_k = -0.5 * (math.log(2 * math.pi) + mu[1:, 0].numpy() ** 2) - math.log(5)
    np.testing.assert_allclose(got.numpy(), np.full(3, logsumexp(log_k)), rtol=1e-12)
    assert (got < -900).all()
