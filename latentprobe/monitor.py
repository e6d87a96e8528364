"""A training-time monitor: the cheap analyses on a fixed held-out subset, every few steps,
kept as a trajectory (``latentprobe.Monitor``; the Lightning callback in
``latentprobe.callback`` drives one).

Each ``update(model, step)`` encodes the same examples (a subset of ``data`` fixed by the
seed) with the model in eval mode under inference mode, on the model's own device, puts the
model back in the mode it was in, and runs the active units, the KL and I(x;z) (at most
``max_points`` evaluation points, per-unit terms included: about a second on 2 cores for
1,000 examples). The series is rewritten atomically to ``output`` after every update.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from . import store, trajectory
from .analyzers.mutual_information import MutualInformationOptions
from .errors import OptionsError
from .extraction import extract
from .report import analyze

CHEAP = ("active_units", "kl_divergence", "mutual_information")


class Monitor:
    """``Monitor(x, every=100, output="trajectory.h5")``; call ``update(model, step)`` in
    the training loop. ``x``: held-out inputs (N, ...), an array or tensor; ``examples``:
    how many of them (a subset fixed by ``seed``); ``every``: analyse when ``step`` is a
    multiple of it. ``update`` returns the scalars (nats, counts) of that step, or None."""

    def __init__(
        self,
        x,
        *,
        every: int = 1,
        output=None,
        examples: int = 1000,
        max_points: int = 1000,
        seed: int = 0,
        analyses=CHEAP,
    ):
        x = x.detach().cpu().numpy() if isinstance(x, torch.Tensor) else np.asarray(x)
        if x.ndim < 2 or len(x) < 2:
            raise OptionsError(f"Monitor needs held-out inputs x of shape (N, ...), got {x.shape}")
        if every < 1:
            raise OptionsError(f"Monitor(every=...) must be at least 1, got {every}")
        chosen = np.sort(np.random.default_rng(seed).permutation(len(x))[:examples])
        self.x, self.every, self.seed = x[chosen], every, seed
        self.output = None if output is None else Path(output)
        self.options = {"mutual_information": MutualInformationOptions(max_points=max_points)}
        self.analyses = tuple(analyses)
        self.points: list[trajectory.Point] = []

    def update(self, model: torch.nn.Module, step: int, epoch: int | None = None) -> dict | None:
        if step % self.every:
            return None
        reference = next(iter(model.parameters()), torch.zeros(()))
        was_training = model.training
        try:
            stats = extract(model, self.x, device=str(reference.device), seed=self.seed)
        finally:
            model.train(was_training)
        options = {k: v for k, v in self.options.items() if k in self.analyses}
        report = analyze(stats, only=self.analyses, options=options, seed=self.seed)
        name = Path(f"step={step}" + ("" if epoch is None else f"-epoch={epoch}"))
        self.points.append(trajectory.Point(name, int(step), epoch, "", report))
        if self.output is not None:
            store.write_trajectory_file(self.output, self.trajectory, force=True)
        return scalars(report)

    @property
    def trajectory(self) -> trajectory.Trajectory:
        return trajectory.build(self.points, {"monitor": {"every": self.every, "seed": self.seed}})


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
