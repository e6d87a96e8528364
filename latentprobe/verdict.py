"""The verdict: a status per unit and a judgement on the whole model.

Unit statuses (thresholds are options, defaults below):

- ``collapsed``: q(z_i|x) ~= p(z_i) for nearly every x. Precisely: the per-example
  KL(q(z_i|x_n) || p(z_i)) is below ``kl_threshold`` (0.01 nats) for at least
  ``collapsed_fraction`` (99%) of the examples.
- ``inactive``: not collapsed, yet the unit carries no information about x:
  I(x;z_i) < ``mi_threshold`` (0.01 nats). The posterior ignores x but differs from the prior
  (KL > 0): a constant mean away from 0 or a variance other than the prior's. Without the
  mutual-information analysis, the active-units criterion (variance of the means at most its
  threshold, 0.01) stands in for it.
- ``ignored``: active by the rules here, yet the decoder is shown not to use it: the 95%
  interval on its reliance (the rise in distortion when z_i alone is drawn from the prior)
  lies within ``mi_threshold`` of 0 ("encoded but ignored by the decoder"; only when
  the distortion analysis ran with its per-unit reliance).
- ``active``: otherwise.

When a direct measure of I(x;z_i) with an interval ran (the mutual information's per-unit
terms), its interval decides first: a unit whose interval lies above ``mi_threshold`` is
``active`` (a rare shift of a few examples can leave 99% of the per-example KLs near 0 and
still carry information), one whose interval lies below it is ``collapsed`` or ``inactive``
by the rules above, and one whose interval straddles the threshold is ``undetermined``.

Model: ``z_informative`` is true when the lower end of the 95% interval on I(x;z) exceeds
``mi_threshold``, false when it does not, None without that analysis. The model is
``collapsed`` when no unit is active and z is not informative, ``healthy`` when every unit is
active and z is informative, and ``partially_collapsed`` otherwise (an ignored unit counts as
active here: the encoder's side). ``decoder_uses_z`` is the decoder's side: true when the lower
end of the 95% interval on the decoder's reliance on z clears ``mi_threshold``, false when it
does not, None without the distortion analysis.

Each analysis of the table votes (``Evidence``) and may then review the draft verdict
(``Review``: notes, and whether a second line of evidence agrees). ``decide`` combines the
votes; it never names an analysis.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from dataclasses import dataclass, field

import numpy as np

from .options import Options, option

STATUSES = ("active", "ignored", "inactive", "collapsed", "undetermined")
#: Statuses counted in summaries and tables even when no unit has them.
ALWAYS_COUNTED = ("active", "inactive", "collapsed")
STATUS_COLOURS = {
    "active": "tab:green",
    "ignored": "tab:purple",
    "inactive": "tab:orange",
    "collapsed": "tab:red",
    "undetermined": "tab:gray",
}


@dataclass(frozen=True)
class Thresholds(Options):
    kl_threshold: float = option(
        0.01, "Per-example KL (nats) below which a unit matches the prior.", flag="--kl-threshold"
    )
    collapsed_fraction: float = option(
        0.99,
        "Share of examples under --kl-threshold to call a unit collapsed.",
        flag="--collapsed-fraction",
        minimum=0.0,
        maximum=1.0,
    )
    mi_threshold: float = option(
        0.01, "Information (nats) a unit, or z, must exceed to count.", flag="--mi-threshold"
    )


@dataclass(frozen=True)
class Evidence:
    """One analysis's vote. Masks have shape (D,); None means "no opinion".

    ``uninformative`` masks from a direct measure of I(x;z_i) win over a ``proxy`` (the
    variance of the means). A direct measure with intervals also gives ``shown_informative``
    (interval above the threshold); its units that are neither are undetermined. The
    decoder's side gives ``ignored`` (units it is shown not to use) and ``decoder_uses_z``.
    """

    collapsed: np.ndarray | None = None
    uninformative: np.ndarray | None = None
    proxy: bool = False
    informative: bool | None = None
    shown_informative: np.ndarray | None = None
    ignored: np.ndarray | None = None
    decoder_uses_z: bool | None = None


@dataclass(frozen=True)
class Review:
    """What an analysis says about the draft verdict: notes, and for a second line of
    evidence, whether it agrees (``agrees`` / ``disagrees``)."""

    notes: tuple[str, ...] = ()
    agreement: str | None = None


@dataclass(frozen=True)
class Verdict:
    model: str
    z_informative: bool | None
    unit_status: tuple[str, ...]
    thresholds: Thresholds = field(default_factory=Thresholds)
    notes: tuple[str, ...] = ()
    agreement: dict = field(default_factory=dict)
    basis: dict = field(default_factory=dict)
    decoder_uses_z: bool | None = None

    def units_with(self, status: str) -> list[int]:
        return [i for i, s in enumerate(self.unit_status) if s == status]


def _uninformative_source(votes: dict) -> str | None:
    """The analysis whose mask decides "no information": a direct measure before a proxy."""
    for proxy in (False, True):
        for name, vote in votes.items():
            if vote.uninformative is not None and vote.proxy == proxy:
                return name
    return None


def _collapsed(votes: dict, n_units: int) -> np.ndarray:
    masks = [v.collapsed for v in votes.values() if v.collapsed is not None]
    return np.logical_or.reduce(masks) if masks else np.zeros(n_units, bool)


def _statuses(collapsed: np.ndarray, uninformative: np.ndarray, source) -> tuple[str, ...]:
    """Each unit's status; with intervals from the deciding measure, they decide first."""
    shown = source.shown_informative if source is not None else None
    if shown is None:
        return tuple(
            "collapsed" if c else "inactive" if u else "active"
            for c, u in zip(collapsed, uninformative, strict=True)
        )
    return tuple(
        "active" if s else ("collapsed" if c else "inactive") if u else "undetermined"
        for c, u, s in zip(collapsed, uninformative, shown, strict=True)
    )


def _informative(votes: dict, side: str = "informative") -> bool | None:
    opinions = [getattr(v, side) for v in votes.values() if getattr(v, side) is not None]
    return all(opinions) if opinions else None


def _ignored(status: tuple[str, ...], votes: dict) -> tuple[str, ...]:
    """Active units the decoder is shown not to use become ``ignored``."""
    masks = [v.ignored for v in votes.values() if v.ignored is not None]
    if not masks:
        return status
    ignored = np.logical_or.reduce(masks)
    return tuple(
        "ignored" if s == "active" and i else s for s, i in zip(status, ignored, strict=True)
    )


def _basis(votes: dict, uninformative: str | None) -> dict:
    """Which analyses decided what (written to the report)."""
    return {
        "collapsed": [n for n, v in votes.items() if v.collapsed is not None],
        "uninformative": uninformative,
        "uninformative_is_proxy": bool(uninformative and votes[uninformative].proxy),
        "informative": [n for n, v in votes.items() if v.informative is not None],
    }


def _model(status: tuple[str, ...], informative: bool | None) -> str:
    n_active = status.count("active") + status.count("ignored")
    if n_active == 0 and not informative:
        return "collapsed"
    if n_active == len(status) and informative is not False:
        return "healthy"
    return "partially_collapsed"


def decide(
    n_units: int, results: Mapping, *, analyses: Mapping, thresholds: Thresholds | None = None
) -> Verdict:
    """Combine the votes of whichever analyses ran into unit statuses and a model verdict.

    ``results`` maps an analysis name to its result; ``analyses`` is the table (each entry's
    ``vote`` and ``review`` are used when it has them).
    """
    t = thresholds or Thresholds()
    votes = {n: analyses[n].vote(r, t) for n, r in results.items() if analyses[n].vote}
    source = _uninformative_source(votes)
    uninformative = votes[source].uninformative if source else np.zeros(n_units, bool)
    status = _statuses(_collapsed(votes, n_units), uninformative, votes.get(source))
    informative = _informative(votes)
    model = _model(status, informative)
    status = _ignored(status, votes)
    basis = _basis(votes, source)
    uses_z = _informative(votes, "decoder_uses_z")
    draft = Verdict(model, informative, status, t, basis=basis, decoder_uses_z=uses_z)
    notes, agreement = [], {}
    for name, result in results.items():
        if analyses[name].review:
            review = analyses[name].review(result, draft)
            notes.extend(review.notes)
            if review.agreement is not None:
                agreement[name] = review.agreement
    return dataclasses.replace(draft, notes=tuple(notes), agreement=agreement)
