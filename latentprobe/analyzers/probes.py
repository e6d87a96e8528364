"""Probe classifiers: does z predict a label of x better than chance, and by how many nats?

For each label set, probes are trained on samples z ~ q(z|x) (the verdict rests on these),
on the posterior means, on each unit alone, on the inputs x (an upper reference) and on
draws from the prior (which must come out at chance). Folds are stratified and split by
example, so no x has samples on both sides.

References
----------
Pimentel et al. (2020), "Information-theoretic probing for linguistic structure":
    I(z;y) >= H(y) - held-out cross-entropy.
Hewitt & Liang (2019), "Designing and interpreting probes with control tasks": selectivity.
Voita & Titov (2020), "Information-theoretic probing with minimum description length":
    online code length.
"""

from __future__ import annotations

import math
import warnings
from dataclasses import dataclass

import numpy as np
from joblib import Parallel, delayed
from sklearn.cluster import KMeans
from sklearn.exceptions import ConvergenceWarning
from sklearn.linear_model import LogisticRegression, Ridge
from sklearn.model_selection import KFold, StratifiedKFold
from sklearn.neural_network import MLPClassifier, MLPRegressor
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from ..errors import AnalysisError
from ..stats import Prior
from .probe_tools import (
    Z95,
    clean_labels,
    entropy_nats,
    holm,
    lda_accuracy,
    lda_accuracy_per_unit,
    least_squares_r2,
    least_squares_r2_per_unit,
    permutation_p_value,
    variance_explained,
    wilson_interval,
)
from .result import HDF5Result, quantity

MDL_FRACTIONS = (0.001, 0.002, 0.004, 0.008, 0.016, 0.032, 0.064, 0.128, 0.256, 0.512, 1.0)
CONTROL_CLUSTERS = 100
PROBABILITY_FLOOR = 1e-3  # mixed in uniformly so that no held-out label costs infinite bits
NAN = math.nan


@dataclass(frozen=True)
class ProbeConfig:
    folds: int = 5
    permutations: int = 100
    samples: int = 2
    mlp: bool = True
    control: bool = True
    mdl: bool = True
    per_unit: bool = True
    seed: int = 0
    n_jobs: int = 2


@dataclass(frozen=True)
class ProbeSetResult(HDF5Result):
    task: str = quantity("classification, or regression (scores are then R^2)")
    skipped: str = quantity("why the label set was not probed ('' when it was)")
    n_used: int = quantity("examples probed")
    n_missing: int = quantity("examples left out: label -1 or NaN")
    n_rare: int = quantity("examples left out: their class has a single member")
    n_classes: int = quantity("classes probed")
    folds: int = quantity("stratified folds used (fewer than asked when a class is small)")
    samples_per_example: int = quantity("draws z ~ q(z|x) per example for the sample probes")
    chance: float = quantity("majority-class accuracy (0 R^2 for regression)")
    accuracy: float = quantity("linear probe on samples z ~ q(z|x), held out")
    accuracy_ci95: list = quantity("95% Wilson interval on accuracy (n = examples)")
    cross_entropy_nats: float = quantity("held-out cross-entropy of the linear probe", "nats")
    mean_accuracy: float = quantity("linear probe on the posterior means")
    mlp_accuracy: float = quantity("MLP probe on samples")
    mlp_mean_accuracy: float = quantity("MLP probe on the posterior means")
    x_accuracy: float = quantity("linear probe on the inputs x (upper reference)")
    prior_accuracy: float = quantity("linear probe on draws from the prior (must be chance)")
    p_value: float = quantity("permutation test of the sample probe, (C + 1) / (n + 1)")
    p_value_min: float = quantity("smallest attainable p-value, 1 / (n + 1)")
    permutation_statistic: float = quantity(
        "held-out accuracy of the closed-form linear discriminant on samples (the statistic "
        "refitted for every permutation)"
    )
    class_entropy_nats: float = quantity("H(y), plug-in", "nats")
    mi_lower_bound_nats: float = quantity("I(z;y) >= H(y) - cross-entropy", "nats")
    mi_lower_bound_ci95: list = quantity("95% interval of the bound", "nats")
    control_accuracy: float = quantity(
        "linear probe on a control task (labels per k-means cluster of x, same label distribution)"
    )
    selectivity: float = quantity("accuracy - control_accuracy")
    mdl_bits: float = quantity("online code length of y given samples", "bits")
    uniform_bits: float = quantity("code length of y under the uniform code", "bits")
    compression: float = quantity("uniform_bits / mdl_bits")
    per_unit_accuracy: np.ndarray = quantity("1-D linear discriminant on each unit's samples")
    per_unit_p_value: np.ndarray = quantity("permutation p-value per unit")
    per_unit_p_holm: np.ndarray = quantity("Holm-corrected per-unit p-values")
    notes: list = quantity("fallbacks taken and reasons for missing figures")


@dataclass(frozen=True)
class ProbesResult:
    """One ProbeSetResult per label set."""

    label_sets: dict

    def write(self, group) -> None:
        group.attrs["result_type"] = "ProbesResult"
        for name, result in self.label_sets.items():
            result.write(group.create_group(name))

    @classmethod
    def read(cls, group) -> ProbesResult:
        return cls({name: ProbeSetResult.read(sub) for name, sub in group.items()})


# --------------------------------------------------------------------------- probes


def _classifier(family: str, seed: int):
    if family == "linear":  # C = 1 on standardised features
        return make_pipeline(StandardScaler(), LogisticRegression(C=1.0, max_iter=500))
    return make_pipeline(
        StandardScaler(),
        MLPClassifier(
            hidden_layer_sizes=(64,),
            alpha=1e-3,
            early_stopping=True,
            max_iter=200,
            random_state=seed,
        ),
    )


def _regressor(family: str, seed: int):
    if family == "linear":
        return make_pipeline(StandardScaler(), Ridge(alpha=1.0))
    return make_pipeline(
        StandardScaler(),
        MLPRegressor(
            hidden_layer_sizes=(64,),
            alpha=1e-3,
            early_stopping=True,
            max_iter=200,
            random_state=seed,
        ),
    )


def _full_proba(model, features, k: int) -> np.ndarray:
    """Probabilities over all k classes (a class absent from training gets 0), floored."""
    proba = np.zeros((len(features), k))
    proba[:, model.classes_] = model.predict_proba(features)
    return (1 - PROBABILITY_FLOOR) * proba + PROBABILITY_FLOOR / k


def _sample_rows(examples: np.ndarray, s: int) -> np.ndarray:
    return (examples[:, None] * s + np.arange(s)).ravel()


def _fold(features, y, train, test, s, family, task, k, seed):
    tr, te = _sample_rows(train, s), _sample_rows(test, s)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        if task == "regression":
            model = _regressor(family, seed).fit(features[tr], y[tr])
            return te, model.predict(features[te])
        model = _classifier(family, seed).fit(features[tr], y[tr])
        return te, _full_proba(model, features[te], k)


@dataclass(frozen=True)
class _CV:
    score: float
    example_loss: np.ndarray  # held-out cross-entropy per example (classification)


def cross_validate(
    features, y_examples, splits, s: int, family: str, task: str, k: int, seed: int, n_jobs: int = 1
) -> _CV:
    """Held-out accuracy (or R^2) of a probe; ``features`` has s rows per example."""
    y = np.repeat(y_examples, s)
    jobs = (delayed(_fold)(features, y, tr, te, s, family, task, k, seed) for tr, te in splits)
    outputs = Parallel(n_jobs=n_jobs)(jobs)
    if task == "regression":
        predicted = np.empty(len(y))
        for te, values in outputs:
            predicted[te] = values
        residual = ((y - predicted) ** 2).sum()
        return _CV(float(1 - residual / ((y - y.mean()) ** 2).sum()), np.empty(0))
    correct, loss = np.empty(len(y)), np.empty(len(y))
    for te, proba in outputs:
        correct[te] = proba.argmax(1) == y[te]
        loss[te] = -np.log(proba[np.arange(len(te)), y[te]])
    return _CV(float(correct.mean()), loss.reshape(-1, s).mean(1))


# --------------------------------------------------------------------------- pieces


def _draw(mu, logvar, s: int, rng) -> np.ndarray:
    eps = rng.standard_normal((mu.shape[0], s, mu.shape[1]))
    return (mu[:, None] + np.exp(0.5 * logvar)[:, None] * eps).reshape(-1, mu.shape[1])


def _draw_prior(prior: Prior, n: int, rng) -> np.ndarray:
    component = rng.choice(len(prior.weights), size=n, p=prior.weights)
    return prior.means[component] + np.exp(0.5 * prior.logvars[component]) * rng.standard_normal(
        (n, prior.means.shape[1])
    )


def _splits(y, folds: int, task: str, seed: int):
    splitter = (
        KFold(folds, shuffle=True, random_state=seed)
        if task == "regression"
        else StratifiedKFold(folds, shuffle=True, random_state=seed)
    )
    return list(splitter.split(np.zeros(len(y)), y if task != "regression" else None))


def _cv_statistic(z, labels, folds, s, k, task, seed, statistic):
    """A closed-form probe's held-out score, folds drawn afresh for ``labels``."""
    y_rows = np.repeat(labels, s)
    scores = []
    for tr, te in _splits(labels, folds, task, seed):
        tr_rows, te_rows = _sample_rows(tr, s), _sample_rows(te, s)
        scores.append(
            statistic(z[tr_rows], y_rows[tr_rows], z[te_rows], y_rows[te_rows], k) * len(te_rows)
        )
    return np.sum(scores, axis=0) / (len(labels) * s)


def _permutation_test(z, y, folds, s, k, cfg, rng, task) -> tuple[float, float]:
    """The sample probe's permutation test: statistic and p-value.

    The whole procedure, folds included, is rerun on every permuted labelling (folds
    stratified on the true labels alone would favour them: train and test class shares
    match). A closed-form linear probe (linear discriminant; least squares for regression)
    keeps the refits cheap.
    """
    statistic = lda_accuracy if task != "regression" else least_squares_r2
    observed = _cv_statistic(z, y, folds, s, k, task, cfg.seed, statistic)
    null = [
        _cv_statistic(z, rng.permutation(y), folds, s, k, task, cfg.seed, statistic)
        for _ in range(cfg.permutations)
    ]
    return float(observed), permutation_p_value(observed, np.array(null))


def unit_permutations(permutations: int, n_units: int, alpha: float = 0.05) -> int:
    """Enough permutations for a Holm-corrected p-value to reach ``alpha`` with D units:
    the smallest p, 1 / (n + 1), times D must fall below it (with a margin of 2)."""
    return max(10 * permutations, math.ceil(2 * n_units / alpha))


def _unit_tests(z, y, splits, s, k, cfg, rng, task):
    """Per-unit held-out accuracy (1-D closed-form probe) and permutation p-values.

    The p-values permute labels between examples and use each unit's share of variance
    explained by the label (between-class over within-class sums of squares; r^2 for a
    regression target): an O(N D) statistic, so the thousands of permutations that Holm's
    correction over D units needs stay cheap.
    """
    statistic = lda_accuracy_per_unit if task != "regression" else least_squares_r2_per_unit
    y_rows = np.repeat(y, s)
    scores = [
        statistic(
            z[_sample_rows(tr, s)],
            y_rows[_sample_rows(tr, s)],
            z[_sample_rows(te, s)],
            y_rows[_sample_rows(te, s)],
            k,
        )
        * len(te)
        * s
        for tr, te in splits
    ]
    accuracy = np.sum(scores, axis=0) / (len(y) * s)
    explained = variance_explained(z, s, k, task)
    observed = explained(y)
    count = unit_permutations(cfg.permutations, z.shape[1])
    exceed = np.zeros(z.shape[1])
    for _ in range(count):
        exceed += explained(rng.permutation(y)) >= observed - 1e-12
    return accuracy, (exceed + 1) / (count + 1)


def control_labels(x, y, rng, seed: int) -> np.ndarray:
    """Hewitt & Liang's control task for VAEs: each k-means cluster of x gets one label drawn
    from y's distribution, so a probe solves it only if z tells which x it came from."""
    clusters = min(CONTROL_CLUSTERS, max(2, len(x) // 10))
    assignment = KMeans(clusters, n_init=1, random_state=seed).fit_predict(
        StandardScaler().fit_transform(x)
    )
    cluster_label = rng.choice(y, size=clusters)
    return cluster_label[assignment]


def mdl_code_length(z, y, k: int, rng, seed: int) -> tuple[float, float]:
    """Online code length in bits (Voita & Titov 2020) and the uniform code's length.

    Examples in a fixed random order; blocks end at 0.1%, 0.2%, 0.4%, ... 100% of them. The
    first block is sent with the uniform code; each later block with a linear probe trained
    from scratch on everything before it (label frequencies when that holds one class).
    """
    order = rng.permutation(len(y))
    z, y = z[order], y[order]
    ends = sorted({max(1, int(round(f * len(y)))) for f in MDL_FRACTIONS})
    bits = ends[0] * math.log2(k)
    for start, stop in zip(ends[:-1], ends[1:], strict=True):
        if len(np.unique(y[:start])) < 2:
            counts = np.bincount(y[:start], minlength=k) + 1.0
            proba = np.tile(counts / counts.sum(), (stop - start, 1))
        else:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", ConvergenceWarning)
                model = _classifier("linear", seed).fit(z[:start], y[:start])
            proba = _full_proba(model, z[start:stop], k)
        bits -= np.log2(proba[np.arange(stop - start), y[start:stop]]).sum()
    return float(bits), float(len(y) * math.log2(k))


# --------------------------------------------------------------------------- one label set


def _prepare(labels, n: int, name: str, folds: int):
    """Rows kept, labels, task, counts left out, folds to use, notes; or a reason to skip."""
    rows, y, task = clean_labels(labels, n, name)
    notes, n_missing, n_rare = [], n - len(rows), 0
    if task == "classification":
        counts = np.bincount(y)
        rare = counts[y] < 2
        if rare.any():
            n_rare = int(rare.sum())
            notes.append(f"{n_rare} examples of classes with a single member left out")
            rows, y = rows[~rare], np.unique(y[~rare], return_inverse=True)[1]
        if len(np.unique(y)) < 2:
            return rows, y, task, n_missing, n_rare, 0, notes, "fewer than two classes"
        smallest = int(np.bincount(y).min())
        if smallest < folds:
            notes.append(
                f"{smallest} examples in the smallest class: {smallest} folds, not {folds}"
            )
            folds = smallest
    elif len(rows) < folds or np.ptp(y) == 0:
        return rows, y, task, n_missing, n_rare, 0, notes, "too few or constant targets"
    return rows, y, task, n_missing, n_rare, folds, notes, ""


def _skipped(task, reason, n_missing, n_rare, notes, d) -> ProbeSetResult:
    nan_units = np.full(d, np.nan)
    return ProbeSetResult(
        task,
        reason,
        0,
        n_missing,
        n_rare,
        0,
        0,
        0,
        NAN,
        NAN,
        [NAN, NAN],
        NAN,
        NAN,
        NAN,
        NAN,
        NAN,
        NAN,
        NAN,
        NAN,
        NAN,
        NAN,
        NAN,
        [NAN, NAN],
        NAN,
        NAN,
        NAN,
        NAN,
        NAN,
        nan_units,
        nan_units,
        nan_units,
        notes + [f"not probed: {reason}"],
    )


def probe_label_set(
    mu,
    logvar,
    labels,
    name: str,
    *,
    x=None,
    prior: Prior | None = None,
    config: ProbeConfig | None = None,
) -> ProbeSetResult:
    """All probes for one label set; see ``probes``."""
    cfg = config or ProbeConfig()
    rows, y, task, n_missing, n_rare, folds, notes, reason = _prepare(
        labels, len(mu), name, cfg.folds
    )
    if reason:
        return _skipped(task, reason, n_missing, n_rare, notes, mu.shape[1])
    rng = np.random.default_rng(cfg.seed)
    mu, logvar = mu[rows], logvar[rows]
    s, n = cfg.samples, len(y)
    k = int(y.max()) + 1 if task == "classification" else 0
    z = _draw(mu, logvar, s, rng)
    splits = _splits(y, folds, task, cfg.seed)

    def cv(features, samples=1, family="linear", labels=y, split=splits):
        return cross_validate(
            features, labels, split, samples, family, task, k, cfg.seed, cfg.n_jobs
        )

    main = cv(z, s)
    figures = {
        "accuracy": main.score,
        "mean_accuracy": cv(mu).score,
        "mlp_accuracy": cv(z, s, "mlp").score if cfg.mlp else NAN,
        "mlp_mean_accuracy": cv(mu, 1, "mlp").score if cfg.mlp else NAN,
        "prior_accuracy": cv(
            _draw_prior((prior or Prior.standard_normal()).expanded(mu.shape[1]), n * s, rng), s
        ).score,
        "x_accuracy": cv(np.asarray(x, dtype=np.float64)[rows].reshape(n, -1)).score
        if x is not None
        else NAN,
    }
    if x is None:
        notes.append("no inputs x given: x reference and control task left out")
    return _assemble(
        task,
        y,
        k,
        n,
        n_missing,
        n_rare,
        folds,
        s,
        main,
        figures,
        z,
        mu,
        x,
        rows,
        splits,
        cfg,
        rng,
        notes,
    )


def _assemble(
    task,
    y,
    k,
    n,
    n_missing,
    n_rare,
    folds,
    s,
    main,
    figures,
    z,
    mu,
    x,
    rows,
    splits,
    cfg,
    rng,
    notes,
) -> ProbeSetResult:
    statistic, p = _permutation_test(z, y, folds, s, k, cfg, rng, task)
    unit_accuracy, unit_p = (
        _unit_tests(z, y, splits, s, k, cfg, rng, task) if cfg.per_unit else (None, None)
    )
    nan_units = np.full(mu.shape[1], np.nan)
    if task == "regression":
        notes.append(
            "regression target: scores are R^2; information bound, control task and "
            "MDL apply to classes only"
        )
        info = dict(
            chance=0.0,
            accuracy_ci95=[NAN, NAN],
            cross_entropy_nats=NAN,
            class_entropy_nats=NAN,
            mi_lower_bound_nats=NAN,
            mi_lower_bound_ci95=[NAN, NAN],
            control_accuracy=NAN,
            selectivity=NAN,
            mdl_bits=NAN,
            uniform_bits=NAN,
            compression=NAN,
        )
    else:
        info = _classification_figures(y, k, n, main, z, s, x, rows, folds, cfg, rng, notes)
    return ProbeSetResult(
        task=task,
        skipped="",
        n_used=n,
        n_missing=n_missing,
        n_rare=n_rare,
        n_classes=k,
        folds=folds,
        samples_per_example=s,
        **figures,
        **info,
        p_value=p,
        p_value_min=1 / (cfg.permutations + 1),
        permutation_statistic=statistic,
        per_unit_accuracy=unit_accuracy if unit_accuracy is not None else nan_units,
        per_unit_p_value=unit_p if unit_p is not None else nan_units,
        per_unit_p_holm=holm(unit_p) if unit_p is not None else nan_units,
        notes=notes,
    )


def _classification_figures(y, k, n, main, z, s, x, rows, folds, cfg, rng, notes) -> dict:
    entropy = entropy_nats(y)
    cross_entropy = float(main.example_loss.mean())
    half = Z95 * float(main.example_loss.std(ddof=1)) / math.sqrt(n)
    bound = entropy - cross_entropy
    figures = dict(
        chance=float(np.bincount(y).max() / n),
        accuracy_ci95=list(wilson_interval(main.score * n, n)),
        cross_entropy_nats=cross_entropy,
        class_entropy_nats=entropy,
        mi_lower_bound_nats=bound,
        mi_lower_bound_ci95=[bound - half, bound + half],
        control_accuracy=NAN,
        selectivity=NAN,
        mdl_bits=NAN,
        uniform_bits=NAN,
        compression=NAN,
    )
    if cfg.control and x is not None:
        control = control_labels(
            np.asarray(x, dtype=np.float64)[rows].reshape(n, -1), y, rng, cfg.seed
        )
        smallest = int(np.bincount(control).min(initial=n)) if len(np.unique(control)) > 1 else 0
        if smallest >= 2:
            splits = _splits(control, min(folds, smallest), "classification", cfg.seed)
            accuracy = cross_validate(
                z,
                control,
                splits,
                s,
                "linear",
                "classification",
                int(control.max()) + 1,
                cfg.seed,
                cfg.n_jobs,
            ).score
            figures.update(control_accuracy=accuracy, selectivity=main.score - accuracy)
        else:
            notes.append("control task left out: its labels have too few members per class")
    if cfg.mdl:
        bits, uniform = mdl_code_length(z[::s], y, k, rng, cfg.seed)
        figures.update(mdl_bits=bits, uniform_bits=uniform, compression=uniform / bits)
    return figures


def probes(
    mu,
    logvar,
    labels: dict,
    *,
    x=None,
    prior: Prior | None = None,
    config: ProbeConfig | None = None,
) -> ProbesResult:
    """Probe classifiers for every label set.

    Parameters
    ----------
    mu, logvar : arrays of shape (N, D)
    labels : dict mapping a label-set name to an array of shape (N,); -1 or NaN mark a
        missing label. Integer-valued labels (at most 100 values) are classes; other
        numbers a regression target (ridge, R^2).
    x : array of shape (N, ...), optional
        The inputs, for the upper reference probe and the control task.
    prior : Prior, optional
        For the reference probe on draws from the prior (standard normal by default).
    config : ProbeConfig
        Folds (5), permutations (100), samples per example (2), which parts to run, seed and
        joblib workers.

    Returns
    -------
    ProbesResult with one ProbeSetResult per label set; information in nats, code lengths
    in bits.
    """
    mu, logvar = np.asarray(mu, dtype=np.float64), np.asarray(logvar, dtype=np.float64)
    if not labels:
        raise AnalysisError("probes need labels: extract them with the data or pass --labels")
    return ProbesResult(
        {
            name: probe_label_set(mu, logvar, y, name, x=x, prior=prior, config=config)
            for name, y in labels.items()
        }
    )
