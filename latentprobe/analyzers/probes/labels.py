"""Label sets made ready for probing: missing labels left out, classes re-coded 0..K-1,
classes with a single member left out, and the folds fitted to the smallest class.

Each step returns its notes; ``prepare`` gathers them in the ``LabelSet``.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ...errors import DataError

MAX_CLASSES = 100  # integer-valued labels with more distinct values are a regression target


@dataclass(frozen=True)
class LabelSet:
    """One label set, cleaned.

    ``rows`` (n,) are the indices of the examples kept among the N given; ``y`` (n,) their
    class codes 0..K-1 (int64) or regression targets (float64). ``skip_reason`` is '' when
    the set can be probed.
    """

    task: str
    rows: np.ndarray
    y: np.ndarray
    folds: int
    n_missing: int
    n_rare: int = 0
    skip_reason: str = ""
    notes: tuple[str, ...] = ()

    @property
    def n(self) -> int:
        return len(self.y)

    @property
    def k(self) -> int:
        """Classes (0 for a regression target)."""
        return int(self.y.max()) + 1 if self.task == "classification" else 0


def _as_numbers(labels, n: int, name: str) -> np.ndarray:
    """The labels as float64, shape (n,); strings and other objects are coded by value."""
    y = np.asarray(labels)
    if len(y) != n:
        raise DataError(
            f"labels {name!r} have {len(y)} entries but the statistics have "
            f"{n} examples; pass labels of the same length"
        )
    if y.dtype.kind not in "biuf":
        try:
            _, y = np.unique(y.astype(str), return_inverse=True)
        except (TypeError, ValueError) as e:
            raise DataError(f"labels {name!r} of type {y.dtype} cannot be encoded") from e
    return y.astype(np.float64)


def _are_classes(values: np.ndarray) -> bool:
    return (
        len(values) > 0
        and bool(np.all(values == np.round(values)))
        and len(np.unique(values)) <= MAX_CLASSES
    )


def clean_labels(labels, n: int, name: str) -> tuple[np.ndarray, np.ndarray, str]:
    """(kept rows, values, task) for labels of shape (n,).

    Missing labels (-1, NaN) are dropped; integer-valued labels with at most 100 distinct
    values are classes (re-coded 0..K-1, int64), other numbers a regression target. Raises
    ``DataError`` when the length is not ``n`` or the labels cannot be encoded.
    """
    y = _as_numbers(labels, n, name)
    keep = np.isfinite(y) & (y != -1)
    values = y[keep]
    if _are_classes(values):
        _, codes = np.unique(values, return_inverse=True)
        return np.flatnonzero(keep), codes.astype(np.int64), "classification"
    return np.flatnonzero(keep), values, "regression"


def _drop_singletons(y: np.ndarray) -> tuple[np.ndarray, list[str]]:
    """Mask of the examples kept (their class has two members or more), and a note."""
    rare = np.bincount(y)[y] < 2
    if not rare.any():
        return ~rare, []
    return ~rare, [f"{int(rare.sum())} examples of classes with a single member left out"]


def _fit_folds(y: np.ndarray, folds: int) -> tuple[int, list[str]]:
    """As many folds as asked, or as the smallest class has members when that is fewer."""
    smallest = int(np.bincount(y).min())
    if smallest >= folds:
        return folds, []
    return smallest, [f"{smallest} examples in the smallest class: {smallest} folds, not {folds}"]


def _regression_set(rows: np.ndarray, y: np.ndarray, n: int, folds: int) -> LabelSet:
    too_few = len(rows) < folds or np.ptp(y) == 0
    reason = "too few or constant targets" if too_few else ""
    return LabelSet("regression", rows, y, folds, n - len(rows), skip_reason=reason)


def prepare(labels, n: int, name: str, folds: int) -> LabelSet:
    """Clean one label set of shape (n,) for ``folds``-fold probes (see ``clean_labels``);
    classes with a single member are left out and the folds reduced to the smallest class."""
    rows, y, task = clean_labels(labels, n, name)
    if task == "regression":
        return _regression_set(rows, y, n, folds)
    kept, rare_notes = _drop_singletons(y)
    n_missing, n_rare = n - len(rows), int((~kept).sum())
    if n_rare:
        rows, y = rows[kept], np.unique(y[kept], return_inverse=True)[1]
    if len(np.unique(y)) < 2:
        reason = "fewer than two classes"
        return LabelSet(task, rows, y, folds, n_missing, n_rare, reason, tuple(rare_notes))
    folds, fold_notes = _fit_folds(y, folds)
    return LabelSet(task, rows, y, folds, n_missing, n_rare, notes=tuple(rare_notes + fold_notes))


def label_columns(inputs: np.ndarray, ls: LabelSet) -> np.ndarray:
    """Which columns of ``inputs`` (n, F) are the labels packed into x, shape (F,) bool.

    A conditional VAE's data often carries its condition label in x (a column equal to y, a
    one-hot block). Probes on such x would score the label itself, not what x says about it.
    For classes a column counts when it is the same within every class and not the same
    everywhere (a function of the label); this needs at least two examples per class, so with
    fewer nothing is marked. For a regression target only a column equal to y counts.
    """
    if ls.task != "classification":
        return np.all(inputs == ls.y[:, None], axis=0)
    counts = np.bincount(ls.y, minlength=ls.k)
    if counts.min() < 2:
        return np.zeros(inputs.shape[1], dtype=bool)
    order = np.argsort(ls.y, kind="stable")
    starts = np.concatenate([[0], np.cumsum(counts)[:-1]])
    ordered = inputs[order]
    highest = np.maximum.reduceat(ordered, starts, axis=0)
    lowest = np.minimum.reduceat(ordered, starts, axis=0)
    within_class = np.all(highest == lowest, axis=0)
    varies = inputs.max(axis=0) > inputs.min(axis=0)
    return within_class & varies
