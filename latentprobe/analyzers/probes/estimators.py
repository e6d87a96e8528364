"""The trained probes: scikit-learn pipelines that standardise the features, then fit a
linear model (logistic regression, C = 1; ridge, alpha = 1) or an MLP with one hidden layer
of 64 units. scikit-learn is imported inside the functions, when a probe is fitted."""

from __future__ import annotations

import warnings

import numpy as np

PROBABILITY_FLOOR = 1e-3  # mixed in uniformly so that no held-out label costs infinite bits


def _mlp_settings(seed: int) -> dict:
    return dict(
        hidden_layer_sizes=(64,), alpha=1e-3, early_stopping=True, max_iter=200, random_state=seed
    )


def classifier(family: str, seed: int):
    """An unfitted classifier: ``family`` is "linear" or "mlp" (seeded by ``seed``)."""
    from sklearn.linear_model import LogisticRegression
    from sklearn.neural_network import MLPClassifier
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    if family == "linear":  # C = 1 on standardised features
        return make_pipeline(StandardScaler(), LogisticRegression(C=1.0, max_iter=500))
    return make_pipeline(StandardScaler(), MLPClassifier(**_mlp_settings(seed)))


def regressor(family: str, seed: int):
    """An unfitted regressor: ``family`` is "linear" (ridge) or "mlp" (seeded by ``seed``)."""
    from sklearn.linear_model import Ridge
    from sklearn.neural_network import MLPRegressor
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    if family == "linear":
        return make_pipeline(StandardScaler(), Ridge(alpha=1.0))
    return make_pipeline(StandardScaler(), MLPRegressor(**_mlp_settings(seed)))


def fit_quietly(model, features: np.ndarray, y: np.ndarray):
    """``model.fit(features, y)`` without convergence warnings (a probe that stops early is
    still a probe; its held-out score says how good it is)."""
    from sklearn.exceptions import ConvergenceWarning

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        return model.fit(features, y)


def full_proba(model, features: np.ndarray, k: int) -> np.ndarray:
    """Probabilities of shape (len(features), k) over all k classes (a class absent from
    training gets 0 before the floor), mixed with PROBABILITY_FLOOR of the uniform."""
    proba = np.zeros((len(features), k))
    proba[:, model.classes_] = model.predict_proba(features)
    return (1 - PROBABILITY_FLOOR) * proba + PROBABILITY_FLOOR / k
