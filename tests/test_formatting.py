"""Numbers as text: fixed point, scientific for tiny values, a dash for what is missing."""

from __future__ import annotations

import math

import numpy as np
import pytest

from latentprobe.formatting import fmt


@pytest.mark.parametrize(
    "value, text",
    [
        (1.5, "1.5000"),
        (-2.25, "-2.2500"),
        (0.0, "0.0000"),
        (0, "0.0000"),
        (3, "3.0000"),
        (1234.56789, "1234.5679"),
        (0.001, "0.0010"),  # the smallest value shown in fixed point
        (0.00099, "9.90e-04"),
        (1.234e-5, "1.23e-05"),
        (-4e-7, "-4.00e-07"),
        (np.float64(0.5), "0.5000"),
        (np.int64(7), "7.0000"),
    ],
)
def test_known_texts(value, text):
    assert fmt(value) == text


@pytest.mark.parametrize("value", [None, math.nan, math.inf, -math.inf, np.float64("nan")])
def test_missing_or_not_finite_is_a_dash(value):
    assert fmt(value) == "-"


@pytest.mark.parametrize("value", [np.float32("nan"), np.float32("inf")])
def test_a_float32_that_is_not_finite_is_a_dash(value):
    assert fmt(value) == "-"


@pytest.mark.parametrize("digits", [1, 2, 3, 4, 6])
def test_a_nonzero_value_never_shows_as_zero(digits):
    for value in (10.0**-k for k in range(1, 12)):
        for signed in (value, -value, 0.5 * value, 0.99 * value):
            text = fmt(signed, digits)
            assert float(text) != 0.0, (signed, digits, text)
            assert float(text) == pytest.approx(signed, rel=0.06)


@pytest.mark.parametrize("digits", [1, 2, 4])
def test_digits_sets_the_decimals(digits):
    text = fmt(12.0, digits)
    assert text == f"12.{'0' * digits}"
    assert fmt(10.0**-digits * 10, digits) == f"{10.0**-digits * 10:.{digits}f}"
    assert "e" in fmt(10.0**-digits * 9, digits)
