"""The probes' options: the defaults below are the only defaults; the command line offers
the fields that carry a flag."""

from __future__ import annotations

from dataclasses import dataclass

from ...options import Options, option


@dataclass(frozen=True)
class ProbesOptions(Options):
    folds: int = option(5, "Stratified folds for the probes.", flag="--folds", minimum=2)
    permutations: int = option(
        100,
        "Most permutations for a probe's p-value; the test stops after 10 permutations "
        "reach the observed score (Besag & Clifford 1991), and runs up to 40 per label set "
        "when more are probed, so that Holm's correction can be passed.",
        flag="--permutations",
        minimum=1,
    )
    draws_per_example: int = option(
        2,
        "Draws of z per example for the probes on samples.",
        flag="--probe-draws",
        aliases=("--probe-samples",),
        minimum=1,
    )
    mlp: bool = option(True, "Also fit MLP probes (one hidden layer of 64) on samples and means.")
    control: bool = option(
        True, "Run the control task (needs the inputs x) and report the selectivity."
    )
    mdl: bool = option(True, "Measure the online (MDL) code length of the labels.")
    per_unit: bool = option(
        True,
        "Probe each unit alone, with Holm-corrected permutation p-values.",
        flag="--unit-probes",
    )
    unit_permutations: int | None = option(
        None,
        "Permutations for each unit's test (when not given: enough for Holm's correction over "
        "D units, max(10 x --permutations, 40 D)); their cost grows as N D^2.",
        flag="--unit-permutations",
        minimum=1,
    )
    n_jobs: int = option(2, "Parallel workers for the probes' folds.", flag="--jobs", minimum=1)


DEFAULTS = ProbesOptions()
