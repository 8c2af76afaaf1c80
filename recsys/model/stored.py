"""Reading a flat settings dataclass back from the JSON a model was saved with, strictly.

A stored object with a field this code does not know, or without one it
needs, was written by another version: it is refused with a message to
retrain rather than half-read. Numbers must be numbers (not booleans), whole
where the field is an int, and finite.
"""

from __future__ import annotations

import math
from dataclasses import fields, is_dataclass
from typing import Any, TypeVar

T = TypeVar("T")

_KINDS: dict[str, tuple[type, ...]] = {"int": (int,), "float": (int, float), "str": (str,)}


def read_fields(cls: type[T], stored: object, where: str) -> T:
    """`cls` (a dataclass of int, float and str fields) from its stored JSON object; ValueError
    names `where` and what does not fit."""
    assert is_dataclass(cls)
    if not isinstance(stored, dict):
        raise ValueError(f"{where} must be a JSON object, got {type(stored).__name__}")
    known = {f.name for f in fields(cls)}
    unknown = sorted(set(stored) - known)
    missing = sorted(known - set(stored))
    if unknown or missing:
        odd = [f"unknown {', '.join(unknown)}"] if unknown else []
        odd += [f"missing {', '.join(missing)}"] if missing else []
        raise ValueError(
            f"{where} does not match this movierec's ({'; '.join(odd)}); "
            "the model was written by another version"
        )
    for f in fields(cls):
        check_value(stored[f.name], str(f.type), f"{where}.{f.name}")
    out: T = cls(**stored)
    return out


def check_value(value: Any, kind: str, where: str) -> None:
    if kind == "str":
        if not isinstance(value, str):
            raise ValueError(f"{where} must be text, got {value!r}")
        return
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise ValueError(f"{where} must be a number, got {value!r}")
    if kind == "int" and not isinstance(value, int):
        raise ValueError(f"{where} must be a whole number, got {value!r}")
    if not math.isfinite(value):
        raise ValueError(f"{where} must be finite, got {value!r}")
    if kind not in _KINDS:
        raise ValueError(f"{where} has a type this reader does not know ({kind})")
