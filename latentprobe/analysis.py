"""The table of analyses the CLI runs (``--only``/``--skip``), and running them on stats."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

from .analyzers import (
    ActiveUnitsResult,
    KLDivergenceResult,
    MutualInformationResult,
    ProbeConfig,
    ProbesResult,
    active_units,
    kl_divergence,
    mutual_information,
    probes,
)
from .errors import AnalysisError
from .stats import EncoderStats


@dataclass(frozen=True)
class AnalysisOptions:
    seed: int = 0
    au_threshold: float = 0.01
    mi_samples: int = 2
    max_samples: int | None = None
    kl_samples: int = 16
    probes: ProbeConfig = field(default_factory=ProbeConfig)


@dataclass(frozen=True)
class Analysis:
    description: str
    run: Callable[[EncoderStats, AnalysisOptions, object], object]
    result_type: type
    needs_labels: bool = False


ANALYSES: dict[str, Analysis] = {
    "active_units": Analysis(
        "variance of the posterior means per unit (Burda et al. 2016)",
        lambda s, o, x: active_units(s.mu, threshold=o.au_threshold),
        ActiveUnitsResult,
    ),
    "kl_divergence": Analysis(
        "KL(q(z_i|x) || p(z_i)) per example and unit, rates, histogram",
        lambda s, o, x: kl_divergence(
            s.mu, s.logvar, prior=s.prior, n_samples=o.kl_samples, seed=o.seed
        ),
        KLDivergenceResult,
    ),
    "mutual_information": Analysis(
        "I(x;z) over the full dataset, its error bar, per-unit terms, TC, rate decomposition",
        lambda s, o, x: mutual_information(
            s.mu,
            s.logvar,
            prior=s.prior,
            n_samples=o.mi_samples,
            max_samples=o.max_samples,
            seed=o.seed,
        ),
        MutualInformationResult,
    ),
    "probes": Analysis(
        "probe classifiers per label set: samples, means, units, x and prior references, "
        "permutation test, I(z;y) bound, control task, MDL",
        lambda s, o, x: probes(s.mu, s.logvar, s.labels, x=x, prior=s.prior, config=o.probes),
        ProbesResult,
        needs_labels=True,
    ),
}


def _names(values) -> list[str]:
    names = [n.strip() for v in values or () for n in v.split(",") if n.strip()]
    unknown = [n for n in names if n not in ANALYSES]
    if unknown:
        raise AnalysisError(f"unknown analysis {unknown[0]!r}; choose from {', '.join(ANALYSES)}")
    return names


def select(only=(), skip=(), *, has_labels: bool = True) -> list[str]:
    """Analysis names in table order, after --only and --skip (comma-separated or repeated).

    Analyses that need labels run by default only when there are labels; asked for by name
    without labels, they are an error.
    """
    chosen, skipped = _names(only), _names(skip)
    if not has_labels and any(ANALYSES[n].needs_labels for n in chosen):
        raise AnalysisError(
            "probes need labels: extract them with the data (--labels-key) or pass --labels FILE"
        )
    names = [
        n
        for n in ANALYSES
        if (not chosen or n in chosen)
        and n not in skipped
        and (has_labels or not ANALYSES[n].needs_labels)
    ]
    if not names:
        raise AnalysisError("--only/--skip leave no analysis to run")
    return names


def run_analyses(stats: EncoderStats, names, options: AnalysisOptions, x=None) -> dict:
    """Run the named analyses; ``x`` (the inputs, optional) serves the probes' references."""
    return {name: ANALYSES[name].run(stats, options, x) for name in names}
