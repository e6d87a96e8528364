"""The I(z;y) bound, the control task and the MDL code length (probes.information)."""

from __future__ import annotations

import math

import numpy as np
import pytest

from latentprobe.analyzers.probes.crossval import CVScore, cross_validate, make_splits
from latentprobe.analyzers.probes.information import (
    bound_figures,
    control_labels,
    control_task,
    entropy_nats,
    mdl_code_length,
)


def test_entropy_in_nats():
    assert entropy_nats(np.array([0, 1, 2, 3] * 5)) == pytest.approx(math.log(4))
    assert entropy_nats(np.array([1, 1, 1])) == 0.0
    assert entropy_nats(np.array([0, 0, 0, 1])) == pytest.approx(
        -(0.75 * math.log(0.75) + 0.25 * math.log(0.25))
    )


@pytest.mark.parametrize(
    "correct, low, high",
    # closed values of the 95% Wilson score interval for n = 10
    [(8, 0.4902, 0.9433), (5, 0.2366, 0.7634), (0, 0.0, 0.2775), (10, 0.7225, 1.0)],
)
def test_accuracy_interval_is_wilson(correct, low, high):
    y = np.array([0] * 7 + [1] * 3)
    figures = bound_figures(y, CVScore(correct / 10, np.full(10, 0.5)))
    assert figures["accuracy_ci95"] == pytest.approx([low, high], abs=5e-5)
    assert figures["chance"] == 0.7


def test_bound_is_entropy_minus_cross_entropy_with_a_normal_interval():
    y = np.array([0, 1] * 10)
    loss = np.linspace(0.1, 0.5, 20)
    figures = bound_figures(y, CVScore(0.9, loss))
    estimate = math.log(2) - loss.mean()
    assert figures["class_entropy_nats"] == pytest.approx(math.log(2))
    assert figures["cross_entropy_nats"] == pytest.approx(0.3)
    half = 1.959964 * loss.std(ddof=1) / math.sqrt(20)
    assert figures["mi_lower_bound_ci95"] == pytest.approx([estimate - half, estimate + half])
    assert figures["mi_lower_bound_nats"] == pytest.approx(estimate - half)


def test_the_reported_bound_is_rarely_above_the_true_information():
    """z | y ~ N(+-1, 1), y balanced: I(z;y) = 0.3368 nats (numerical integration). Over 40
    seeds at N = 400, H(y) - cross-entropy exceeded it 17 times; its interval's lower end,
    the reported bound, 2 times."""
    from scipy.integrate import quad
    from scipy.stats import norm

    def h_y_given_z(z):
        joint = 0.5 * np.array([norm.pdf(z, -1.0), norm.pdf(z, 1.0)])
        return -(joint * np.log(joint / joint.sum(0))).sum(0)

    truth = math.log(2) - quad(h_y_given_z, -15, 15)[0]
    above = 0
    for seed in range(40):
        rng = np.random.default_rng(seed)
        y = rng.integers(0, 2, 400)
        z = (2.0 * y - 1)[:, None] + rng.normal(size=(400, 1))
        splits = make_splits(y, 5, "classification", seed)
        score = cross_validate(z, y, splits, task="classification", k=2, seed=seed)
        above += bound_figures(y, score)["mi_lower_bound_nats"] > truth
    assert truth == pytest.approx(0.3368, abs=1e-4)
    assert above <= 4


def test_control_labels_are_constant_per_cluster_and_drawn_from_y():
    rng = np.random.default_rng(0)
    x = np.repeat(np.eye(4) * 10, 10, axis=0) + rng.normal(size=(40, 4)) * 0.01
    y = np.array([3, 5] * 20)
    labels = control_labels(x, y, np.random.default_rng(1), seed=0)  # N / 10 = 4 clusters
    assert set(labels.tolist()) <= {3, 5}
    for block in labels.reshape(4, 10):  # each well-separated group is one cluster
        assert len(set(block.tolist())) == 1


def test_control_task_left_out_when_a_control_class_is_too_small():
    rng = np.random.default_rng(2)
    x, z = rng.normal(size=(20, 2)), rng.normal(size=(40, 2))
    y = np.array([0] * 20)  # every cluster gets class 0: a single control class
    accuracy, notes = control_task(z, x, y, rng, folds=5, draws=2, seed=0, n_jobs=1)
    assert math.isnan(accuracy)
    assert notes == ["control task left out: its labels have too few members per class"]


def test_mdl_of_a_separable_label_beats_the_uniform_code():
    rng = np.random.default_rng(3)
    y = rng.integers(0, 4, 500)
    z = y[:, None] * 5.0 + rng.normal(size=(500, 1)) * 0.1
    bits, uniform = mdl_code_length(z, y, 4, rng, seed=0)
    assert uniform == 500 * 2.0 and bits < uniform / 3


def test_mdl_of_noise_is_no_better_than_uniform():
    rng = np.random.default_rng(4)
    y = rng.integers(0, 2, 500)
    bits, uniform = mdl_code_length(rng.normal(size=(500, 2)), y, 2, rng, seed=0)
    assert uniform == 500.0 and bits > 0.95 * uniform
