"""Cleaning and preparing a label set (latentprobe.analyzers.probes.labels)."""

from __future__ import annotations

import numpy as np
import pytest

from latentprobe.analyzers.probes.labels import clean_labels, label_columns, prepare
from latentprobe.errors import DataError


def test_missing_labels_are_dropped_and_classes_recoded():
    rows, y, task = clean_labels([3, 7, 3, -1, np.nan, 7.0], 6, "y")
    assert task == "classification"
    assert rows.tolist() == [0, 1, 2, 5] and y.tolist() == [0, 1, 0, 1]
    assert y.dtype == np.int64


def test_non_integer_numbers_are_a_regression_target():
    rows, y, task = clean_labels([0.5, -1, 2.25, 3.0], 4, "t")
    assert task == "regression" and rows.tolist() == [0, 2, 3]
    assert y.tolist() == [0.5, 2.25, 3.0]


def test_up_to_100_integer_values_are_classes_beyond_that_a_target():
    assert clean_labels(np.arange(100), 100, "y")[2] == "classification"
    assert clean_labels(np.arange(101), 101, "y")[2] == "regression"


def test_strings_and_booleans_are_coded_by_value():
    _, y, task = clean_labels(np.array(["dog", "cat", "dog", "eel"]), 4, "s")
    assert task == "classification" and y.tolist() == [1, 0, 1, 2]  # sorted: cat dog eel
    _, y, task = clean_labels(np.array([True, False, True]), 3, "b")
    assert task == "classification" and y.tolist() == [1, 0, 1]


def test_all_missing_leaves_nothing():
    rows, y, task = clean_labels([-1, np.nan, -1], 3, "y")
    assert rows.size == 0 and y.size == 0 and task == "regression"
    assert prepare([-1, np.nan, -1], 3, "y", 5).skip_reason == "too few or constant targets"


def test_length_mismatch_is_refused():
    with pytest.raises(DataError, match="labels 'y' have 3 entries but the statistics have 4"):
        clean_labels([0, 1, 0], 4, "y")


def test_singleton_class_is_left_out_and_the_rest_recoded():
    ls = prepare([0] * 5 + [1] + [2] * 5, 11, "y", 5)
    assert ls.n_rare == 1 and ls.n_missing == 0 and ls.n == 10 and ls.k == 2
    assert ls.rows.tolist() == [0, 1, 2, 3, 4, 6, 7, 8, 9, 10]
    assert ls.y.tolist() == [0] * 5 + [1] * 5
    assert ls.notes == ("1 examples of classes with a single member left out",)
    assert ls.skip_reason == "" and ls.folds == 5


def test_small_class_reduces_the_folds_with_a_note():
    ls = prepare([0] * 10 + [1] * 3 + [-1], 14, "y", 5)
    assert ls.folds == 3 and ls.n_missing == 1
    assert ls.notes == ("3 examples in the smallest class: 3 folds, not 5",)


def test_fewer_than_two_classes_is_skipped():
    ls = prepare([4, 4, 4, 9], 4, "y", 5)
    assert ls.skip_reason == "fewer than two classes" and ls.n_rare == 1
    assert ls.notes == ("1 examples of classes with a single member left out",)


def test_constant_or_short_regression_target_is_skipped():
    assert prepare(np.full(20, 0.5), 20, "t", 5).skip_reason == "too few or constant targets"
    assert prepare([0.1, 0.2, 0.3], 3, "t", 5).skip_reason == "too few or constant targets"
    ls = prepare(np.linspace(0, 1, 20) + 0.01, 20, "t", 5)
    assert ls.skip_reason == "" and ls.k == 0 and ls.task == "regression"


def _digits():
    from sklearn.datasets import load_digits

    digits = load_digits()
    return digits.data / 16.0, digits.target


def test_condition_labels_packed_into_x_are_found():
    """Issue 11: a conditional VAE's x carries its label (a one-hot block, a column equal to
    the class); those columns, and only those, are marked. Digits' real pixels, including
    the ones that are 0 everywhere, are not."""
    x, y = _digits()
    ls = prepare(y, len(y), "digit", 5)
    assert not label_columns(x, ls).any()
    packed = np.column_stack([x, np.eye(10)[y], y.astype(float), (y % 2) * 3.0])
    marked = label_columns(packed, ls)
    assert np.flatnonzero(marked).tolist() == list(range(64, 64 + 12))


def test_label_columns_need_two_examples_per_class():
    ls = prepare([0, 0, 1, 1, 2, 2], 6, "y", 2)
    varying = np.array([[0.0, 1], [0, 2], [1, 3], [1, 4], [2, 5], [2, 6]])
    assert label_columns(varying, ls).tolist() == [True, False]
    unique = prepare(np.arange(6), 6, "y", 2)  # one example per class: every column "fits"
    assert unique.skip_reason or not label_columns(varying, unique).any()


def test_a_regression_target_marks_only_a_column_equal_to_it():
    rng = np.random.default_rng(0)
    t = rng.normal(size=50)
    ls = prepare(t, 50, "t", 5)
    x = np.column_stack([rng.normal(size=50), t, 2 * t])
    assert label_columns(x, ls).tolist() == [False, True, False]
