"""I(x;z) and its decomposition against closed forms and a float64 brute force."""

from __future__ import annotations

import importlib
import math

import numpy as np
import pytest
import torch
from linear_gaussian import example
from scipy.special import logsumexp

from latentprobe.analyzers import mutual_information
from latentprobe.analyzers.intervals import Z95, normal_interval
from latentprobe.errors import OptionsError, PosteriorError
from latentprobe.types import Prior
from latentprobe.verdict import Verdict

N = 10_000


@pytest.fixture(scope="module")
def linear_gaussian():
    model = example()
    mu, logvar = model.sample(N, seed=0)
    return model, mu, logvar, mutual_information(mu, logvar, draws_per_example=2, seed=0)


def test_mutual_information_matches_the_closed_form(linear_gaussian):
    model, _, _, result = linear_gaussian
    truth = model.mutual_information()
    assert 1.0 < truth < math.log(N) - 5  # well below the ceiling, where the estimate is valid
    assert result.nats == pytest.approx(truth, abs=0.05)
    assert result.ci95_low < result.nats < result.ci95_high
    assert result.log_n == pytest.approx(math.log(N)) and not result.near_ceiling


def test_per_unit_terms_match_the_closed_form(linear_gaussian):
    model, _, _, result = linear_gaussian
    np.testing.assert_allclose(result.per_unit_mi, model.per_unit_mi(), atol=0.03)
    np.testing.assert_allclose(result.per_unit_marginal_kl, model.per_unit_marginal_kl(), atol=0.03)
    assert result.total_correlation == pytest.approx(model.total_correlation(), abs=0.05)
    assert result.per_unit_mi[4] == pytest.approx(0.0, abs=1e-3)  # collapsed unit
    assert result.per_unit_mi[5] == pytest.approx(0.0, abs=1e-3)  # inactive unit


def test_rate_decomposition(linear_gaussian):
    model, _, _, result = linear_gaussian
    assert result.marginal_kl == pytest.approx(model.marginal_kl(), abs=0.05)
    assert result.rate == pytest.approx(model.per_unit_rate().sum(), abs=0.05)
    assert result.rate == pytest.approx(result.nats + result.marginal_kl, abs=1e-12)
    assert result.rate_stderr == 0.0  # closed form for a Gaussian prior


def brute_force(mu, logvar, z, index):
    """float64, one term at a time: log q(z|x_n) - log (1/N) sum_k q(z|x_k)."""
    var = np.exp(logvar)
    log_comp = -0.5 * (
        np.log(2 * np.pi) + logvar[None] + (z[:, None] - mu[None]) ** 2 / var[None]
    ).sum(-1)
    log_q = logsumexp(log_comp, axis=1) - np.log(len(mu))
    log_cond = log_comp[np.arange(len(z)), index]
    return log_cond - log_q


def _draws(mu, logvar, n_samples, seed):
    rng = np.random.default_rng(seed)
    index = np.repeat(np.arange(len(mu)), n_samples)
    z = mu[index] + np.exp(0.5 * logvar[index]) * rng.standard_normal((len(index), mu.shape[1]))
    return z, index


@pytest.mark.parametrize("n, d", [(7, 3), (40, 256), (25, 16)])
def test_adversarial_inputs_match_a_brute_force_reference(n, d):
    rng = np.random.default_rng(n * d)
    mu = rng.uniform(-10, 10, size=(n, d))
    logvar = rng.uniform(-12, 4, size=(n, d))
    mu[:, 0] = 2.5  # a unit with zero variance of means
    result = mutual_information(mu, logvar, draws_per_example=3, seed=5, block_bytes=8 * n * 2)
    z, index = _draws(mu, logvar, 3, seed=5)
    expected = brute_force(mu, logvar, z, index).mean()
    assert result.nats == pytest.approx(expected, rel=1e-8, abs=1e-8)
    assert 0 <= result.nats <= math.log(n) + 1e-9


def test_small_n_gives_valid_numbers():
    one = mutual_information(np.array([[0.3, -1.0]]), np.array([[-2.0, 0.5]]))
    assert one.nats == 0.0 and one.stderr == 0.0 and one.log_n == 0.0
    two = mutual_information(
        np.array([[0.0], [5.0]]), np.array([[-4.0], [-4.0]]), draws_per_example=4
    )
    assert two.nats == pytest.approx(math.log(2), abs=1e-6)  # two well separated components
    assert math.isfinite(two.stderr)


def test_the_paired_estimator_is_quiet_near_collapse():
    """Near collapse the paired draws cancel; the unpaired estimator (closed-form entropy minus
    a Monte Carlo cross term, as in He et al.'s code) keeps the noise of log q(z)."""
    rng = np.random.default_rng(0)
    n, d = 2000, 8
    mu = rng.normal(size=(n, d)) * 1e-3
    logvar = np.zeros((n, d))
    result = mutual_information(mu, logvar, draws_per_example=2, seed=0)
    z, index = _draws(mu, logvar, 2, seed=0)
    neg_entropy = -0.5 * (np.log(2 * np.pi) + 1 + logvar).sum(1)  # E log q(z|x), exact
    log_comp = -0.5 * (np.log(2 * np.pi) + (z[:, None] - mu[None]) ** 2).sum(-1)
    log_q = logsumexp(log_comp, axis=1) - np.log(n)
    unpaired = (neg_entropy[index] - log_q).reshape(n, 2)
    unpaired_stderr = np.sqrt(unpaired.var(axis=1, ddof=1).sum() / 2) / n
    assert abs(result.nats) < 1e-4 and result.ci95_high < 0.01
    assert result.stderr < unpaired_stderr / 100


def test_seed_reproduces_and_changes_the_numbers():
    model = example()
    mu, logvar = model.sample(500, seed=1)
    a = mutual_information(mu, logvar, seed=3)
    b = mutual_information(mu, logvar, seed=3)
    c = mutual_information(mu, logvar, seed=4)
    assert a.nats == b.nats and np.array_equal(a.per_unit_mi, b.per_unit_mi)
    assert a.nats != c.nats


def test_permuting_examples_changes_nothing_but_the_draws():
    model = example()
    mu, logvar = model.sample(600, seed=2)
    perm = np.random.default_rng(0).permutation(600)
    a = mutual_information(mu, logvar, draws_per_example=8, seed=0)
    b = mutual_information(mu[perm], logvar[perm], draws_per_example=8, seed=0)
    assert a.nats == pytest.approx(b.nats, abs=4 * math.hypot(a.stderr, b.stderr))


@pytest.mark.parametrize(
    "max_points, draws, expected", [(5, 2, 4), (4, 2, 4), (9, 3, 9), (7, 1, 7)]
)
def test_max_points_is_a_ceiling_on_evaluation_points(max_points, draws, expected):
    mu, logvar = example().sample(100, seed=7)
    result = mutual_information(mu, logvar, draws_per_example=draws, max_points=max_points)
    assert result.n_points == expected <= max_points
    assert result.draws_per_example == draws


def test_max_points_below_two_examples_is_refused():
    mu, logvar = example().sample(100, seed=7)
    with pytest.raises(OptionsError, match="--max-points 3"):
        mutual_information(mu, logvar, draws_per_example=2, max_points=3)


def test_max_points_subsamples_points_not_components(linear_gaussian):
    model, mu, logvar, full = linear_gaussian
    sub = mutual_information(mu, logvar, draws_per_example=1, max_points=2000, seed=1)
    assert sub.n_points == 2000 and sub.n_examples == N
    assert sub.stderr > full.stderr
    assert abs(sub.nats - model.mutual_information()) < 4 * sub.stderr + 0.05


def test_torch_inputs_give_the_same_numbers():
    model = example()
    mu, logvar = model.sample(300, seed=3)
    a = mutual_information(mu, logvar, seed=0)
    b = mutual_information(torch.from_numpy(mu), torch.from_numpy(logvar), seed=0)
    assert a.nats == b.nats


def test_mixture_prior_decomposition():
    model = example()
    mu, logvar = model.sample(800, seed=4)
    prior = Prior.mixture([0.5, 0.5], np.full((2, 6), [[-1.0], [1.0]]), np.zeros((2, 6)))
    result = mutual_information(mu, logvar, prior=prior, draws_per_example=4)
    gaussian = mutual_information(mu, logvar, draws_per_example=4)
    assert result.nats == gaussian.nats  # I(x;z) does not depend on the prior
    assert result.rate_stderr > 0
    assert result.rate == pytest.approx(result.nats + result.marginal_kl, abs=1e-12)
    assert result.marginal_kl > 0


def test_bad_shapes():
    with pytest.raises(PosteriorError, match="same shape"):
        mutual_information(np.zeros((4, 2)), np.zeros((4, 3)))
    with pytest.raises(PosteriorError, match="same shape"):
        mutual_information(np.zeros((0, 2)), np.zeros((0, 2)))


def test_warns_near_the_log_n_ceiling():
    mu = np.arange(50.0)[:, None] * 100  # every example far from every other: I = log N
    with pytest.warns(UserWarning, match="ceiling"):
        result = mutual_information(mu, np.zeros((50, 1)), per_unit=False)
    assert result.near_ceiling and result.nats == pytest.approx(math.log(50), abs=1e-6)


# ----------------------------------------------------------------------------- point budget


def test_small_problems_use_every_point_for_every_term():
    from latentprobe.analyzers.mutual_information import point_budget

    assert point_budget(1797, 4, 2) == (3594, 3594)
    assert point_budget(20_000, 32, 2)[0] == 40_000


@pytest.mark.parametrize("n, d", [(60_000, 32), (200_000, 32), (1_000_000, 32), (10_000, 4096)])
def test_large_problems_get_whole_examples_within_the_budgets(n, d):
    mi = importlib.import_module("latentprobe.analyzers.mutual_information")

    joint, unit = mi.point_budget(n, d, 2)
    assert joint % 2 == 0 and unit % 2 == 0 and 200 <= unit <= joint < 2 * n
    joint_ns = joint * n * mi.joint_pair_ns(d)
    assert joint_ns <= mi.JOINT_BUDGET_NS or joint == 2 * mi.MIN_EXAMPLES
    unit_ns = unit * n * d * mi.UNIT_TRIPLE_NS
    assert unit_ns <= max(joint_ns, mi.UNIT_FLOOR_NS) or unit == 2 * mi.MIN_EXAMPLES
    assert mi.point_budget(2 * n, d, 2)[0] <= joint  # more components, fewer points


def test_the_default_points_follow_the_budget_and_the_summary_says_so(monkeypatch):
    mi = importlib.import_module("latentprobe.analyzers.mutual_information")

    monkeypatch.setattr(mi, "JOINT_BUDGET_NS", 1e7)
    monkeypatch.setattr(mi, "UNIT_FLOOR_NS", 1e6)
    rng = np.random.default_rng(0)
    mu, logvar = rng.normal(size=(3000, 4)), np.full((3000, 4), -2.0)
    joint, unit = mi.point_budget(3000, 4, 2)
    assert (joint, unit) == (
        1666,
        490,
    )  # 1e7 ns / (3000 x 2 ns); 1666 x 3000 x 2 / (3000 x 4 x 1.7)
    result = mi.mutual_information(mu, logvar)
    assert (result.n_points, result.n_points_per_unit) == (joint, unit)
    assert "1,666 of 6,000 points" in mi.summary_lines(result)[0]
    assert "per-unit terms and TC at 490" in mi.summary_lines(result)[0]


def test_a_joint_term_of_minutes_is_announced_up_front(monkeypatch):
    mi = importlib.import_module("latentprobe.analyzers.mutual_information")
    monkeypatch.setattr(mi, "LONG_SECONDS", 1e-9)
    rng = np.random.default_rng(0)
    with pytest.warns(UserWarning, match="lower --max-points"):
        mi.mutual_information(rng.normal(size=(20, 2)), np.zeros((20, 2)), max_points=40)


# ----------------------------------------------------------------------------- numerics


def test_narrow_far_posteriors_give_the_brute_force_information():
    """mu spread over +-1e4 with logvar = -30: every component is separated from the others,
    so I(x;z) = log N. The GEMM expansion alone gave -231 nats here."""
    rng = np.random.default_rng(0)
    n = 500
    mu, logvar = rng.uniform(-1e4, 1e4, (n, 2)), np.full((n, 2), -30.0)
    result = mutual_information(mu, logvar, per_unit=False)
    assert result.nats == pytest.approx(math.log(n), abs=1e-6)
    assert 0 <= result.ci95_low <= result.nats <= result.ci95_high <= math.log(n)


def test_an_estimate_far_outside_its_bounds_is_not_a_number(monkeypatch):
    mi = importlib.import_module("latentprobe.analyzers.mutual_information")
    rng = np.random.default_rng(0)
    mu, logvar = rng.normal(size=(50, 2)), np.full((50, 2), -1.0)

    def broken(points, *args):
        wrong = torch.full((len(points.z),), 1e3, dtype=torch.float64)
        return wrong, wrong

    monkeypatch.setattr(mi, "_log_aggregate", broken)
    with pytest.warns(UserWarning, match="numerical failure"):
        result = mi.mutual_information(mu, logvar, per_unit=False)
    assert math.isnan(result.nats) and math.isnan(result.ci95_low)


def test_a_unit_whose_components_are_identical_carries_exactly_no_information():
    rng = np.random.default_rng(1)
    mu, logvar = rng.normal(size=(200, 3)), np.full((200, 3), -1.0)
    mu[:, 1], logvar[:, 1] = 0.25, 0.3
    result = mutual_information(mu, logvar)
    assert result.per_unit_mi[1] == 0.0 and result.per_unit_mi_stderr[1] == 0.0
    assert result.per_unit_mi[0] > 0.1


# ----------------------------------------------------------------------------- finite N


def linear_gaussian_posteriors(n: int, d: int, nats_per_unit: float, seed: int):
    """x ~ N(0, I), z | x ~ N(a x, 1): the population I(x;z) is d * nats_per_unit. The data
    come from their own stream: ``default_rng(seed)`` would replay the draws of z that
    ``mutual_information(seed=seed)`` makes, and tie the noise to the data."""
    x = np.random.default_rng((seed, 7)).normal(size=(n, d))
    return math.sqrt(math.exp(2 * nats_per_unit) - 1) * x, np.zeros((n, d))


@pytest.mark.parametrize("n, d", [(500, 16), (2000, 16)])
def test_a_dataset_that_caps_the_estimate_is_flagged_with_its_growth(n, d):
    """Population I = 6 nats: the empirical estimand is far below (about 4.6 at N = 500,
    5.3 at N = 2,000), well away from log N, so the near-ceiling flag said nothing."""
    for seed in range(5):
        mu, logvar = linear_gaussian_posteriors(n, d, 6 / d, seed)
        result = mutual_information(mu, logvar, per_unit=False, seed=seed)
        assert result.capped_by_data and not result.near_ceiling
        assert result.growth_examples == [n // 4, n // 2, n]
        quarter, half, whole = result.growth_nats
        assert quarter < half < whole == result.nats < 6.0


@pytest.mark.parametrize("n, d, nats", [(4000, 2, 0.5), (2000, 4, 0.08)])
def test_a_dataset_large_enough_for_its_information_is_not_flagged(n, d, nats):
    for seed in range(5):
        mu, logvar = linear_gaussian_posteriors(n, d, nats / d, seed)
        result = mutual_information(mu, logvar, per_unit=False, seed=seed)
        assert not result.capped_by_data
        assert result.nats == pytest.approx(nats, abs=5 * result.stderr + 0.02)


def test_the_growth_note_and_the_estimand_reach_the_summary():
    mi = importlib.import_module("latentprobe.analyzers.mutual_information")
    mu, logvar = linear_gaussian_posteriors(500, 16, 6 / 16, 1)
    result = mi.mutual_information(mu, logvar, per_unit=False, seed=1)
    lines = mi.summary_lines(result)
    assert "estimand: I(x;z) under the empirical distribution of these 500 examples" in lines[1]
    assert "by number of examples 125:" in lines[1]
    verdict = Verdict("healthy", True, ("active",) * 16)
    assert any("the dataset caps the estimate" in note for note in mi.review(result, verdict).notes)


def test_the_bias_corrected_estimate_covers_the_population_value_where_the_empirical_misses():
    """Population I = 3 nats over 4 units at N = 500: the empirical interval misses 3 in about
    half the seeds (it covers the empirical estimand, not the population value); the 1/N
    extrapolation's interval covers it."""
    missed = covered = 0
    for seed in range(20):
        mu, logvar = linear_gaussian_posteriors(500, 4, 3 / 4, seed)
        result = mutual_information(mu, logvar, per_unit=False, seed=seed)
        missed += result.ci95_high < 3.0
        low, high = normal_interval(result.population_nats, result.population_stderr)
        covered += low <= 3.0 <= high
    assert missed >= 5
    assert covered >= 18


@pytest.mark.parametrize("n, d", [(500, 1), (500, 16), (500, 64), (2000, 16)])
def test_where_the_data_cap_the_estimate_the_bracket_holds_the_population_value(n, d):
    """Population I = 6 nats: no extrapolation is offered, and the bracket (the estimate as a
    lower bound, the leave-one-out estimate as an upper bound) contains 6."""
    for seed in range(5):
        mu, logvar = linear_gaussian_posteriors(n, d, 6 / d, seed)
        result = mutual_information(mu, logvar, per_unit=False, seed=seed)
        assert result.capped_by_data and math.isnan(result.population_nats)
        assert result.population_low < 6.0 < result.population_high
        assert result.population_low <= result.nats


def test_the_leave_one_out_density_leaves_out_exactly_the_own_example():
    """Brute force in float64: the upper end's draws are log q(z|x_n) minus the log of the
    mean of the other N - 1 posteriors at z."""
    rng = np.random.default_rng(3)
    mu, logvar = rng.normal(size=(60, 3)), rng.normal(size=(60, 3)) * 0.3 - 1.0
    result = mutual_information(mu, logvar, draws_per_example=1, per_unit=False, growth=False)
    z = mu + np.exp(0.5 * logvar) * np.random.default_rng(0).standard_normal(mu.shape)
    log_k = -0.5 * (
        np.log(2 * np.pi) + logvar[None] + (z[:, None] - mu[None]) ** 2 / np.exp(logvar[None])
    ).sum(2)
    own = np.diag(log_k).copy()
    np.fill_diagonal(log_k, -np.inf)
    draws = own - (logsumexp(log_k, axis=1) - np.log(59))
    high = draws.mean() + Z95 * draws.std(ddof=1) / np.sqrt(60)
    assert result.population_high == pytest.approx(high, rel=1e-9)


def test_the_population_value_reaches_the_summary():
    mi = importlib.import_module("latentprobe.analyzers.mutual_information")
    mu, logvar = linear_gaussian_posteriors(500, 4, 3 / 4, 0)
    lines = mi.summary_lines(mi.mutual_information(mu, logvar, per_unit=False))
    assert any(
        line.startswith("population I(x;z): ") and "extrapolated in 1/N" in line for line in lines
    )
    capped, logvar = linear_gaussian_posteriors(500, 16, 6 / 16, 0)
    lines = mi.summary_lines(mi.mutual_information(capped, logvar, per_unit=False))
    assert any(
        "no bias-corrected estimate (capped by the data); 95% bracket" in line for line in lines
    )
