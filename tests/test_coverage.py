"""Coverage of the stated 95% intervals, measured over seeds on linear-Gaussian encoders
(x ~ N(0, I), z | x ~ N(a x, 1)). The estimand is I(x;z) under the empirical distribution
of the N examples; its reference value comes from the same estimator with 400 draws per
example (an error 14x smaller than at 2 draws). With 100 seeds a 95% interval covers the
reference 89 to 99 times except once in about 50 such tests."""

from __future__ import annotations

import math
import warnings

import numpy as np
import pytest

from latentprobe.analyzers.intervals import Z95
from latentprobe.analyzers.mutual_information import mutual_information

SEEDS = 100


def linear_gaussian(n: int, d: int, nats: float, seed: int = 0):
    x = np.random.default_rng(seed).normal(size=(n, d))
    return math.sqrt(math.exp(2 * nats / d) - 1) * x, np.zeros((n, d))


def reference(mu, logvar):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return mutual_information(mu, logvar, draws_per_example=400, growth=False, seed=999)


def estimates(mu, logvar, **options):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for seed in range(SEEDS):
            yield mutual_information(mu, logvar, growth=False, seed=seed, **options)


@pytest.mark.parametrize(
    "n, d, nats, draws, max_points",
    [
        (300, 4, 0.05, 2, None),  # low information
        (300, 4, 2.0, 2, None),  # moderate
        (1000, 16, 2.0, 2, None),  # wider
        (300, 1, 0.05, 1, None),  # one draw: the "conservative" error
        (300, 4, 2.0, 1, None),
        (1000, 4, 2.0, 2, 400),  # subsampled points
        (100, 2, 0.5, 2, None),  # small N
    ],
)
def test_the_interval_on_i_x_z_covers_the_empirical_estimand(n, d, nats, draws, max_points):
    mu, logvar = linear_gaussian(n, d, nats)
    truth = reference(mu, logvar).nats
    covered = sum(
        r.ci95_low <= truth <= r.ci95_high
        for r in estimates(
            mu, logvar, draws_per_example=draws, max_points=max_points, per_unit=False
        )
    )
    assert 89 <= covered <= 99


@pytest.mark.parametrize("nats", [0.05, 2.0])
def test_the_per_unit_and_tc_intervals_cover(nats):
    mu, logvar = linear_gaussian(300, 4, nats)
    ref = reference(mu, logvar)
    units = tc = 0
    for r in estimates(mu, logvar):
        half = Z95 * r.per_unit_mi_stderr
        units += int(
            (
                (r.per_unit_mi - half <= ref.per_unit_mi)
                & (ref.per_unit_mi <= r.per_unit_mi + half)
            ).sum()
        )
        tc += abs(r.total_correlation - ref.total_correlation) <= Z95 * r.total_correlation_stderr
    assert 0.91 <= units / (4 * SEEDS) <= 0.98
    assert 89 <= tc <= 99
