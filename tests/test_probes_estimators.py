"""The scikit-learn probes (probes.estimators)."""

from __future__ import annotations

import numpy as np

from latentprobe.analyzers.probes.estimators import (
    PROBABILITY_FLOOR,
    classifier,
    fit_quietly,
    full_proba,
    regressor,
)


def test_full_proba_covers_classes_absent_from_training_and_is_floored():
    rng = np.random.default_rng(0)
    y = np.repeat([0, 2], 50)
    z = y[:, None] + rng.normal(size=(100, 1)) * 0.1
    model = fit_quietly(classifier("linear", 0), z, y)
    proba = full_proba(model, np.array([[0.0], [2.0]]), 3)
    assert proba.shape == (2, 3)
    np.testing.assert_allclose(proba.sum(1), 1.0)
    np.testing.assert_allclose(proba[:, 1], PROBABILITY_FLOOR / 3)
    assert proba[0].argmax() == 0 and proba[1].argmax() == 2
    assert proba.min() >= PROBABILITY_FLOOR / 3


def test_families_and_seeds():
    assert type(classifier("linear", 0)[-1]).__name__ == "LogisticRegression"
    assert type(regressor("linear", 0)[-1]).__name__ == "Ridge"
    mlp = classifier("mlp", 7)[-1]
    assert mlp.random_state == 7 and mlp.hidden_layer_sizes == (64,)
    assert regressor("mlp", 3)[-1].random_state == 3
