"""The error classes: one per thing to fix, each with its own exit code."""

from __future__ import annotations

import inspect

import pytest

from latentprobe import errors
from latentprobe.errors import (
    CheckpointError,
    EncoderOutputError,
    LatentprobeError,
    OptionsError,
    PosteriorError,
    UnsafeCheckpointError,
)

CLASSES = [
    cls
    for _, cls in inspect.getmembers(errors, inspect.isclass)
    if issubclass(cls, LatentprobeError) and cls.__module__ == errors.__name__
]
SHARED = {EncoderOutputError: PosteriorError}


def test_every_class_is_found():
    assert len(CLASSES) >= 13
    assert LatentprobeError in CLASSES and UnsafeCheckpointError in CLASSES


@pytest.mark.parametrize("cls", CLASSES, ids=lambda c: c.__name__)
def test_codes_are_within_the_shell_range(cls):
    assert isinstance(cls.exit_code, int)
    assert 1 <= cls.exit_code <= 125


def test_codes_are_distinct_but_for_the_documented_pairs():
    owners = {}
    for cls in CLASSES:
        if cls in SHARED:
            continue
        assert cls.exit_code not in owners, (cls, owners.get(cls.exit_code))
        owners[cls.exit_code] = cls
    assert EncoderOutputError.exit_code == PosteriorError.exit_code == 6


def test_documented_subclasses():
    assert issubclass(EncoderOutputError, PosteriorError)
    assert issubclass(UnsafeCheckpointError, CheckpointError)
    assert UnsafeCheckpointError.exit_code == 3 != CheckpointError.exit_code
    # a handler of CheckpointError also catches the unsafe one
    with pytest.raises(CheckpointError):
        raise UnsafeCheckpointError("pickled module")


def test_the_base_code_and_click_usage_code():
    assert LatentprobeError.exit_code == 1
    assert OptionsError.exit_code == 2  # click's usage errors exit with 2 as well


@pytest.mark.parametrize("cls", CLASSES, ids=lambda c: c.__name__)
def test_every_class_is_an_exception_with_a_docstring(cls):
    assert issubclass(cls, Exception)
    assert cls.__doc__ and cls.__doc__.strip()
    assert str(cls("the message")) == "the message"
