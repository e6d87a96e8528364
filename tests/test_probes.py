"""Probe classifiers against cases whose answer is known by construction."""

from __future__ import annotations

import ast
import math
from dataclasses import fields
from pathlib import Path

import numpy as np
import pytest
from sklearn.datasets import load_digits

import latentprobe
from latentprobe.analyzers.probes import ProbesOptions, probe_label_set, probes
from latentprobe.analyzers.probes.information import entropy_nats
from latentprobe.errors import AnalysisError, DataError, PosteriorError

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures"
PACKAGE = Path(__file__).resolve().parent.parent / "latentprobe" / "analyzers" / "probes"
FAST = ProbesOptions(permutations=50, mlp=False, control=False, mdl=False, n_jobs=1)


@pytest.fixture(scope="module")
def digits_x():
    return load_digits().data / 16.0


def fixture_stats(name):
    return latentprobe.extract(latentprobe.load_model(FIXTURES / f"{name}.pt"), "sklearn:digits")


def test_healthy_fixture_is_far_above_chance_collapsed_is_not_significant(digits_x):
    options = ProbesOptions(permutations=50)
    healthy = fixture_stats("healthy")
    h = probes(healthy.mu, healthy.logvar, healthy.labels, x=digits_x, options=options)
    h = h.label_sets["digit"]
    assert h.accuracy > 0.6 > 3 * h.chance and h.p_value == h.p_value_min == 1 / 51
    assert h.mi_lower_bound_nats > 1.0 and h.compression > 1.5 and h.selectivity > 0.3
    assert h.x_accuracy > h.accuracy
    collapsed = fixture_stats("collapsed")
    c = probes(collapsed.mu, collapsed.logvar, collapsed.labels, x=digits_x, options=options)
    c = c.label_sets["digit"]
    assert c.p_value > 0.05 and c.accuracy < 0.15
    assert c.mi_lower_bound_ci95[0] < 0.01
    assert c.mean_accuracy > 0.3  # the means still move with x; samples do not carry it


def test_prior_samples_give_chance():
    rng = np.random.default_rng(0)
    y = rng.integers(0, 4, 1200)
    mu = np.column_stack([y * 3.0, rng.normal(size=1200)])
    result = probe_label_set(mu, np.full((1200, 2), -4.0), y, "y", options=FAST)
    low, high = _wilson(result.chance, 1200)
    assert low - 0.03 < result.prior_accuracy < high + 0.03
    assert result.accuracy > 0.95


def _wilson(p, n):
    half = 1.96 * math.sqrt(p * (1 - p) / n)
    return p - half, p + half


def test_label_planted_in_one_unit_is_found_there_only():
    rng = np.random.default_rng(1)
    n, d = 1500, 6
    y = rng.integers(0, 3, n)
    mu = rng.normal(size=(n, d)) * 0.3
    mu[:, 2] += y * 1.5
    result = probe_label_set(mu, np.full((n, d), -2.0), y, "y", options=FAST)
    significant = np.flatnonzero(result.per_unit_p_holm < 0.05)
    assert significant.tolist() == [2]
    assert result.per_unit_accuracy.argmax() == 2


def test_permutation_p_values_are_calibrated_on_noise():
    """No information: p-values must not pile up near 0 (folds are re-stratified for every
    permutation; stratifying on the true labels only would favour them)."""
    options = ProbesOptions(permutations=40, mlp=False, control=False, mdl=False, n_jobs=1)
    small = []
    for seed in range(10):
        rng = np.random.default_rng(100 + seed)
        y = rng.integers(0, 5, 600)
        mu, logvar = rng.normal(size=(600, 3)), np.zeros((600, 3))
        result = probe_label_set(mu, logvar, y, "y", options=options, seed=seed)
        small.append(result.p_value < 0.1)
        small.extend(result.per_unit_p_value < 0.1)
    assert np.mean(small) < 0.3  # 0.1 expected under the null


def test_information_bound_approaches_the_entropy_for_a_separable_label():
    rng = np.random.default_rng(2)
    n = 2000
    y = rng.integers(0, 4, n)
    mu = np.column_stack([y * 10.0, rng.normal(size=n)])
    result = probe_label_set(mu, np.full((n, 2), -8.0), y, "y", options=FAST)
    entropy = entropy_nats(y)
    assert result.class_entropy_nats == pytest.approx(entropy)
    assert result.mi_lower_bound_nats <= entropy
    assert result.mi_lower_bound_nats == pytest.approx(entropy, abs=0.05)


def test_information_bound_never_exceeds_the_entropy():
    rng = np.random.default_rng(3)
    for k in (2, 5):
        y = rng.integers(0, k, 500)
        mu = rng.normal(size=(500, 3)) + y[:, None]
        result = probe_label_set(mu, np.zeros((500, 3)) - 1, y, "y", options=FAST)
        assert result.mi_lower_bound_nats <= result.class_entropy_nats


def _equal(a, b):
    if isinstance(a, np.ndarray):
        return np.array_equal(a, b, equal_nan=True)
    if isinstance(a, list):
        return np.array_equal(np.array(a, float), np.array(b, float), equal_nan=True)
    if isinstance(a, float) and math.isnan(a):
        return math.isnan(b)
    return a == b


def test_a_fixed_seed_reproduces_every_number(digits_x):
    stats = fixture_stats("partial")
    options = ProbesOptions(permutations=10, n_jobs=2)  # workers must not change a number
    a = probes(stats.mu, stats.logvar, stats.labels, x=digits_x, options=options, seed=4)
    b = probes(stats.mu, stats.logvar, stats.labels, x=digits_x, options=options, seed=4)
    ra, rb = a.label_sets["digit"], b.label_sets["digit"]
    for f in fields(ra):
        assert _equal(getattr(ra, f.name), getattr(rb, f.name)), f.name


def test_missing_labels_are_left_out_and_counted():
    rng = np.random.default_rng(4)
    y = rng.integers(0, 3, 400).astype(float)
    y[:10], y[10:15] = -1, np.nan
    result = probe_label_set(rng.normal(size=(400, 2)), np.zeros((400, 2)), y, "y", options=FAST)
    assert result.n_missing == 15 and result.n_used == 385


def test_single_class_is_skipped_with_a_reason():
    result = probe_label_set(np.zeros((50, 2)), np.zeros((50, 2)), np.ones(50), "y", options=FAST)
    assert result.skipped == "fewer than two classes" and result.n_used == 0
    assert result.notes == ["not probed: fewer than two classes"]
    assert math.isnan(result.accuracy) and result.per_unit_accuracy.shape == (2,)


def test_small_class_reduces_the_folds_and_says_so():
    rng = np.random.default_rng(5)
    y = np.array([0] * 100 + [1] * 100 + [2] * 3)
    result = probe_label_set(rng.normal(size=(203, 2)), np.zeros((203, 2)), y, "y", options=FAST)
    assert result.folds == 3 and any("3 folds" in note for note in result.notes)


def test_singleton_class_is_left_out():
    rng = np.random.default_rng(6)
    y = np.array([0] * 60 + [1] * 60 + [2])
    result = probe_label_set(rng.normal(size=(121, 2)), np.zeros((121, 2)), y, "y", options=FAST)
    assert result.n_rare == 1 and result.n_classes == 2


def test_notes_of_every_step_are_gathered_in_order():
    rng = np.random.default_rng(6)
    y = np.array([0] * 60 + [1] * 60 + [2] * 3 + [3])
    result = probe_label_set(rng.normal(size=(124, 2)), np.zeros((124, 2)), y, "y", options=FAST)
    assert result.notes == [
        "1 examples of classes with a single member left out",
        "3 examples in the smallest class: 3 folds, not 5",
        "no inputs x given: x reference and control task left out",
    ]


def test_string_labels_are_encoded_and_mismatched_lengths_refused():
    rng = np.random.default_rng(7)
    y = np.array(["cat", "dog"] * 100)
    result = probe_label_set(rng.normal(size=(200, 2)), np.zeros((200, 2)), y, "y", options=FAST)
    assert result.n_classes == 2
    with pytest.raises(DataError, match="199 entries but the statistics have 200"):
        probe_label_set(np.zeros((200, 2)), np.zeros((200, 2)), y[:199], "y", options=FAST)


def test_continuous_target_uses_ridge_and_r2():
    rng = np.random.default_rng(8)
    mu = rng.normal(size=(600, 3))
    target = 2 * mu[:, 1] + rng.normal(size=600) * 0.1 + 0.37
    result = probe_label_set(mu, np.full((600, 3), -6.0), target, "t", options=FAST)
    assert result.task == "regression" and result.accuracy > 0.9 and result.p_value < 0.05
    assert np.flatnonzero(result.per_unit_p_holm < 0.05).tolist() == [1]
    assert result.chance == 0.0 and math.isnan(result.mi_lower_bound_nats)
    assert result.notes[-1].startswith("regression target: scores are R^2")


def test_parts_switched_off_are_nan():
    rng = np.random.default_rng(9)
    y = rng.integers(0, 2, 200)
    mu = rng.normal(size=(200, 2)) + y[:, None]
    off = ProbesOptions(
        permutations=5, mlp=False, control=False, mdl=False, per_unit=False, n_jobs=1
    )
    result = probe_label_set(mu, np.zeros((200, 2)), y, "y", x=mu, options=off)
    assert math.isnan(result.mlp_accuracy) and math.isnan(result.control_accuracy)
    assert math.isnan(result.mdl_bits) and np.isnan(result.per_unit_p_holm).all()
    assert result.x_accuracy > 0.6 and result.draws_per_example == 2


def test_condition_labels_packed_into_x_do_not_leak_into_the_x_reference():
    """Issue 11: x = noise beside a one-hot of the label (a conditional VAE's input). The x
    reference must score the noise (chance), not read the label back from x (accuracy 1)."""
    rng = np.random.default_rng(4)
    n = 600
    y = rng.integers(0, 3, n)
    x = np.column_stack([rng.normal(size=(n, 5)), np.eye(3)[y]])
    mu = rng.normal(size=(n, 2))
    options = ProbesOptions(permutations=5, mlp=False, mdl=False, per_unit=False, n_jobs=1)
    result = probe_label_set(mu, np.zeros((n, 2)), y, "y", x=x, options=options)
    assert result.x_accuracy < 0.45 and result.control_accuracy < 0.45
    assert "3 of the 8 columns of x are functions of the labels" in " ".join(result.notes)
    only_labels = probe_label_set(mu, np.zeros((n, 2)), y, "y", x=np.eye(3)[y], options=options)
    assert math.isnan(only_labels.x_accuracy)
    assert any("every column of x is a function of the labels" in n for n in only_labels.notes)


def test_no_labels_is_an_error():
    with pytest.raises(AnalysisError, match="labels"):
        probes(np.zeros((5, 2)), np.zeros((5, 2)), {})


def test_posteriors_are_checked_at_the_boundary():
    y = {"y": np.arange(5) % 2}
    with pytest.raises(PosteriorError, match=r"same shape \(N, D\)"):
        probes(np.zeros((5, 2)), np.zeros((5, 3)), y)
    with pytest.raises(PosteriorError, match="not finite at example 1, unit 0"):
        probes(np.array([[0.0], [np.nan], [1.0], [2.0], [3.0]]), np.zeros((5, 1)), y)


def _top_level_imports(path: Path) -> set[str]:
    names = set()
    for node in ast.parse(path.read_text()).body:
        if isinstance(node, ast.Import):
            names.update(alias.name.split(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.level == 0:
            names.add(node.module.split(".")[0])
    return names


def test_heavy_libraries_are_imported_only_inside_functions():
    for path in PACKAGE.glob("*.py"):
        assert not _top_level_imports(path) & {"sklearn", "joblib", "matplotlib"}, path.name
