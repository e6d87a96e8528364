"""The probes' result types and options (probes.result, probes.options)."""

from __future__ import annotations

import dataclasses
import math

import numpy as np

from latentprobe.analyzers.probes import DEFAULTS, ProbeSetResult, ProbesOptions, ProbesResult
from latentprobe.analyzers.result import field_kinds, nested_type
from latentprobe.options import cli_fields

#: Reports and JSON documents name these fields; they must not change (new ones go last,
#: with a default for reports written before them).
FIELDS = (
    "task skipped n_used n_missing n_rare n_classes folds draws_per_example chance accuracy "
    "accuracy_ci95 cross_entropy_nats mean_accuracy mlp_accuracy mlp_mean_accuracy x_accuracy "
    "prior_accuracy p_value p_value_min permutation_statistic class_entropy_nats "
    "mi_lower_bound_nats mi_lower_bound_ci95 control_accuracy selectivity mdl_bits "
    "uniform_bits compression per_unit_accuracy per_unit_p_value per_unit_p_holm notes "
    "permutations_run"
).split()


def test_field_names_and_kinds():
    assert [f.name for f in dataclasses.fields(ProbeSetResult)] == FIELDS
    kinds = field_kinds(ProbeSetResult)
    assert kinds["task"] == kinds["skipped"] == "str" and kinds["n_used"] == "int"
    assert kinds["accuracy"] == "float" and kinds["per_unit_p_holm"] == "array"
    assert kinds["accuracy_ci95"] == kinds["notes"] == "json"
    assert field_kinds(ProbesResult) == {"label_sets": "results"}
    assert nested_type(ProbesResult, "label_sets") is ProbeSetResult


def test_not_probed_gives_nan_figures_zero_counts_and_the_reason():
    note = "1 examples of classes with a single member left out"
    reason = "fewer than two classes"
    r = ProbeSetResult.not_probed(
        "classification", reason, n_missing=3, n_rare=1, n_units=4, notes=(note,)
    )
    kinds = field_kinds(ProbeSetResult)
    for name in (n for n, kind in kinds.items() if kind == "float"):
        assert math.isnan(getattr(r, name)), name
    for name in ("accuracy_ci95", "mi_lower_bound_ci95"):
        assert len(getattr(r, name)) == 2 and all(map(math.isnan, getattr(r, name)))
    for name in ("per_unit_accuracy", "per_unit_p_value", "per_unit_p_holm"):
        assert getattr(r, name).shape == (4,) and np.isnan(getattr(r, name)).all()
    assert (r.n_used, r.n_classes, r.folds, r.draws_per_example) == (0, 0, 0, 0)
    assert (r.n_missing, r.n_rare, r.task) == (3, 1, "classification")
    assert r.skipped == reason and r.notes == [note, f"not probed: {reason}"]


def test_options_defaults_and_command_line():
    assert DEFAULTS == ProbesOptions()
    assert (DEFAULTS.folds, DEFAULTS.permutations, DEFAULTS.draws_per_example) == (5, 100, 2)
    assert DEFAULTS.mlp and DEFAULTS.control and DEFAULTS.mdl and DEFAULTS.per_unit
    assert DEFAULTS.n_jobs == 2 and not hasattr(DEFAULTS, "seed")
    flags = {f.name: f for f in cli_fields(ProbesOptions)}
    assert {n: f.flag for n, f in flags.items()} == {
        "folds": "--folds",
        "permutations": "--permutations",
        "draws_per_example": "--probe-draws",
        "per_unit": "--unit-probes",
        "unit_permutations": "--unit-permutations",
        "n_jobs": "--jobs",
    }
    assert flags["draws_per_example"].aliases == ("--probe-samples",)
    assert {n: f.minimum for n, f in flags.items()} == {
        "folds": 2,
        "permutations": 1,
        "draws_per_example": 1,
        "per_unit": None,
        "unit_permutations": 1,
        "n_jobs": 1,
    }
    assert {n: f.type for n, f in flags.items()} == {
        **{n: int for n in flags},
        "per_unit": bool,
    }
