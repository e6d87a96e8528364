"""The verdict: a status per unit and a judgement on the whole model.

Unit statuses (thresholds are options, defaults below):

- ``collapsed``: q(z_i|x) ~= p(z_i) for nearly every x. Precisely: the per-example
  KL(q(z_i|x_n) || p(z_i)) is below ``kl_threshold`` (0.01 nats) for at least
  ``collapsed_fraction`` (99%) of the examples.
- ``inactive``: not collapsed, yet the unit carries no information about x:
  I(x;z_i) < ``mi_threshold`` (0.01 nats). The posterior ignores x but differs from the prior
  (KL > 0): a constant mean away from 0 or a variance other than the prior's. Without the
  mutual-information analysis, variance of the means <= ``au_threshold`` stands in for it.
- ``active``: otherwise.

Model: ``z_informative`` is true when the lower end of the 95% interval on I(x;z) exceeds
``mi_threshold``, false when it does not, None without that analysis. The model is
``collapsed`` when no unit is active and z is not informative, ``healthy`` when every unit is
active and z is informative, and ``partially_collapsed`` otherwise.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field

import h5py
import numpy as np

from .analyzers import ActiveUnitsResult, KLDivergenceResult, MutualInformationResult


@dataclass(frozen=True)
class Thresholds:
    kl_threshold: float = 0.01
    collapsed_fraction: float = 0.99
    mi_threshold: float = 0.01
    au_threshold: float = 0.01


@dataclass(frozen=True)
class Verdict:
    model: str
    z_informative: bool | None
    unit_status: tuple[str, ...]
    thresholds: Thresholds = field(default_factory=Thresholds)
    notes: tuple[str, ...] = ()
    probe_evidence: str | None = None

    def units_with(self, status: str) -> list[int]:
        return [i for i, s in enumerate(self.unit_status) if s == status]

    def write(self, group: h5py.Group) -> None:
        group.attrs["model"] = self.model
        group.attrs["z_informative"] = json.dumps(self.z_informative)
        group.attrs["notes"] = json.dumps(list(self.notes))
        group.attrs["thresholds"] = json.dumps(self.thresholds.__dict__)
        group.attrs["rule"] = (__doc__ or "").strip()
        group.attrs["probe_evidence"] = json.dumps(self.probe_evidence)
        group["unit_status"] = np.array(self.unit_status, dtype=h5py.string_dtype())

    @classmethod
    def read(cls, group: h5py.Group) -> Verdict:
        status = tuple(s.decode() if isinstance(s, bytes) else s for s in group["unit_status"][()])
        return cls(
            group.attrs["model"],
            json.loads(group.attrs["z_informative"]),
            status,
            Thresholds(**json.loads(group.attrs["thresholds"])),
            tuple(json.loads(group.attrs["notes"])),
            json.loads(group.attrs.get("probe_evidence", "null")),
        )


def collapsed_units(kl: KLDivergenceResult, t: Thresholds) -> np.ndarray:
    """Mask of units whose KL is below the threshold for at least the given fraction of x."""
    return (kl.per_example < t.kl_threshold).mean(axis=0) >= t.collapsed_fraction


def _uninformative_units(mi, au, t: Thresholds) -> np.ndarray | None:
    if mi is not None and np.isfinite(mi.per_unit_mi).all():
        return mi.per_unit_mi < t.mi_threshold
    if au is not None:
        return au.var_of_means <= t.au_threshold
    return None


def decide(
    n_units: int,
    *,
    active_units: ActiveUnitsResult | None = None,
    kl_divergence: KLDivergenceResult | None = None,
    mutual_information: MutualInformationResult | None = None,
    probes=None,
    thresholds: Thresholds | None = None,
) -> Verdict:
    """Combine whichever analyses ran into unit statuses and a model verdict."""
    t = thresholds or Thresholds()
    collapsed = collapsed_units(kl_divergence, t) if kl_divergence else np.zeros(n_units, bool)
    uninformative = _uninformative_units(mutual_information, active_units, t)
    if uninformative is None:
        uninformative = np.zeros(n_units, bool)
    status = tuple(
        "collapsed" if c else "inactive" if u else "active"
        for c, u in zip(collapsed, uninformative, strict=True)
    )
    informative = (
        None if mutual_information is None else bool(mutual_information.ci95_low > t.mi_threshold)
    )
    n_active = status.count("active")
    if n_active == 0 and not informative:
        model = "collapsed"
    elif n_active == n_units and informative is not False:
        model = "healthy"
    else:
        model = "partially_collapsed"
    notes = _notes(status, informative, mutual_information, active_units)
    evidence, probe_notes = _probe_evidence(probes, informative)
    return Verdict(model, informative, status, t, notes + probe_notes, evidence)


def _significant(result, alpha: float = 0.05) -> bool:
    return not result.skipped and result.p_value < alpha and result.accuracy > result.chance


def _probe_evidence(probes, informative: bool | None) -> tuple[str | None, tuple[str, ...]]:
    """Probes are a second line of evidence: label information found in samples z means z
    carries information about x (I(z;y) <= I(z;x)), so it must agree with the MI interval."""
    if probes is None or informative is None:
        return None, ()
    label_sets = {n: r for n, r in probes.label_sets.items() if not r.skipped}
    if not label_sets:
        return None, ()
    found = sorted(n for n, r in label_sets.items() if _significant(r))
    notes = []
    if found and not informative:
        notes.append(
            f"probes on samples find information about {found} although the interval "
            "on I(x;z) does not clear the threshold: z carries a little information"
        )
        evidence = "disagrees"
    elif informative and not found:
        notes.append(
            f"z carries information about x but the probes find none about "
            f"{sorted(label_sets)}: z encodes other aspects of x"
        )
        evidence = "agrees"
    else:
        evidence = "agrees"
    return evidence, tuple(notes)


def _notes(status, informative, mi, au) -> tuple[str, ...]:
    notes = []
    if informative and "active" not in status:
        notes.append(
            "z as a whole carries information although no single unit does: "
            "the information is spread thinly over several units"
        )
    if informative is False and "active" in status:
        notes.append(
            "some units look active but the interval on I(x;z) does not clear the "
            "threshold: treat them with caution"
        )
    if mi is not None and mi.near_ceiling:
        notes.append(
            f"I(x;z) = {mi.nats:.3f} nats is within 0.5 nats of log N = "
            f"{mi.log_n:.3f}: the estimate is capped by the dataset size; use more data"
        )
    if au is not None and mi is not None and np.isfinite(mi.per_unit_mi).all():
        disagree = [i for i, s in enumerate(status) if s != "active" and au.active[i]]
        if disagree:
            notes.append(
                f"units {disagree} have varying means (active by the variance "
                "criterion) but carry no information in z: their means move at a "
                "scale far below the posterior noise"
            )
    return tuple(notes)
