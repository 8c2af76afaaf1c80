"""Profile names and namespaces: what is allowed, checked once, with a message that says how."""

from __future__ import annotations

import re

from recsys.profiles.errors import ProfileError

MAX_NAME = 64
_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,63}")
RULE = "1-64 characters from A-Z, a-z, 0-9, '_', '.', '-', starting with a letter or digit"


def name_problem(value: object, what: str = "profile name") -> str | None:
    """Why `value` is not a valid name, or None when it is."""
    if not isinstance(value, str):
        return f"{what} must be a string, not {type(value).__name__}"
    if _NAME.fullmatch(value):
        return None
    if not value:
        return f"{what} is empty; use {RULE}"
    if len(value) > MAX_NAME:
        return f"{what} {value[:20]!r}... is {len(value)} characters long; use {RULE}"
    return f"{what} {value!r} is not allowed; use {RULE}"


def check_name(value: object, what: str = "profile name") -> str:
    """`value` itself when it is a valid name; otherwise a ProfileError saying why."""
    problem = name_problem(value, what)
    if problem is not None or not isinstance(value, str):
        raise ProfileError(problem or f"{what} must be a string")
    return value
