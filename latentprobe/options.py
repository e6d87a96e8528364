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
