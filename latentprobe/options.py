"""Option fields: a frozen dataclass's defaults are the only defaults, and its metadata
tells the command line how to offer each one (flag, help text, allowed range).

    @dataclass(frozen=True)
    class Settings:
        folds: int = option(5, "Stratified folds.", flag="--folds", minimum=2)

``cli_fields(Settings)`` lists what the command line needs to build a click option; the
command line then builds ``Settings(**values)`` by keyword.
"""

from __future__ import annotations

import dataclasses
import typing
from dataclasses import dataclass

from .errors import OptionsError


def option(
    default,
    help: str,
    *,
    flag: str | None = None,
    aliases: tuple[str, ...] = (),
    minimum: float | None = None,
    maximum: float | None = None,
    choices: tuple[str, ...] | None = None,
):
    """A dataclass field with a default, a description, and (with ``flag``) a CLI option."""
    metadata = {
        "help": help,
        "flag": flag,
        "aliases": aliases,
        "minimum": minimum,
        "maximum": maximum,
        "choices": choices,
    }
    return dataclasses.field(default=default, metadata=metadata)


class Options:
    """Base of the options dataclasses: each field is checked against its declared type,
    range and choices when the object is built (from the command line or from Python)."""

    def __post_init__(self):
        hints = typing.get_type_hints(type(self))
        for f in dataclasses.fields(self):
            _check(type(self).__name__, f, _base_type(hints[f.name]), getattr(self, f.name))


def _is_a(value, kind: type) -> bool:
    if kind is float:
        return isinstance(value, (int, float)) and not isinstance(value, bool)
    if kind is int:
        return isinstance(value, int) and not isinstance(value, bool)
    return isinstance(value, kind)


def _check(owner: str, f: dataclasses.Field, kind: type, value) -> None:
    name = f.metadata.get("flag") or f"{owner}.{f.name}"
    if value is None and f.default is None:
        return
    if not _is_a(value, kind):
        raise OptionsError(f"{name} must be of type {kind.__name__}, got {value!r}")
    low, high, choices = (f.metadata.get(k) for k in ("minimum", "maximum", "choices"))
    if low is not None and value < low:
        raise OptionsError(f"{name} must be at least {low}, got {value!r}")
    if high is not None and value > high:
        raise OptionsError(f"{name} must be at most {high}, got {value!r}")
    if choices and value not in choices:
        raise OptionsError(f"{name} must be one of {', '.join(choices)}, got {value!r}")


@dataclass(frozen=True)
class CliField:
    """What the command line needs to offer one option field."""

    name: str
    flag: str
    aliases: tuple[str, ...]
    type: type
    default: object
    help: str
    minimum: float | None
    maximum: float | None
    choices: tuple[str, ...] | None


def _base_type(hint) -> type:
    """``int`` for ``int`` and for ``int | None``."""
    args = [a for a in typing.get_args(hint) if a is not type(None)]
    return args[0] if args else hint


def cli_fields(settings_type: type) -> list[CliField]:
    """The fields of an options dataclass that carry a command-line flag."""
    hints = typing.get_type_hints(settings_type)
    return [
        CliField(
            f.name,
            f.metadata["flag"],
            f.metadata["aliases"],
            _base_type(hints[f.name]),
            f.default,
            f.metadata["help"],
            f.metadata["minimum"],
            f.metadata["maximum"],
            f.metadata["choices"],
        )
        for f in dataclasses.fields(settings_type)
        if f.metadata.get("flag")
    ]
