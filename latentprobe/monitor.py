"""A training-time monitor: the cheap analyses on a fixed held-out subset, every few steps,
kept as a trajectory (``latentprobe.Monitor``; the Lightning callback in
``latentprobe.callback`` drives one).

Each ``update(model, step)`` encodes the same examples (a subset of ``data`` fixed by the
seed) with the model in eval mode under inference mode, on the model's own device, puts the
model back in the mode it was in, and runs the active units, the KL and I(x;z). The series
is rewritten atomically to ``output`` after every update. A Monitor whose ``output`` holds
the series of a Monitor with the same settings and held-out examples continues it (a
training run resumed from a checkpoint): the earlier rows before its first update's step
are kept, the rest replaced. Any other existing file is refused, never overwritten.

The time budget per call (``budget`` seconds) sets how many evaluation points I(x;z) and
its per-unit terms get, through the analysis's cost model (``point_budget``, measured on 2
cores, with the overheads of ``WALL_PER_MODELLED``): half the budget each. The points are
a function of the number of examples and units only, so every update of a series uses the
same points and the same seed gives the same bytes; the intervals say what fewer points
cost. An update that takes more than twice its budget (a slower machine, a costly encoder)
warns once.
"""

from __future__ import annotations

import hashlib
import time
import warnings
from pathlib import Path

import numpy as np
import torch

from . import store, trajectory
from .analyzers.mutual_information import DEFAULTS as MI_DEFAULTS
from .analyzers.mutual_information import MutualInformationOptions, point_budget
from .errors import OptionsError, StatsFileError
from .extraction import extract
from .report import analyze

CHEAP = ("active_units", "kl_divergence", "mutual_information")
#: Wall time per second of the cost model's work (measured on 2 cores, N = 1,000 to 20,000):
#: the joint term with its leave-one-out bracket and the growth check takes about 4x the
#: modelled GEMM work, the per-unit terms about 1.5x.
WALL_PER_MODELLED = {"joint": 4.0, "per_unit": 1.5}


class Monitor:
    """``Monitor(x, every=100, output="trajectory.h5")``; call ``update(model, step)`` in
    the training loop. ``x``: held-out inputs (N, ...), an array or tensor; ``examples``:
    how many of them (a subset fixed by ``seed``); ``every``: analyse when ``step`` is a
    multiple of it; ``budget``: seconds per update (``max_points`` instead: that many
    evaluation points for I(x;z), whatever they cost). ``update`` returns the scalars
    (nats, counts) of that step, or None."""

    def __init__(
        self,
        x,
        *,
        every: int = 1,
        output=None,
        examples: int = 1000,
        budget: float = 1.0,
        max_points: int | None = None,
        seed: int = 0,
        analyses=CHEAP,
    ):
        x = x.detach().cpu().numpy() if isinstance(x, torch.Tensor) else np.asarray(x)
        if x.ndim < 2 or len(x) < 2:
            raise OptionsError(f"Monitor needs held-out inputs x of shape (N, ...), got {x.shape}")
        if every < 1:
            raise OptionsError(f"Monitor(every=...) must be at least 1, got {every}")
        if not budget > 0:
            raise OptionsError(
                f"Monitor(budget=...) must be a positive number of seconds, got {budget}"
            )
        chosen = np.sort(np.random.default_rng(seed).permutation(len(x))[:examples])
        self.x, self.every, self.seed = x[chosen], every, seed
        self._held_out_sha256 = _sha256_of(self.x)
        self.output = None if output is None else Path(output)
        self.budget, self.max_points = float(budget), max_points
        self.analyses = tuple(analyses)
        self._warned = False
        self.points: list[trajectory.Point] = []
        self.earlier = self._earlier_series()

    @property
    def settings(self) -> dict:
        """What the series depends on (with ``every``), as the file's provenance keeps it."""
        found = {"seed": self.seed, "budget_seconds": self.budget, "examples": len(self.x)}
        found["held_out_sha256"] = self._held_out_sha256
        found["analyses"] = list(self.analyses)
        if self.max_points is not None:
            found["max_points"] = self.max_points
        return found

    def _earlier_series(self) -> trajectory.Trajectory | None:
        if self.output is None or not self.output.exists():
            return None
        remedy = "pass another output or remove it"
        try:
            kind = store.file_kind(self.output)
        except StatsFileError as e:
            raise OptionsError(f"{e}; the Monitor will not overwrite it: {remedy}") from e
        is_series = kind == store.TRAJECTORY_FORMAT
        earlier = store.read_trajectory_file(self.output) if is_series else None
        if earlier is None or not earlier.provenance.get("monitor"):
            raise OptionsError(f"{self.output} exists and is not a Monitor's series; {remedy}")
        recorded = earlier.provenance["monitor"]
        differ = [k for k, v in self.settings.items() if recorded.get(k) != v]
        if differ:
            raise OptionsError(
                f"{self.output} holds a Monitor's series with other {', '.join(differ)}; "
                f"its figures would not be comparable: {remedy}"
            )
        return earlier

    def update(self, model: torch.nn.Module, step: int, epoch: int | None = None) -> dict | None:
        if step % self.every:
            return None
        started = time.perf_counter()
        reference = next(iter(model.parameters()), torch.zeros(()))
        was_training = model.training
        try:
            stats = extract(model, self.x, device=str(reference.device), seed=self.seed)
        finally:
            model.train(was_training)
        options = {"mutual_information": self.points_for(stats.n_units)}
        options = {k: v for k, v in options.items() if k in self.analyses}
        report = analyze(stats, only=self.analyses, options=options, seed=self.seed)
        self._check_time(time.perf_counter() - started, step)
        name = Path(f"step={step}" + ("" if epoch is None else f"-epoch={epoch}"))
        self.points.append(trajectory.Point(name, int(step), epoch, "", report))
        if self.output is not None:
            store.write_trajectory_file(self.output, self.trajectory, force=True)
        return scalars(report)

    def points_for(self, units: int) -> MutualInformationOptions:
        """I(x;z)'s evaluation points: ``max_points``, else what fits the budget."""
        if self.max_points is not None:
            return MutualInformationOptions(max_points=self.max_points)
        draws = MI_DEFAULTS.draws_per_example
        half = self.budget * 1e9 / 2
        joint, unit = point_budget(
            len(self.x),
            units,
            draws,
            joint_ns=half / WALL_PER_MODELLED["joint"],
            unit_floor_ns=half / WALL_PER_MODELLED["per_unit"],
        )
        return MutualInformationOptions(max_points=joint, per_unit_max_points=unit)

    def _check_time(self, seconds: float, step: int) -> None:
        if self._warned or self.max_points is not None or seconds <= 2 * self.budget:
            return
        self._warned = True
        warnings.warn(
            f"the latentprobe Monitor's update at step {step} took {seconds:.1f} s, over "
            f"twice its budget of {self.budget:g} s (the cost model is a 2-core machine's, "
            "and the encoder's time is not in it); pass fewer examples or a larger budget",
            stacklevel=3,
        )

    @property
    def trajectory(self) -> trajectory.Trajectory:
        settings = {"every": self.every, **self.settings}
        series = trajectory.build(self.points, {"monitor": settings})
        return series if self.earlier is None else trajectory.joined(self.earlier, series)


def _sha256_of(x: np.ndarray) -> str:
    """SHA-256 of an array's dtype, shape and bytes (the same bytes reshaped are other
    inputs to an encoder)."""
    digest = hashlib.sha256(f"{x.dtype.str}{x.shape}".encode())
    digest.update(np.ascontiguousarray(x).data)
    return digest.hexdigest()


def scalars(report) -> dict:
    """The scalars a logger records: I(x;z) and its interval, the rate, the unit counts."""
    found = {}
    mi = report.results.get("mutual_information")
    if mi is not None:
        found.update(mi=mi.nats, mi_ci95_low=mi.ci95_low, mi_ci95_high=mi.ci95_high)
    kl = report.results.get("kl_divergence")
    if kl is not None:
        found["rate"] = kl.total_rate
    for status in ("active", "collapsed"):
        found[f"{status}_units"] = float(len(report.verdict.units_with(status)))
    return found
