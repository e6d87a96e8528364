"""The probes' results: one ``ProbeSetResult`` per label set, gathered in a ``ProbesResult``.

A figure that was not computed (a part switched off, a regression target, no inputs x, a
label set not probed) is NaN; the ``no_*`` builders below give each group of them.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from ..result import Result, quantity

NAN = math.nan


@dataclass(frozen=True)
class ProbeSetResult(Result):
    """The probes of one label set. Accuracies are shares of held-out samples (R^2 for a
    regression target); information in nats, code lengths in bits; per-unit arrays have
    shape (D,)."""

    task: str = quantity("classification, or regression (scores are then R^2)")
    skipped: str = quantity("why the label set was not probed ('' when it was)")
    n_used: int = quantity("examples probed")
    n_missing: int = quantity("examples left out: label -1 or NaN")
    n_rare: int = quantity("examples left out: their class has a single member")
    n_classes: int = quantity("classes probed")
    folds: int = quantity("stratified folds used (fewer than asked when a class is small)")
    draws_per_example: int = quantity("draws z ~ q(z|x) per example for the sample probes")
    chance: float = quantity("majority-class accuracy (0 R^2 for regression)")
    accuracy: float = quantity("linear probe on samples z ~ q(z|x), held out")
    accuracy_ci95: list[float] = quantity("95% Wilson interval on accuracy (n = examples)")
    cross_entropy_nats: float = quantity("held-out cross-entropy of the linear probe", "nats")
    mean_accuracy: float = quantity("linear probe on the posterior means")
    mlp_accuracy: float = quantity("MLP probe on samples")
    mlp_mean_accuracy: float = quantity("MLP probe on the posterior means")
    x_accuracy: float = quantity("linear probe on the inputs x (upper reference)")
    prior_accuracy: float = quantity("linear probe on draws from the prior (must be chance)")
    p_value: float = quantity(
        "sequential permutation test of the sample probe (Besag & Clifford 1991): 10 / L "
        "when the 10th permutation scoring at least the observed value came at the L-th, "
        "else (C + 1) / (n + 1) after all n"
    )
    p_value_min: float = quantity("smallest attainable p-value, 1 / (n + 1)")
    permutation_statistic: float = quantity(
        "held-out accuracy of the closed-form linear discriminant on samples (the statistic "
        "refitted for every permutation)"
    )
    class_entropy_nats: float = quantity("H(y), plug-in", "nats")
    mi_lower_bound_nats: float = quantity(
        "I(z;y) >= this: the lower end of mi_lower_bound_ci95, at least 0", "nats"
    )
    mi_lower_bound_ci95: list[float] = quantity(
        "95% interval of H(y) - held-out cross-entropy (below I(z;y) in expectation)", "nats"
    )
    control_accuracy: float = quantity(
        "linear probe on a control task (labels per k-means cluster of x, same label distribution)"
    )
    selectivity: float = quantity("accuracy - control_accuracy")
    mdl_bits: float = quantity("online code length of y given samples", "bits")
    uniform_bits: float = quantity("code length of y under the uniform code", "bits")
    compression: float = quantity("uniform_bits / mdl_bits")
    per_unit_accuracy: np.ndarray = quantity(
        "1-D linear discriminant on each unit's samples, held out", per="unit"
    )
    per_unit_p_value: np.ndarray = quantity("permutation p-value per unit", per="unit")
    per_unit_p_holm: np.ndarray = quantity("Holm-corrected per-unit p-values", per="unit")
    notes: list[str] = quantity("fallbacks taken and reasons for missing figures")
    permutations_run: int = quantity(
        "permutations the sequential test ran (0 in reports from before it)", default=0
    )

    @classmethod
    def not_probed(
        cls, task: str, reason: str, *, n_missing: int, n_rare: int, n_units: int, notes=()
    ) -> ProbeSetResult:
        """A label set that was not probed: zero counts, every figure NaN (per-unit arrays
        of ``n_units`` NaNs), and the reason in ``skipped`` and in the last note."""
        return cls(
            task=task,
            skipped=reason,
            n_used=0,
            n_missing=n_missing,
            n_rare=n_rare,
            n_classes=0,
            folds=0,
            draws_per_example=0,
            **no_scores(),
            **no_bound(),
            **no_control(),
            **no_mdl(),
            **no_units(n_units),
            notes=[*notes, f"not probed: {reason}"],
        )


@dataclass(frozen=True)
class ProbesResult(Result):
    """The probes of every label set."""

    label_sets: dict[str, ProbeSetResult] = quantity("the probes of each label set, by name")


def no_scores() -> dict:
    """The probes' scores and permutation test, none computed."""
    return dict(
        chance=NAN,
        accuracy=NAN,
        mean_accuracy=NAN,
        mlp_accuracy=NAN,
        mlp_mean_accuracy=NAN,
        x_accuracy=NAN,
        prior_accuracy=NAN,
        p_value=NAN,
        p_value_min=NAN,
        permutation_statistic=NAN,
    )


def no_bound() -> dict:
    """The accuracy interval and the information bound, not computed (regression)."""
    return dict(
        accuracy_ci95=[NAN, NAN],
        cross_entropy_nats=NAN,
        class_entropy_nats=NAN,
        mi_lower_bound_nats=NAN,
        mi_lower_bound_ci95=[NAN, NAN],
    )


def no_control() -> dict:
    """The control task, not run."""
    return dict(control_accuracy=NAN, selectivity=NAN)


def no_mdl() -> dict:
    """The online code length, not measured."""
    return dict(mdl_bits=NAN, uniform_bits=NAN, compression=NAN)


def no_units(n_units: int) -> dict:
    """The one-unit probes, not run: arrays of ``n_units`` NaNs."""
    return dict(
        per_unit_accuracy=np.full(n_units, NAN),
        per_unit_p_value=np.full(n_units, NAN),
        per_unit_p_holm=np.full(n_units, NAN),
    )
