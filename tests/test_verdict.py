"""Unit statuses and the model verdict on cases whose truth is known by construction."""

from __future__ import annotations

import numpy as np
from linear_gaussian import example

from latentprobe.analyzers import active_units, kl_divergence, mutual_information
from latentprobe.registry import ANALYSES
from latentprobe.verdict import Thresholds, decide


def verdict_for(mu, logvar, thresholds=None):
    results = {
        "active_units": active_units(mu),
        "kl_divergence": kl_divergence(mu, logvar),
        "mutual_information": mutual_information(mu, logvar, draws_per_example=2),
    }
    return decide(mu.shape[1], results, analyses=ANALYSES, thresholds=thresholds)


def test_linear_gaussian_statuses():
    mu, logvar = example().sample(3000, seed=0)
    verdict = verdict_for(mu, logvar)
    # units 0-3 informative; 4 is exactly the prior; 5 has b = 0.8, s = 0.3 and ignores x
    assert verdict.unit_status == ("active",) * 4 + ("collapsed", "inactive")
    assert verdict.z_informative is True and verdict.model == "partially_collapsed"


def test_constant_mean_with_non_unit_variance_is_inactive_not_collapsed():
    n = 500
    mu = np.column_stack([np.full(n, 0.0), np.random.default_rng(0).normal(size=n)])
    logvar = np.column_stack([np.full(n, np.log(0.5)), np.full(n, -2.0)])
    assert verdict_for(mu, logvar).unit_status == ("inactive", "active")


def test_every_unit_at_the_prior_is_a_collapsed_model():
    mu, logvar = np.zeros((400, 5)), np.zeros((400, 5))
    verdict = verdict_for(mu, logvar)
    assert verdict.unit_status == ("collapsed",) * 5
    assert verdict.model == "collapsed" and verdict.z_informative is False


def test_healthy_model():
    rng = np.random.default_rng(1)
    mu, logvar = rng.normal(size=(800, 3)), np.full((800, 3), -1.0)
    verdict = verdict_for(mu, logvar)
    assert verdict.model == "healthy" and verdict.z_informative


def test_thresholds_are_options():
    n = 1000
    rng = np.random.default_rng(2)
    mu = np.column_stack([rng.normal(size=n) * 0.05])  # I(x;z) ~ 0.5 log(1 + 0.0025) ~ 0.00125
    logvar = np.zeros((n, 1))
    assert verdict_for(mu, logvar).unit_status == ("collapsed",)
    strict = verdict_for(mu, logvar, thresholds=Thresholds(kl_threshold=1e-5, mi_threshold=1e-4))
    assert strict.unit_status == ("active",)


def test_means_that_vary_below_the_noise_are_noted():
    n = 2000
    rng = np.random.default_rng(3)
    mu = rng.normal(size=(n, 1)) * 0.2  # variance 0.04 > 0.01: "active" by the AU criterion
    logvar = np.full((n, 1), np.log(100.0))  # but the posterior noise swamps it
    verdict = verdict_for(mu, logvar)
    assert verdict.unit_status != ("active",)
    assert any("scale far below the posterior noise" in note for note in verdict.notes)


def test_without_mutual_information_the_variance_criterion_stands_in():
    mu = np.column_stack([np.zeros(100) + 3.0, np.linspace(-1, 1, 100)])
    logvar = np.zeros((100, 2))
    results = {"active_units": active_units(mu), "kl_divergence": kl_divergence(mu, logvar)}
    verdict = decide(2, results, analyses=ANALYSES)
    assert verdict.unit_status == ("inactive", "active") and verdict.z_informative is None


def test_a_single_example_carries_no_information():
    # unit 0 is exactly the prior; unit 1 has mean 1 (KL 0.5) but one example cannot vary
    verdict = verdict_for(np.array([[0.0, 1.0]]), np.zeros((1, 2)))
    assert verdict.unit_status == ("collapsed", "inactive")
    assert verdict.z_informative is False and verdict.model == "collapsed"


def test_two_examples_give_information_within_log_2():
    mu, logvar = np.array([[0.0, 0.0], [8.0, 0.0]]), np.full((2, 2), -2.0)
    result = mutual_information(mu, logvar, draws_per_example=8)
    assert 0.9 * np.log(2) < result.nats <= np.log(2) + 1e-9 and np.isfinite(result.stderr)
    verdict = verdict_for(mu, logvar)
    assert verdict.unit_status[0] == "active" and verdict.z_informative is True


def test_the_verdict_records_which_analyses_decided():
    mu, logvar = example().sample(1000, seed=4)
    assert verdict_for(mu, logvar).basis == {
        "collapsed": ["kl_divergence"],
        "uninformative": "mutual_information",
        "uninformative_is_proxy": False,
        "informative": ["mutual_information"],
    }
    results = {"active_units": active_units(mu), "kl_divergence": kl_divergence(mu, logvar)}
    basis = decide(6, results, analyses=ANALYSES).basis
    assert basis["uninformative"] == "active_units" and basis["uninformative_is_proxy"]
    assert basis["informative"] == []


def test_the_varying_means_note_needs_a_direct_measure():
    mu = np.zeros((2000, 1))
    mu[:8], mu[8:16] = 1.2, -1.2  # variance 0.0115 > 0.01, yet KL < 0.01 for 99.2%: collapsed
    logvar = np.zeros((2000, 1))
    results = {"active_units": active_units(mu), "kl_divergence": kl_divergence(mu, logvar)}
    proxy_only = decide(1, results, analyses=ANALYSES)
    assert proxy_only.unit_status == ("collapsed",) and proxy_only.notes == ()
    with_mi = verdict_for(mu, logvar)
    assert any("far below the posterior noise" in note for note in with_mi.notes)
