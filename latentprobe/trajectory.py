"""Trajectories: the analyses of a series of training checkpoints, ordered by training step.

A ``Trajectory`` holds, per checkpoint (T of them), its step, epoch, file and SHA-256, the
verdict, the unit counts by status and every analysis's headline estimates (value, standard
error, 95% interval), and per unit (T, D) every declared per-unit column and the status.
Derived: the step at which each unit collapsed (the first step from which on it stays
collapsed; None for "never") and the step where I(x;z) peaked.

Checkpoints are ordered by the training step their dict records (Lightning's
``global_step``, read with the checkpoint), else by the numbers in their file names
(``epoch=3-step=1000.ckpt``: step 1000; ``ckpt_0500.pt``: 500); ``names``, ``mtime`` and
``given`` override that.

The series' axis is the training step when every checkpoint has one, else the epoch when
every checkpoint has that, else the checkpoint's position in the series (0, 1, ...) for
all, with a warning: a step and a position on one axis would mislead.
"""

from __future__ import annotations

import glob
import math
import re
import warnings
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from .analyzers.result import Estimate
from .errors import OptionsError
from .outputs import tables
from .registry import ANALYSES
from .verdict import STATUSES

ORDERS = ("step", "names", "mtime", "given")
#: What the series' axis counts, by the name the file stores (``Trajectory.axis``).
AXES = {"step": "training step", "epoch": "epoch", "position": "checkpoint"}
CHECKPOINT_SUFFIXES = (".pt", ".pth", ".ckpt", ".bin", ".safetensors")


def checkpoint_paths(sources) -> list[Path]:
    """Checkpoint files from folders (their checkpoint files, by name), globs and files,
    in the order given, each once."""
    found: list[Path] = []
    for source in sources:
        path = Path(source)
        if path.is_dir():
            found += sorted(p for p in path.iterdir() if p.suffix in CHECKPOINT_SUFFIXES)
        elif any(c in str(source) for c in "*?["):
            found += [Path(p) for p in sorted(glob.glob(str(source)))]
        else:
            found.append(path)
    unique = list(dict.fromkeys(p.resolve() for p in found))
    if not unique:
        raise OptionsError(f"no checkpoints found in {', '.join(map(str, sources))}")
    return unique


def numbers_in_name(path: Path) -> tuple[int | None, int | None]:
    """(step, epoch) read from a file name: ``step=N`` / ``epoch=N`` (Lightning's), else the
    last number in the name as the step."""
    stem = path.name
    step = re.search(r"step[=_-]?(\d+)", stem)
    epoch = re.search(r"epoch[=_-]?(\d+)", stem)
    if step:
        return int(step.group(1)), int(epoch.group(1)) if epoch else None
    numbers = re.findall(r"\d+", path.stem)
    if epoch:
        return None, int(epoch.group(1))
    return (int(numbers[-1]) if numbers else None), None


@dataclass(frozen=True)
class Point:
    """One checkpoint of the series: where it is in training, and its report."""

    path: Path
    step: int | None
    epoch: int | None
    sha256: str
    report: object

    @classmethod
    def of(cls, path: Path, report) -> Point:
        training = report.stats.provenance.get("checkpoint_training") or {}
        named_step, named_epoch = numbers_in_name(path)
        step = training.get("global_step", training.get("step"))
        epoch = training.get("epoch", named_epoch)
        digests = report.stats.provenance.get("checkpoint_sha256") or {}
        sha = next(iter(digests.values()), "")
        return cls(path, step if step is not None else named_step, epoch, sha, report)


def ordered(points: list[Point], how: str = "step") -> list[Point]:
    """The points along the series' axis (see ``_axis``): by training step when each has
    one, else by epoch when each has one, else those with a step by step and the rest
    after them by epoch and name; or by name, by modification time, or as given."""
    if how not in ORDERS:
        raise OptionsError(f"unknown --order {how!r}; choose {', '.join(ORDERS)}")
    if how == "given":
        return list(points)
    if how == "names":
        return sorted(points, key=lambda p: p.path.name)
    if how == "mtime":
        return sorted(points, key=lambda p: p.path.stat().st_mtime)

    axis = _axis_kind(points)

    def key(p: Point):
        if axis == "step":
            return (p.step, p.path.name)
        if axis == "epoch":
            return (p.epoch, p.step if p.step is not None else -1, p.path.name)
        unknown = -1 if p.epoch is None else p.epoch
        return (p.step is None, p.step if p.step is not None else 0, unknown, p.path.name)

    return sorted(points, key=key)


def collapse_steps(steps: np.ndarray, status: np.ndarray) -> list[int | None]:
    """Per unit, the first step from which on the unit stays ``collapsed`` to the last
    checkpoint; None when it is not collapsed at the last one."""
    found = []
    for unit in status.T:
        if len(unit) == 0 or unit[-1] != "collapsed":
            found.append(None)
            continue
        alive = np.flatnonzero(unit != "collapsed")
        first = alive[-1] + 1 if len(alive) else 0
        found.append(int(steps[first]))
    return found


@dataclass(frozen=True)
class Trajectory:
    """The series (see the module docstring); arrays have one row per checkpoint."""

    steps: np.ndarray
    epochs: np.ndarray  # -1 where unknown
    paths: list[str]
    sha256: list[str]
    verdicts: list[str]
    counts: dict[str, np.ndarray]
    estimates: dict[str, dict]  # key -> title, units, value, stderr, low, high (T,)
    per_unit: dict[str, dict]  # key -> title, label, values (T, D), stderr (T, D) or None
    status: np.ndarray  # (T, D) strings
    n_examples: np.ndarray  # (T,) examples analysed at each checkpoint
    provenance: dict = field(default_factory=dict)
    axis: str = "step"  # what ``steps`` counts: a key of AXES

    @property
    def axis_label(self) -> str:
        return AXES[self.axis]

    @property
    def collapse_step(self) -> list[int | None]:
        return collapse_steps(self.steps, self.status)

    @property
    def peak_step(self) -> int | None:
        """The step where I(x;z) peaked (None without the mutual information)."""
        mi = self.estimates.get("mi")
        if mi is None or not np.isfinite(mi["value"]).any():
            return None
        return int(self.steps[int(np.nanargmax(mi["value"]))])


def _axis_kind(points: list[Point]) -> str:
    """What the series' axis counts (a key of AXES): the rule of the module docstring."""
    if all(p.step is not None for p in points):
        return "step"
    if all(p.epoch is not None for p in points):
        return "epoch"
    return "position"


def _axis(points: list[Point]) -> tuple[str, np.ndarray]:
    """The series' axis (see the module docstring) and its value per checkpoint."""
    axis = _axis_kind(points)
    if axis != "position":
        return axis, np.array([getattr(p, axis) for p in points], dtype=np.int64)
    if any(p.step is not None for p in points):
        missing = [p.path.name for p in points if p.step is None]
        warnings.warn(
            f"{len(missing)} of {len(points)} checkpoints record no training step and their "
            f"names give none ({', '.join(missing[:3])}{', ...' if len(missing) > 3 else ''}): "
            "the series is on the checkpoints' positions 0, 1, ... (those with a step first, "
            "by step; --order given sets it)",
            stacklevel=3,
        )
    return "position", np.arange(len(points), dtype=np.int64)


def _estimates(points: list[Point]) -> dict[str, dict]:
    rows = [tables.model_row(p.path.name, p.report) for p in points]
    keys = list(dict.fromkeys(k for r in rows for k, v in r.items() if isinstance(v, Estimate)))
    out = {}
    for key in keys:
        cells = [r.get(key) for r in rows]
        first = next(c for c in cells if c is not None)
        out[key] = dict(title=first.title, units=first.units)
        out[key].update({name: _pick(cells, name) for name in ("value", "stderr", "low", "high")})
    return out


def _pick(cells, name: str) -> np.ndarray:
    return np.array([getattr(c, name) if c is not None else math.nan for c in cells], float)


def _per_unit(points: list[Point]) -> dict[str, dict]:
    out = {}
    units = {p.report.stats.n_units for p in points}
    if len(units) != 1:
        raise OptionsError(
            f"the checkpoints have different numbers of latent units ({sorted(units)}); "
            "a trajectory follows one model"
        )
    for name, analysis in ANALYSES.items():
        for column in analysis.columns:
            results = [p.report.results.get(name) for p in points]
            if any(r is None for r in results):
                continue
            values = np.stack([np.asarray(getattr(r, column.field), float) for r in results])
            errors = [getattr(r, f"{column.field}_stderr", None) for r in results]
            stderr = None if any(e is None for e in errors) else np.stack(errors).astype(float)
            out[column.key] = dict(
                title=column.title, label=column.label, values=values, stderr=stderr
            )
    return out


def build(points: list[Point], provenance: dict | None = None) -> Trajectory:
    """The trajectory of ordered points."""
    if not points:
        raise OptionsError("a trajectory needs at least one checkpoint")
    verdicts = [p.report.verdict for p in points]
    counts = {s: np.array([len(v.units_with(s)) for v in verdicts]) for s in STATUSES}
    axis, steps = _axis(points)
    return Trajectory(
        steps=steps,
        axis=axis,
        epochs=np.array([p.epoch if p.epoch is not None else -1 for p in points]),
        paths=[str(p.path) for p in points],
        sha256=[p.sha256 for p in points],
        verdicts=[v.model for v in verdicts],
        counts=counts,
        estimates=_estimates(points),
        per_unit=_per_unit(points),
        status=np.array([v.unit_status for v in verdicts], dtype=object),
        n_examples=np.array([p.report.stats.n_examples for p in points], dtype=np.int64),
        provenance={**_data_provenance(points), **(provenance or {})},
    )


def joined(earlier: Trajectory, later: Trajectory) -> Trajectory:
    """``earlier``'s rows before ``later``'s first step, then ``later`` (a training run
    resumed from a checkpoint: its rows from there on replace the earlier run's). Both
    must have the same units, the same columns and the same axis."""
    if earlier.axis != later.axis or earlier.status.shape[1:] != later.status.shape[1:]:
        raise OptionsError("the two series have different axes or numbers of units")
    if set(earlier.estimates) != set(later.estimates) or set(earlier.per_unit) != set(
        later.per_unit
    ):
        raise OptionsError("the two series hold different figures")
    rows = np.flatnonzero(earlier.steps < later.steps[0])

    def cat(a, b):
        return np.concatenate([np.asarray(a)[rows], np.asarray(b)])

    def columns(a: dict, b: dict, names) -> dict:
        joined = {k: None if a[k] is None or b[k] is None else cat(a[k], b[k]) for k in names}
        return {**b, **joined}

    return Trajectory(
        steps=cat(earlier.steps, later.steps),
        epochs=cat(earlier.epochs, later.epochs),
        paths=[earlier.paths[i] for i in rows] + later.paths,
        sha256=[earlier.sha256[i] for i in rows] + later.sha256,
        verdicts=[earlier.verdicts[i] for i in rows] + later.verdicts,
        counts={k: cat(earlier.counts[k], later.counts[k]) for k in later.counts},
        estimates={
            k: columns(earlier.estimates[k], e, ("value", "stderr", "low", "high"))
            for k, e in later.estimates.items()
        },
        per_unit={
            k: columns(earlier.per_unit[k], c, ("values", "stderr"))
            for k, c in later.per_unit.items()
        },
        status=np.concatenate([earlier.status[rows], later.status]),
        n_examples=cat(earlier.n_examples, later.n_examples),
        provenance=later.provenance,
        axis=later.axis,
    )


def _data_provenance(points: list[Point]) -> dict:
    """The data the series read and its files' SHA-256: once when every checkpoint read
    the same bytes, else one entry per checkpoint."""
    read = [p.report.stats.provenance for p in points]
    data = [r.get("data") for r in read]
    digests = [r.get("data_sha256") or {} for r in read]
    if all(d == digests[0] for d in digests) and len(set(map(str, data))) == 1:
        return {"data": data[0], "data_sha256": digests[0]}
    return {"data": data, "data_sha256": digests}


def summary_lines(trajectory: Trajectory) -> list[str]:
    """What happened over training: the series' span, where I(x;z) peaked, and each unit
    that collapsed and when."""
    t = trajectory
    at = t.axis_label
    lines = [
        f"trajectory: {len(t.steps)} checkpoints, {at} {t.steps[0]:,} to {t.steps[-1]:,}; "
        f"verdict at the last: {t.verdicts[-1]} (all figures in nats)"
    ]
    if t.peak_step is not None:
        mi = t.estimates["mi"]["value"]
        lines.append(
            f"I(x;z) peaked at {at} {t.peak_step:,} ({np.nanmax(mi):.4f} nats); "
            f"{mi[-1]:.4f} nats at the last checkpoint"
        )
    collapsed = [(u, s) for u, s in enumerate(t.collapse_step) if s is not None]
    if collapsed:
        lines.append(
            f"units that collapsed ({at} from which on they stay collapsed): "
            + ", ".join(f"unit {u} at {at} {s:,}" for u, s in collapsed)
        )
    else:
        lines.append("no unit is collapsed at the last checkpoint")
    return lines


def document(trajectory: Trajectory) -> dict:
    """The series as JSON: per checkpoint its step, epoch, file, verdict and counts, and per
    estimate and per-unit column the values by step (NaN as null)."""
    from .outputs.document import plain

    t = trajectory
    return plain(
        {
            "units": "nats",
            "axis": t.axis,
            "steps": t.steps,
            "epochs": t.epochs,
            "checkpoints": t.paths,
            "sha256": t.sha256,
            "verdicts": t.verdicts,
            "counts": t.counts,
            "estimates": t.estimates,
            "per_unit": t.per_unit,
            "status": t.status.tolist(),
            "n_examples": t.n_examples,
            "collapse_step": t.collapse_step,
            "peak_mi_step": t.peak_step,
        }
    )
