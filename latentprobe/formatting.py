"""Numbers as text, the same way in every summary line and table."""

from __future__ import annotations

import math


def fmt(value, digits: int = 4) -> str:
    """Fixed point, or scientific for tiny values that fixed point would show as 0.0000;
    ``-`` for a value that is missing or not finite."""
    if value is None or not math.isfinite(value):
        return "-"
    if value != 0 and abs(value) < 10**-digits * 10:
        return f"{value:.2e}"
    return f"{value:.{digits}f}"
