"""Probe classifiers: does z predict a label of x better than chance, and by how many nats?

For each label set, probes are trained on samples z ~ q(z|x) (the verdict rests on these),
on the posterior means, on each unit alone, on the inputs x (an upper reference) and on
draws from the prior (which must come out at chance). Folds are stratified and split by
example, so no x has samples on both sides.

Modules: ``run`` (the probes of each label set, in order), ``labels`` (cleaning a label
set), ``estimators`` (the scikit-learn probes), ``crossval`` (held-out scores and
permutation tests), ``discriminants`` (closed-form probes, Holm), ``information`` (I(z;y)
bound, control task, MDL), ``result``, ``options`` and ``present`` (review of the verdict,
summary lines, figures). scikit-learn and joblib are imported only when a probe runs.

References are in each module's docstring (Pimentel et al. 2020, Hewitt & Liang 2019,
Voita & Titov 2020, Holm 1979).
"""

from .options import DEFAULTS, ProbesOptions
from .present import estimates, figures, review, summary_lines
from .result import ProbeSetResult, ProbesResult
from .run import probe_label_set, probes

__all__ = [
    "DEFAULTS",
    "ProbeSetResult",
    "ProbesOptions",
    "ProbesResult",
    "estimates",
    "figures",
    "probe_label_set",
    "probes",
    "review",
    "summary_lines",
]
