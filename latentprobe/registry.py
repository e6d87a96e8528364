"""The table of analyses: the one place that says what runs.

Each entry says what the analysis needs, its options (a frozen dataclass whose defaults are
the only defaults; the command line offers its fields), how it votes in the verdict, and how
it is presented (summary lines, per-unit columns, figures). ``report``, ``verdict``, the
outputs and the command line iterate over ``ANALYSES`` and never name an analysis; adding an
analysis is one module under ``analyzers/`` plus one entry here (or ``register`` at run time).
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from .errors import AnalysisError, OptionsError
from .types import EncoderStats


def _module(name: str):
    """An analyzer module (``latentprobe.analyzers`` re-exports functions of the same name)."""
    return importlib.import_module(f"{__package__}.analyzers.{name}")


au, kl, mi, pr = map(_module, ("active_units", "kl_divergence", "mutual_information", "probes"))
dist, ll = map(_module, ("distortion", "log_likelihood"))


@dataclass(frozen=True)
class AnalysisInputs:
    """What the analyses run on: the statistics, the inputs x (N, ...) in the encoder's
    layout and the model's decoder (``decoders.Decoder``) when at hand."""

    stats: EncoderStats
    x: np.ndarray | None = None
    decoder: object | None = None

    def available(self) -> list[str]:
        return [name for name, need in INPUTS.items() if need.present(self)]


@dataclass(frozen=True)
class Need:
    """An input an analysis may need beyond the statistics: how to tell it is present, and
    what a user does to supply it."""

    present: Callable[[AnalysisInputs], bool]
    how_to_supply: str


INPUTS: dict[str, Need] = {
    "labels": Need(
        lambda inputs: bool(inputs.stats.labels),
        "extract labels with the data (--labels-key) or pass --labels FILE",
    ),
    "x": Need(lambda inputs: inputs.x is not None, "pass the inputs with --data"),
    "decoder": Need(
        lambda inputs: inputs.decoder is not None,
        "analyse a checkpoint (or pass --checkpoint with a stats file) whose model has "
        "decode(), a decoder or log_probability(x, z), or pass --log-likelihood",
    ),
}


@dataclass(frozen=True)
class Column:
    """A per-unit column: ``key`` in the JSON rows, ``title`` in the summary table, the
    result ``field`` (per unit) it shows, the figure's axis ``label`` (with units), and how
    a group of units (a channel of a spatial latent) ``combine``s: "sum" or "mean"; its
    error bars come from the result's ``<field>_stderr`` array when there is one."""

    key: str
    title: str
    field: str
    label: str
    combine: str = "mean"
    #: ``threshold(result, thresholds)``: the value the figures draw as the column's
    #: threshold (None: none drawn).
    threshold: Callable | None = None


@dataclass(frozen=True)
class Analysis:
    """One entry of the table.

    ``run(inputs, options, seed)`` returns the result; ``needs`` must be present for the
    analysis to run (it is left out by default without them, an error when asked for by
    name), ``uses`` are used when present. ``vote(result, thresholds)`` and
    ``review(result, draft_verdict)`` feed the verdict; ``summary(result)`` gives lines,
    ``estimates(result)`` the headline figures (``Estimate``) of the tables that compare
    reports, ``columns`` the per-unit table, ``figures(result, unit_status)`` named drawers.
    """

    description: str
    run: Callable
    options_type: type
    result_type: type
    needs: tuple[str, ...] = ()
    uses: tuple[str, ...] = ()
    vote: Callable | None = None
    review: Callable | None = None
    summary: Callable | None = None
    estimates: Callable | None = None
    columns: tuple[Column, ...] = ()
    figures: Callable | None = None


def _threshold(name: str) -> Callable:
    """A column's threshold read from the verdict's ``Thresholds``."""
    return lambda result, thresholds: getattr(thresholds, name)


def _run_active_units(inputs, options, seed):
    return au.active_units(inputs.stats.mu, threshold=options.threshold)


def _run_kl(inputs, options, seed):
    s = inputs.stats
    return kl.kl_divergence(
        s.mu,
        s.logvar,
        prior=s.prior,
        draws_per_example=options.draws_per_example,
        seed=seed,
        **s.posterior,
    )


def _run_mi(inputs, options, seed):
    s = inputs.stats
    return mi.mutual_information(
        s.mu,
        s.logvar,
        prior=s.prior,
        draws_per_example=options.draws_per_example,
        max_points=options.max_points,
        per_unit=options.per_unit,
        per_unit_max_points=options.per_unit_max_points,
        growth=options.growth,
        seed=seed,
        **s.posterior,
    )


def _run_probes(inputs, options, seed):
    s = inputs.stats
    return pr.probes(
        s.mu,
        s.logvar,
        s.labels,
        x=inputs.x,
        prior=s.prior,
        options=options,
        seed=seed,
        **s.posterior,
    )


def _decoding(inputs, seed) -> dict:
    """What both decoder analyses take beside their own options."""
    s, decoder = inputs.stats, inputs.decoder
    common = dict(prior=s.prior, seed=seed, decoder=decoder.description, **s.posterior)
    return dict(mu=s.mu, logvar=s.logvar, x=inputs.x, log_p_x=decoder.log_likelihood, **common)


def _run_distortion(inputs, options, seed):
    return dist.distortion(
        draws_per_example=options.draws_per_example,
        per_unit=options.per_unit and inputs.stats.n_units <= options.unit_limit,
        rows_per_call=options.rows_per_call,
        **_decoding(inputs, seed),
    )


def _run_log_likelihood(inputs, options, seed):
    return ll.log_likelihood(
        samples=options.samples, rows_per_call=options.rows_per_call, **_decoding(inputs, seed)
    )


ANALYSES: dict[str, Analysis] = {
    "active_units": Analysis(
        "variance of the posterior means per unit (Burda et al. 2016)",
        _run_active_units,
        au.ActiveUnitsOptions,
        au.ActiveUnitsResult,
        vote=au.vote,
        review=au.review,
        summary=au.summary_lines,
        columns=(
            Column(
                "var_of_means",
                "var(means)",
                "var_of_means",
                "variance of posterior means",
                threshold=lambda result, thresholds: result.threshold,
            ),
        ),
    ),
    "kl_divergence": Analysis(
        "KL(q(z_i|x) || p(z_i)) per example and unit, rates, histogram",
        _run_kl,
        kl.KLDivergenceOptions,
        kl.KLDivergenceResult,
        vote=kl.vote,
        review=kl.review,
        summary=kl.summary_lines,
        estimates=kl.estimates,
        columns=(
            Column(
                "kl",
                "KL",
                "per_unit_rate",
                "KL to the prior (nats)",
                "sum",
                threshold=_threshold("kl_threshold"),
            ),
        ),
        figures=kl.figures,
    ),
    "mutual_information": Analysis(
        "I(x;z) over the full dataset, its error bar, per-unit terms, TC, rate decomposition",
        _run_mi,
        mi.MutualInformationOptions,
        mi.MutualInformationResult,
        vote=mi.vote,
        review=mi.review,
        summary=mi.summary_lines,
        estimates=mi.estimates,
        columns=(
            Column(
                "mi",
                "I(x;z_i)",
                "per_unit_mi",
                "I(x;z_i) (nats)",
                "sum",
                threshold=_threshold("mi_threshold"),
            ),
        ),
        figures=mi.figures,
    ),
    "probes": Analysis(
        "probe classifiers per label set: samples, means, units, x and prior references, "
        "permutation test, I(z;y) bound, control task, MDL",
        _run_probes,
        pr.ProbesOptions,
        pr.ProbesResult,
        needs=("labels",),
        uses=("x",),
        review=pr.review,
        summary=pr.summary_lines,
        estimates=pr.estimates,
        figures=pr.figures,
    ),
    "distortion": Analysis(
        "the decoder's side: distortion D, ELBO, the decoder's reliance on z and per unit "
        "(Alemi et al. 2018)",
        _run_distortion,
        dist.DistortionOptions,
        dist.DistortionResult,
        needs=("x", "decoder"),
        vote=dist.vote,
        review=dist.review,
        summary=dist.summary_lines,
        estimates=dist.estimates,
        columns=(
            Column(
                "reliance",
                "reliance",
                "per_unit_reliance",
                "decoder reliance on z_i (nats)",
                threshold=_threshold("mi_threshold"),
            ),
        ),
    ),
    "log_likelihood": Analysis(
        "IWAE bound on log p(x) with K importance samples, NLL, gap to the ELBO "
        "(Burda et al. 2016)",
        _run_log_likelihood,
        ll.LogLikelihoodOptions,
        ll.LogLikelihoodResult,
        needs=("x", "decoder"),
        summary=ll.summary_lines,
        estimates=ll.estimates,
    ),
}


def register(name: str, analysis: Analysis) -> None:
    """Add an analysis to the table (a plugin, or a test); the name must be new."""
    if name in ANALYSES:
        raise OptionsError(f"an analysis named {name!r} is already registered")
    unknown = [n for n in analysis.needs + analysis.uses if n not in INPUTS]
    if unknown:
        raise OptionsError(
            f"analysis {name!r} needs {unknown[0]!r}, which latentprobe cannot supply yet "
            f"(it supplies {', '.join(INPUTS)})"
        )
    ANALYSES[name] = analysis


def unregister(name: str) -> None:
    ANALYSES.pop(name, None)


def _names(values) -> list[str]:
    names = [n.strip() for v in values or () for n in v.split(",") if n.strip()]
    unknown = [n for n in names if n not in ANALYSES]
    if unknown:
        raise OptionsError(f"unknown analysis {unknown[0]!r}; choose from {', '.join(ANALYSES)}")
    return names


def _missing(name: str, available) -> list[str]:
    return [need for need in ANALYSES[name].needs if need not in available]


def select(only=(), skip=(), *, available=tuple(INPUTS)) -> list[str]:
    """Analysis names in table order, after ``only`` and ``skip`` (comma-separated or
    repeated). An analysis whose needs are not all ``available`` is left out by default and
    is an error when asked for by name."""
    chosen, skipped = _names(only), _names(skip)
    for name in chosen:
        if missing := _missing(name, available):
            hints = "; ".join(INPUTS[m].how_to_supply for m in missing)
            raise AnalysisError(f"analysis {name!r} needs {' and '.join(missing)}: {hints}")
    names = [
        n
        for n in ANALYSES
        if (not chosen or n in chosen) and n not in skipped and not _missing(n, available)
    ]
    if not names:
        raise OptionsError("--only/--skip leave no analysis to run")
    return names


def uses(names, what: str) -> bool:
    """Whether any of the named analyses needs or uses input ``what``."""
    return any(what in ANALYSES[n].needs + ANALYSES[n].uses for n in names)


def default_options() -> dict:
    """Every analysis's options at their defaults."""
    return {name: analysis.options_type() for name, analysis in ANALYSES.items()}
