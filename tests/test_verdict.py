"""Unit statuses and the model verdict on cases whose truth is known by construction."""

from __future__ import annotations

import dataclasses
import math

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
    # 0.00125 nats is not shown above 1e-4 by this interval: no longer collapsed, undetermined
    assert strict.unit_status == ("undetermined",)


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


def _planted(n: int = 2000) -> tuple[np.ndarray, np.ndarray]:
    """Unit 0: 0.9% of the examples shifted by 4 prior standard deviations, the rest exactly
    the prior (I about 0.04 nats, yet 99.1% of the per-example KLs are 0); unit 1: exactly
    the prior; unit 2: a constant mean 0.5 (KL > 0, no information); unit 3: informative."""
    rng = np.random.default_rng(11)
    mu, logvar = np.zeros((n, 4)), np.zeros((n, 4))
    mu[: int(0.009 * n), 0] = 4.0
    mu[:, 2] = 0.5
    mu[:, 3], logvar[:, 3] = rng.normal(size=n), -2.0
    return mu, logvar


def _verdict_with_seed(mu, logvar, seed: int):
    results = {
        "kl_divergence": kl_divergence(mu, logvar),
        "mutual_information": mutual_information(mu, logvar, seed=seed),
    }
    return decide(mu.shape[1], results, analyses=ANALYSES)


def test_a_rare_shift_that_carries_information_is_not_called_collapsed():
    """The collapsed rule alone (99% of per-example KLs below 0.01) called unit 0 collapsed
    in every seed although its information is tens of standard errors above the threshold."""
    mu, logvar = _planted()
    for seed in range(5):
        assert _verdict_with_seed(mu, logvar, seed).unit_status[0] == "active"


def test_the_same_planted_configuration_gets_the_same_statuses_in_every_seed():
    mu, logvar = _planted()
    statuses = {_verdict_with_seed(mu, logvar, seed).unit_status for seed in range(10)}
    assert statuses == {("active", "collapsed", "inactive", "active")}


def test_a_unit_whose_interval_straddles_the_threshold_is_undetermined():
    from latentprobe.analyzers.mutual_information import MutualInformationResult

    fields = {f.name: 0 for f in dataclasses.fields(MutualInformationResult)}
    fields.update(
        per_unit_mi=np.array([0.011, 0.05, 0.001]),
        per_unit_mi_stderr=np.array([0.002, 0.002, 0.002]),
        ci95_low=0.02,
    )
    vote = ANALYSES["mutual_information"].vote(MutualInformationResult(**fields), Thresholds())
    verdict = decide(
        3, {"mutual_information": MutualInformationResult(**fields)}, analyses=ANALYSES
    )
    assert list(vote.shown_informative) == [False, True, False]
    assert verdict.unit_status == ("undetermined", "active", "inactive")
    assert verdict.model == "partially_collapsed"


def test_a_rare_feature_of_one_unit_gets_no_misleading_note():
    """One unit, 8 of 1,000 examples moved by 4 prior standard deviations (I about 0.04
    nats): the summary said the information was "spread thinly over several units" (there is
    one) and that the means "move at a scale far below the posterior noise" (they move by 4);
    the quarters of the data hold about 2 of the 8 examples each, which is no sign that the
    dataset caps the estimate."""
    n = 1000
    mu, logvar = np.zeros((n, 1)), np.zeros((n, 1))
    mu[:8, 0] = 4.0
    verdict = verdict_for(mu, logvar)
    assert verdict.unit_status == ("active",) and verdict.z_informative
    assert verdict.notes == ()


def test_information_spread_over_many_weak_units_is_noted():
    """Ten units with 0.003 nats each, every one shown below the threshold, z informative:
    the note that says the information is spread thinly is true here."""
    rng = np.random.default_rng(0)
    n, d = 4000, 10
    mu = math.sqrt(math.exp(0.006) - 1) * rng.normal(size=(n, d))
    verdict = verdict_for(mu, np.zeros((n, d)))
    assert set(verdict.unit_status) == {"inactive"} and verdict.z_informative
    assert any("spread thinly over several units" in note for note in verdict.notes)
