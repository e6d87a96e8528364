"""Running the probes: every probe, reference and test for each label set, in a fixed order
so that one seed reproduces every number."""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import torch

from ... import posteriors
from ...data import is_token_ids
from ...errors import AnalysisError
from ...gaussian import as_posteriors
from ...types import Prior
from .crossval import (
    CVScore,
    cross_validate,
    make_splits,
    most_permutations,
    permutation_test,
    unit_p_values,
    unit_scores,
)
from .discriminants import holm
from .information import bound_figures, control_task, mdl_figures
from .labels import LabelSet, label_columns, prepare
from .options import DEFAULTS, ProbesOptions
from .result import ProbeSetResult, ProbesResult, no_bound, no_control, no_mdl, no_units

NAN = math.nan
NO_X_NOTE = "no inputs x given: x reference and control task left out"
TOKEN_X_NOTE = (
    "the inputs x are token ids, not numeric features: x reference and control task left out"
)
LABEL_COLUMNS_NOTE = (
    "{} of the {} columns of x are functions of the labels (a condition label packed into x):"
    " x reference and control task use the others"
)
ALL_LABEL_COLUMNS_NOTE = (
    "every column of x is a function of the labels: x reference and control task left out"
)
REGRESSION_NOTE = (
    "regression target: scores are R^2; information bound, control task "
    "and MDL apply to classes only"
)


def draw_posterior(q: posteriors.Normal, draws: int, rng) -> np.ndarray:
    """``draws`` samples z ~ q(z|x) per example, shape (N * draws, D), example-major."""
    return q.sample(draws, rng)[0].cpu().numpy()


def _reference_inputs(x, ls: LabelSet) -> tuple[np.ndarray | None, tuple[str, ...]]:
    """The inputs x of the label set's examples as features (n, F) for the x reference and
    the control task, or None, with the notes that say what was left out and why."""
    if x is None:
        return None, (NO_X_NOTE,)
    if is_token_ids(np.asarray(x).dtype):
        return None, (TOKEN_X_NOTE,)  # ids as numbers would make a meaningless reference
    inputs = np.asarray(x, dtype=np.float64)[ls.rows].reshape(ls.n, -1)
    packed = label_columns(inputs, ls)
    if not packed.any():
        return inputs, ()
    if packed.all():
        return None, (ALL_LABEL_COLUMNS_NOTE,)
    return inputs[:, ~packed], (LABEL_COLUMNS_NOTE.format(int(packed.sum()), inputs.shape[1]),)


@dataclass(frozen=True)
class _Probing:
    """What the probes of one label set share: the label set, the posterior means (n, D)
    and samples z (n * draws, D) of its examples, the inputs flattened to (n, F) or None,
    the folds, the options, the seed and the random generator (drawn from in a fixed
    order)."""

    ls: LabelSet
    mu: np.ndarray
    z: np.ndarray
    x: np.ndarray | None
    splits: list
    options: ProbesOptions
    seed: int
    rng: np.random.Generator
    label_sets: int = 1
    x_notes: tuple[str, ...] = ()

    @classmethod
    def start(cls, ls: LabelSet, q, x, options, seed: int, label_sets: int) -> _Probing:
        rng = np.random.default_rng(seed)
        q = q.rows(torch.as_tensor(ls.rows, device=q.mu.device))
        mu = q.mu.cpu().numpy()
        z = draw_posterior(q, options.draws_per_example, rng)
        inputs, x_notes = _reference_inputs(x, ls)
        splits = make_splits(ls.y, ls.folds, ls.task, seed)
        return cls(ls, mu, z, inputs, splits, options, seed, rng, label_sets, x_notes)

    @property
    def draws(self) -> int:
        return self.options.draws_per_example

    def cv(self, features, draws: int = 1, family: str = "linear") -> CVScore:
        ls = self.ls
        settings = dict(task=ls.task, k=ls.k, seed=self.seed, n_jobs=self.options.n_jobs)
        return cross_validate(features, ls.y, self.splits, draws=draws, family=family, **settings)


def _reference_probes(run: _Probing, prior: Prior | None, main: CVScore) -> tuple[dict, list]:
    """The sample probe's score beside those on the means, with an MLP, on draws from the
    prior (chance expected) and on the inputs x (an upper reference)."""
    draws, mlp = run.draws, run.options.mlp
    prior = (prior or Prior.standard_normal()).expanded(run.mu.shape[1])
    figures = {
        "accuracy": main.score,
        "mean_accuracy": run.cv(run.mu).score,
        "mlp_accuracy": run.cv(run.z, draws, "mlp").score if mlp else NAN,
        "mlp_mean_accuracy": run.cv(run.mu, 1, "mlp").score if mlp else NAN,
        "prior_accuracy": run.cv(prior.sample(run.ls.n * draws, run.rng), draws).score,
        "x_accuracy": run.cv(run.x).score if run.x is not None else NAN,
    }
    return figures, list(run.x_notes)


def _control(run: _Probing, main: CVScore) -> tuple[dict, list]:
    if not run.options.control or run.x is None:
        return no_control(), []
    ls, options = run.ls, run.options
    settings = dict(folds=ls.folds, draws=run.draws, seed=run.seed, n_jobs=options.n_jobs)
    accuracy, notes = control_task(run.z, run.x, ls.y, run.rng, **settings)
    return {"control_accuracy": accuracy, "selectivity": main.score - accuracy}, notes


def _class_figures(run: _Probing, main: CVScore) -> tuple[dict, list]:
    """Chance, interval, information bound, control task and MDL for class labels."""
    ls = run.ls
    control, notes = _control(run, main)
    first_draws = run.z[:: run.draws]
    mdl = mdl_figures(first_draws, ls.y, ls.k, run.rng, run.seed) if run.options.mdl else no_mdl()
    return {**bound_figures(ls.y, main), **control, **mdl}, notes


def _task_figures(run: _Probing, main: CVScore) -> tuple[dict, list]:
    if run.ls.task == "classification":
        return _class_figures(run, main)
    return {"chance": 0.0, **no_bound(), **no_control(), **no_mdl()}, [REGRESSION_NOTE]


def _unit_figures(run: _Probing) -> dict:
    ls = run.ls
    if not run.options.per_unit:
        return no_units(run.mu.shape[1])
    accuracy = unit_scores(run.z, ls.y, run.splits, task=ls.task, k=ls.k, draws=run.draws)
    options = run.options
    settings = dict(task=ls.task, k=ls.k, draws=run.draws, permutations=options.permutations)
    settings.update(count=options.unit_permutations)
    p = unit_p_values(run.z, ls.y, run.rng, **settings)
    return {"per_unit_accuracy": accuracy, "per_unit_p_value": p, "per_unit_p_holm": holm(p)}


def _significance(run: _Probing) -> dict:
    """The sample probe's permutation test, then the one-unit probes and their tests."""
    ls, permutations = run.ls, run.options.permutations
    design = dict(task=ls.task, k=ls.k, folds=ls.folds, draws=run.draws, seed=run.seed)
    design.update(permutations=permutations, label_sets=run.label_sets)
    statistic, p, count = permutation_test(run.z, ls.y, run.rng, **design)
    tests = {
        "permutation_statistic": statistic,
        "p_value": p,
        "p_value_min": 1 / (most_permutations(permutations, run.label_sets) + 1),
        "permutations_run": count,
    }
    return {**tests, **_unit_figures(run)}


def _result(run: _Probing, figures: dict, notes: list) -> ProbeSetResult:
    ls = run.ls
    return ProbeSetResult(
        task=ls.task,
        skipped="",
        n_used=ls.n,
        n_missing=ls.n_missing,
        n_rare=ls.n_rare,
        n_classes=ls.k,
        folds=ls.folds,
        draws_per_example=run.draws,
        **figures,
        notes=notes,
    )


def probe_label_set(
    mu,
    logvar,
    labels,
    name: str,
    *,
    x=None,
    prior: Prior | None = None,
    options: ProbesOptions | None = None,
    seed: int = 0,
    label_sets: int = 1,
    family: str = "normal",
    scale_tril=None,
) -> ProbeSetResult:
    """All probes for one label set of shape (N,); see ``probes`` (``label_sets``: how many
    label sets are tested together, for the permutation count Holm's correction needs)."""
    q = posteriors.of(family, *as_posteriors(mu, logvar), scale_tril)
    options = options or DEFAULTS
    ls = prepare(labels, q.n, name, options.folds)
    if ls.skip_reason:
        counts = dict(n_missing=ls.n_missing, n_rare=ls.n_rare, n_units=q.mu.shape[1])
        return ProbeSetResult.not_probed(ls.task, ls.skip_reason, notes=ls.notes, **counts)
    run = _Probing.start(ls, q, x, options, seed, label_sets)
    main = run.cv(run.z, run.draws)
    references, reference_notes = _reference_probes(run, prior, main)
    task_figures, task_notes = _task_figures(run, main)
    figures = {**references, **task_figures, **_significance(run)}
    return _result(run, figures, [*ls.notes, *reference_notes, *task_notes])


def probes(
    mu,
    logvar,
    labels: dict,
    *,
    x=None,
    prior: Prior | None = None,
    options: ProbesOptions | None = None,
    seed: int = 0,
    family: str = "normal",
    scale_tril=None,
) -> ProbesResult:
    """Probe classifiers for every label set: does z predict a label of x better than
    chance, and by how many nats?

    For each label set, probes are trained on samples z ~ q(z|x) (the verdict rests on
    these), on the posterior means, on each unit alone, on the inputs x (an upper
    reference) and on draws from the prior (which must come out at chance). Folds are
    stratified and split by example, so no x has samples on both sides.

    Parameters
    ----------
    mu, logvar : arrays of shape (N, D)
        Posterior means and log-variances (natural log).
    family, scale_tril : the posterior family the samples are drawn from
        (``posteriors.FAMILIES``) and, for a full covariance, its Cholesky factors.
    labels : dict mapping a label-set name to an array of shape (N,); -1 or NaN mark a
        missing label. Integer-valued labels (at most 100 values) are classes; other
        numbers a regression target (ridge, R^2).
    x : array of shape (N, ...), optional
        The inputs, for the upper reference probe and the control task.
    prior : Prior, optional
        For the reference probe on draws from the prior (standard normal by default).
    options : ProbesOptions, optional
        Folds, permutations, draws per example, which parts to run, joblib workers.
    seed : int
        Seeds the draws, the folds, the permutations and the MLPs.

    Returns
    -------
    ProbesResult with one ProbeSetResult per label set; information in nats, code lengths
    in bits. Raises ``AnalysisError`` when ``labels`` is empty.

    References
    ----------
    Pimentel et al. (2020), "Information-theoretic probing for linguistic structure".
    Hewitt & Liang (2019), "Designing and interpreting probes with control tasks".
    Voita & Titov (2020), "Information-theoretic probing with minimum description length".
    Holm (1979), "A simple sequentially rejective multiple test procedure".
    """
    mu, logvar = np.asarray(mu, dtype=np.float64), np.asarray(logvar, dtype=np.float64)
    if not labels:
        raise AnalysisError("probes need labels: extract them with the data or pass --labels")
    settings = dict(x=x, prior=prior, options=options, seed=seed, label_sets=len(labels))
    settings.update(family=family, scale_tril=scale_tril)
    return ProbesResult(
        {name: probe_label_set(mu, logvar, y, name, **settings) for name, y in labels.items()}
    )
