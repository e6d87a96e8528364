"""The decoder's side against closed forms: distortion, ELBO, reliance (analyzers.distortion)
and the IWAE bound (analyzers.log_likelihood) on a linear-Gaussian VAE."""

from __future__ import annotations

import dataclasses
import math

import numpy as np
import pytest
import torch
from decoder_models import (
    ConstantDecoderVAE,
    encoder_stats,
    exact_distortion,
    exact_prior_distortion,
    exact_rate,
    exact_unit_reliance,
    linear_gaussian,
    log_marginal,
    sample_x,
)

from latentprobe import decoders
from latentprobe.analyzers import distortion, log_likelihood
from latentprobe.analyzers.log_likelihood import _Running, checkpoints
from latentprobe.report import analyze
from latentprobe.types import EncoderStats


def _decoder(model):
    return decoders.make_decoder(model, latent_shape=(model.W.shape[1],))


@pytest.fixture(scope="module")
def setup():
    model = linear_gaussian()
    x = sample_x(model, 400)
    mu, logvar = encoder_stats(model, x)
    return model, x, mu, logvar


def _within(estimate, exact, stderr, k=4.5):
    assert abs(estimate - exact) <= k * stderr + 1e-9, (estimate, exact, stderr)


def test_distortion_rate_and_elbo_match_the_closed_forms(setup):
    model, x, mu, logvar = setup
    decoder = _decoder(model)
    r = distortion(mu, logvar, x, decoder.log_likelihood, draws_per_example=8, seed=3)
    _within(r.distortion, exact_distortion(model, x).mean(), r.distortion_stderr)
    assert r.rate == pytest.approx(exact_rate(model, x).mean(), rel=1e-12)
    assert r.rate_stderr == 0.0
    assert r.elbo == pytest.approx(-(r.distortion + r.rate), rel=1e-12)
    # the encoder is the true posterior: the ELBO is log p(x) itself
    _within(r.elbo, log_marginal(model, x).mean(), r.elbo_stderr)
    _within(r.prior_distortion, exact_prior_distortion(model, x).mean(), 5 * r.reliance_stderr)


def test_unit_reliance_matches_the_closed_form_and_is_exactly_zero_on_a_zero_column(setup):
    model, x, mu, logvar = setup
    r = distortion(mu, logvar, x, _decoder(model).log_likelihood, draws_per_example=8, seed=4)
    exact = exact_unit_reliance(model, x)
    assert exact[-1] == 0.0
    for i in range(len(exact) - 1):
        _within(r.per_unit_reliance[i], exact[i], r.per_unit_reliance_stderr[i])
    assert r.per_unit_reliance[-1] == 0.0 and r.per_unit_reliance_stderr[-1] == 0.0
    assert r.per_unit_marginal_reliance[-1] == 0.0
    assert (r.per_unit_marginal_reliance[:-1] > 0).all()


def test_the_iwae_bound_is_below_log_p_x_and_converges_to_it():
    """A worse encoder (means shrunk, variances doubled): the ELBO is strictly below log p(x);
    the bound rises with K, stays below, and reaches log p(x) within its error at K = 5,000."""
    model = linear_gaussian(seed=2)
    x = sample_x(model, 60, seed=5)
    mu, logvar = encoder_stats(model, x)
    mu, logvar = 0.7 * mu, logvar + math.log(2.0)
    truth = log_marginal(model, x).mean()
    r = log_likelihood(mu, logvar, x, _decoder(model).log_likelihood, samples=5000, seed=1)
    assert r.samples_at.tolist() == [1, 10, 100, 1000, 5000]
    assert np.all(np.diff(r.log_likelihood_at) > 0)
    assert r.log_likelihood_at[0] < truth - 0.1
    assert r.log_likelihood < truth + 3 * r.log_likelihood_stderr
    _within(r.log_likelihood, truth, r.log_likelihood_stderr, k=4)
    assert truth - r.log_likelihood_at[1] > 10 * r.log_likelihood_stderr  # K = 10: not there
    assert r.gap > 0 and r.nll == -r.log_likelihood
    assert 0 < r.effective_samples < 5000


def test_a_tight_encoder_gives_log_p_x_at_every_k(setup):
    """With q the true posterior every weight equals p(x): L_K = log p(x) for each K, and
    the effective sample size is K."""
    model, x, mu, logvar = setup
    r = log_likelihood(mu, logvar, x, _decoder(model).log_likelihood, samples=20, seed=0)
    np.testing.assert_allclose(r.per_example, log_marginal(model, x), atol=1e-9)
    assert r.effective_samples == pytest.approx(20, rel=1e-9)
    assert r.log_likelihood_stderr < 1e-6 and abs(r.gap) < 1e-9


def test_a_full_covariance_true_posterior_is_tight_too():
    """W with correlated columns: the true posterior has a full covariance M, analysed as a
    multivariate_normal family with its Cholesky factor."""
    model = linear_gaussian(seed=3)
    with torch.no_grad():
        model.W[:, -1] = model.W[:, 0] * 0.5 + 0.3
    W, b, s2 = model.W.detach().numpy(), model.b.detach().numpy(), model.sigma**2
    x = sample_x(model, 50, seed=2)
    M = np.linalg.inv(np.eye(W.shape[1]) + W.T @ W / s2)
    mu = (x - b) @ W @ M.T / s2
    tril = np.broadcast_to(np.linalg.cholesky(M), (len(x), *M.shape)).copy()
    logvar = np.broadcast_to(np.log(np.diag(M)), mu.shape).copy()
    ll = _decoder(model).log_likelihood
    r = log_likelihood(mu, logvar, x, ll, samples=10, family="multivariate_normal", scale_tril=tril)
    np.testing.assert_allclose(r.per_example, log_marginal(model, x), atol=1e-8)
    d = distortion(mu, logvar, x, ll, family="multivariate_normal", scale_tril=tril)
    _within(d.elbo, log_marginal(model, x).mean(), d.elbo_stderr)


def test_a_decoder_that_ignores_z_relies_on_nothing_and_the_verdict_says_so():
    torch.manual_seed(0)
    model = ConstantDecoderVAE(features=6, latent=2)
    x = (torch.rand(300, 6) > 0.5).float().numpy()
    with torch.no_grad():
        mu, logvar = (t.numpy() for t in model.encode(torch.from_numpy(x)))
    decoder = decoders.make_decoder(model, latent_shape=(2,))
    r = distortion(mu, logvar, x, decoder.log_likelihood)
    assert r.reliance == 0.0 and r.shuffled_reliance == 0.0
    assert (r.per_unit_reliance == 0).all() and (r.per_unit_marginal_reliance == 0).all()
    stats = EncoderStats.from_latents(mu, logvar)
    report = analyze(stats, x=x, decoder=decoder, skip=("log_likelihood",))
    assert report.verdict.z_informative and report.verdict.decoder_uses_z is False
    assert report.verdict.unit_status == ("ignored", "ignored")
    assert any("decoder-side collapse" in note for note in report.verdict.notes)


def test_the_decoder_of_a_healthy_linear_model_is_used_except_its_zero_column(setup):
    model, x, mu, logvar = setup
    stats = EncoderStats.from_latents(mu, logvar)
    report = analyze(stats, x=x, decoder=_decoder(model), skip=("log_likelihood",))
    assert report.verdict.decoder_uses_z is True
    # the last unit: encoded (W_i = 0 gives the true posterior N(0, 1): collapsed)
    assert report.verdict.unit_status[:2] == ("active", "active")


def test_a_mixture_prior_rate_is_monte_carlo_with_its_error(setup):
    from latentprobe.types import Prior

    model, x, mu, logvar = setup
    prior = Prior.mixture([0.5, 0.5], np.full((2, 3), [[-1.0], [1.0]]), np.zeros((2, 3)))
    r = distortion(mu, logvar, x, _decoder(model).log_likelihood, prior=prior, per_unit=False)
    assert r.rate_stderr > 0 and np.isnan(r.per_unit_reliance).all()


def test_a_seed_fixes_every_number_and_batching_does_not_change_them(setup):
    model, x, mu, logvar = setup
    ll = _decoder(model).log_likelihood
    a = distortion(mu, logvar, x, ll, seed=7, rows_per_call=64)
    b = distortion(mu, logvar, x, ll, seed=7, rows_per_call=64)
    c = distortion(mu, logvar, x, ll, seed=7, rows_per_call=1000)
    assert a.distortion == b.distortion and (a.per_unit_reliance == b.per_unit_reliance).all()
    np.testing.assert_allclose(c.per_example_distortion, a.per_example_distortion, rtol=1e-12)
    assert distortion(mu, logvar, x, ll, seed=8).distortion != a.distortion


def test_memory_per_call_is_bounded_by_rows_per_call(setup):
    model, x, mu, logvar = setup
    seen = []

    def spy(x_rows, z):
        seen.append(z.shape[0] * z.shape[1])
        return _decoder(model).log_likelihood(x_rows, z)

    log_likelihood(mu[:30], logvar[:30], x[:30], spy, samples=700, rows_per_call=256)
    assert max(seen) <= 256 and sum(seen) == 30 * 700


def test_checkpoints_of_the_convergence_table():
    assert checkpoints(1) == [1]
    assert checkpoints(10) == [1, 10]
    assert checkpoints(1000) == [1, 10, 100, 1000]
    assert checkpoints(250) == [1, 10, 100, 250]


@pytest.mark.parametrize("chunks", [[1000], [7, 3, 90, 900], [10, 990], [1] * 12 + [988]])
def test_the_running_sums_match_a_brute_force_over_every_chunking(chunks):
    """L_k at each checkpoint, log sum w, log sum w^2 and the sums of log w against float64
    brute force on all the draws at once, whether a checkpoint falls inside a chunk or on
    its last draw; weights spread over 600 nats so that a naive sum of w would overflow."""
    rng = np.random.default_rng(5)
    log_w = rng.normal(-300.0, 100.0, size=(3, sum(chunks)))
    ks = checkpoints(sum(chunks))
    running = _Running(3, ks, "cpu")
    for start, c in zip(np.cumsum([0, *chunks[:-1]]), chunks, strict=True):
        running.add(torch.as_tensor(log_w[:, start : start + c]))

    def log_mean_exp(a):
        m = a.max(1, keepdims=True)
        return (m + np.log(np.exp(a - m).mean(1, keepdims=True)))[:, 0]

    for k in ks:
        np.testing.assert_allclose(running.at[k].numpy(), log_mean_exp(log_w[:, :k]), rtol=1e-12)
    k = sum(chunks)
    np.testing.assert_allclose(running.log_sum.numpy(), log_mean_exp(log_w) + math.log(k))
    np.testing.assert_allclose(running.log_sum_sq.numpy(), log_mean_exp(2 * log_w) + math.log(k))
    np.testing.assert_allclose(running.total.numpy(), log_w.sum(1), rtol=1e-12)
    np.testing.assert_allclose(running.total_sq.numpy(), (log_w**2).sum(1), rtol=1e-12)


def test_only_a_reliance_shown_near_zero_is_ignored(setup):
    """The interval must lie within the threshold of 0 on both sides: a unit the decoder
    does better without (reliance -5) reacts to z_i and is not "ignored"; a wide interval
    around 0 is not shown either."""
    from latentprobe.analyzers.distortion import ignored_units
    from latentprobe.verdict import Thresholds

    model, x, mu, logvar = setup
    r = distortion(mu[:20], logvar[:20], x[:20], _decoder(model).log_likelihood)
    r = dataclasses.replace(
        r,
        per_unit_reliance=np.array([-5.0, 0.0, 0.005]),
        per_unit_reliance_stderr=np.array([0.1, 0.0, 0.001]),
    )
    assert ignored_units(r, Thresholds()).tolist() == [False, True, True]
    wide = dataclasses.replace(r, per_unit_reliance_stderr=np.array([0.1, 0.5, 0.001]))
    assert ignored_units(wide, Thresholds()).tolist() == [False, False, True]
