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
from dataclasses import dataclass, field, fields

import numpy as np

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
    from sklearn.linear_model import LogisticRegression
    from sklearn.neural_network import MLPClassifier
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

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
    from sklearn.linear_model import Ridge
    from sklearn.neural_network import MLPRegressor
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

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
    from sklearn.exceptions import ConvergenceWarning

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
    from joblib import Parallel, delayed

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
    from sklearn.model_selection import KFold, StratifiedKFold

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
    from sklearn.cluster import KMeans
    from sklearn.preprocessing import StandardScaler

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
    from sklearn.exceptions import ConvergenceWarning

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


@dataclass
class _LabelSet:
    """One label set, cleaned: the rows kept, their labels and what was left out."""

    task: str
    rows: np.ndarray
    y: np.ndarray
    folds: int
    n_missing: int
    n_rare: int = 0
    notes: list = field(default_factory=list)
    skip_reason: str = ""

    @property
    def n(self) -> int:
        return len(self.y)

    @property
    def k(self) -> int:
        return int(self.y.max()) + 1 if self.task == "classification" else 0


def _prepare(labels, n: int, name: str, folds: int) -> _LabelSet:
    """Drop missing labels and single-member classes; fewer folds when a class is small."""
    rows, y, task = clean_labels(labels, n, name)
    ls = _LabelSet(task, rows, y, folds, n_missing=n - len(rows))
    if task == "regression":
        if len(rows) < folds or np.ptp(y) == 0:
            ls.skip_reason = "too few or constant targets"
        return ls
    rare = np.bincount(y)[y] < 2
    if rare.any():
        ls.n_rare = int(rare.sum())
        ls.notes.append(f"{ls.n_rare} examples of classes with a single member left out")
        ls.rows, ls.y = rows[~rare], np.unique(y[~rare], return_inverse=True)[1]
    if len(np.unique(ls.y)) < 2:
        ls.skip_reason = "fewer than two classes"
        return ls
    smallest = int(np.bincount(ls.y).min())
    if smallest < folds:
        ls.notes.append(f"{smallest} examples in the smallest class: {smallest} folds, not {folds}")
        ls.folds = smallest
    return ls


def _skipped(ls: _LabelSet, n_units: int) -> ProbeSetResult:
    values = {}
    for f in fields(ProbeSetResult):
        if f.type == "float":
            values[f.name] = NAN
        elif f.type == "list":
            values[f.name] = [NAN, NAN]
        elif f.type == "np.ndarray":
            values[f.name] = np.full(n_units, np.nan)
    return ProbeSetResult(
        **{
            **values,
            "task": ls.task,
            "skipped": ls.skip_reason,
            "n_used": 0,
            "n_missing": ls.n_missing,
            "n_rare": ls.n_rare,
            "n_classes": 0,
            "folds": 0,
            "samples_per_example": 0,
            "notes": ls.notes + [f"not probed: {ls.skip_reason}"],
        }
    )


@dataclass
class _Probing:
    """Everything the probes of one label set share: data, draws, folds, settings."""

    ls: _LabelSet
    mu: np.ndarray
    z: np.ndarray
    x: np.ndarray | None
    splits: list
    cfg: ProbeConfig
    rng: np.random.Generator

    def cv(self, features, samples: int = 1, family: str = "linear") -> _CV:
        return cross_validate(
            features,
            self.ls.y,
            self.splits,
            samples,
            family,
            self.ls.task,
            self.ls.k,
            self.cfg.seed,
            self.cfg.n_jobs,
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
    ls = _prepare(labels, len(mu), name, cfg.folds)
    if ls.skip_reason:
        return _skipped(ls, mu.shape[1])
    rng = np.random.default_rng(cfg.seed)
    mu = mu[ls.rows]
    inputs = None if x is None else np.asarray(x, dtype=np.float64)[ls.rows].reshape(ls.n, -1)
    run = _Probing(
        ls,
        mu,
        _draw(mu, logvar[ls.rows], cfg.samples, rng),
        inputs,
        _splits(ls.y, ls.folds, ls.task, cfg.seed),
        cfg,
        rng,
    )
    main = run.cv(run.z, cfg.samples)
    figures = _reference_probes(run, prior, main)
    if ls.task == "regression":
        ls.notes.append(
            "regression target: scores are R^2; information bound, control task "
            "and MDL apply to classes only"
        )
        figures.update(chance=0.0)
    else:
        figures.update(_classification_figures(run, main))
    return _result(run, main, figures)


def _reference_probes(run: _Probing, prior: Prior | None, main: _CV) -> dict:
    s, cfg = run.cfg.samples, run.cfg
    prior = (prior or Prior.standard_normal()).expanded(run.mu.shape[1])
    if run.x is None:
        run.ls.notes.append("no inputs x given: x reference and control task left out")
    return {
        "accuracy": main.score,
        "mean_accuracy": run.cv(run.mu).score,
        "mlp_accuracy": run.cv(run.z, s, "mlp").score if cfg.mlp else NAN,
        "mlp_mean_accuracy": run.cv(run.mu, 1, "mlp").score if cfg.mlp else NAN,
        "prior_accuracy": run.cv(_draw_prior(prior, run.ls.n * s, run.rng), s).score,
        "x_accuracy": run.cv(run.x).score if run.x is not None else NAN,
    }


def _result(run: _Probing, main: _CV, figures: dict) -> ProbeSetResult:
    ls, cfg, s = run.ls, run.cfg, run.cfg.samples
    statistic, p = _permutation_test(run.z, ls.y, ls.folds, s, ls.k, cfg, run.rng, ls.task)
    nan_units = np.full(run.mu.shape[1], np.nan)
    unit_accuracy, unit_p = (
        _unit_tests(run.z, ls.y, run.splits, s, ls.k, cfg, run.rng, ls.task)
        if cfg.per_unit
        else (nan_units, nan_units)
    )
    defaults = dict(
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
    return ProbeSetResult(
        task=ls.task,
        skipped="",
        n_used=ls.n,
        n_missing=ls.n_missing,
        n_rare=ls.n_rare,
        n_classes=ls.k,
        folds=ls.folds,
        samples_per_example=s,
        **{**defaults, **figures},
        p_value=p,
        p_value_min=1 / (cfg.permutations + 1),
        permutation_statistic=statistic,
        per_unit_accuracy=unit_accuracy,
        per_unit_p_value=unit_p,
        per_unit_p_holm=holm(unit_p) if cfg.per_unit else nan_units,
        notes=ls.notes,
    )


def _classification_figures(run: _Probing, main: _CV) -> dict:
    """Chance, interval, information bound, control task and MDL for class labels."""
    y, n = run.ls.y, run.ls.n
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
    )
    if run.cfg.control and run.x is not None:
        figures.update(_control_task(run, main))
    if run.cfg.mdl:
        bits, uniform = mdl_code_length(
            run.z[:: run.cfg.samples], y, run.ls.k, run.rng, run.cfg.seed
        )
        figures.update(mdl_bits=bits, uniform_bits=uniform, compression=uniform / bits)
    return figures


def _control_task(run: _Probing, main: _CV) -> dict:
    labels = control_labels(run.x, run.ls.y, run.rng, run.cfg.seed)
    labels = np.unique(labels, return_inverse=True)[1]
    counts = np.bincount(labels)
    if len(counts) < 2 or counts.min() < 2:
        run.ls.notes.append("control task left out: its labels have too few members per class")
        return {}
    splits = _splits(labels, min(run.ls.folds, int(counts.min())), "classification", run.cfg.seed)
    accuracy = cross_validate(
        run.z,
        labels,
        splits,
        run.cfg.samples,
        "linear",
        "classification",
        len(counts),
        run.cfg.seed,
        run.cfg.n_jobs,
    ).score
    return {"control_accuracy": accuracy, "selectivity": main.score - accuracy}


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
