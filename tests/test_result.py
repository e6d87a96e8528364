"""Result fields: kinds from annotations (never from values), per-unit columns, validation."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pytest

from latentprobe.analyzers.result import (
    Result,
    field_kinds,
    nested_type,
    quantity,
)


@dataclass(frozen=True)
class Inner(Result):
    value: float = quantity("a number", "nats")


@dataclass(frozen=True)
class Outer(Result):
    array: np.ndarray = quantity("per unit", per="unit")
    rows: np.ndarray = quantity("per example", per="example")
    number: float = quantity("a float", "nats")
    count: int = quantity("an int")
    flag: bool = quantity("a bool")
    text: str = quantity("a string")
    interval: list = quantity("two floats")
    maybe: bool | None = quantity("true, false or missing")
    inner: dict[str, Inner] = quantity("nested results")
    plain: dict = quantity("a plain mapping")


def test_kinds_come_from_annotations():
    assert field_kinds(Outer) == {
        "array": "array",
        "rows": "array",
        "number": "float",
        "count": "int",
        "flag": "bool",
        "text": "str",
        "interval": "json",
        "maybe": "json",
        "inner": "results",
        "plain": "json",
    }
    assert nested_type(Outer, "inner") is Inner


def test_per_must_be_known():
    with pytest.raises(ValueError, match="per must be one of"):
        quantity("x", per="batch")


def test_the_analyzers_load_no_file_library():
    import subprocess
    import sys

    code = (
        "import sys; from latentprobe.analyzers import mutual_information, probes; "
        "print(sorted(m for m in ('h5py', 'matplotlib', 'sklearn', 'click') if m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"
