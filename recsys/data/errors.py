"""What loading a dataset can raise or warn: every message says what is wrong and how to fix it."""

from __future__ import annotations


class DataError(ValueError):
    """A dataset could not be read; the message says what and how to fix it."""


class DataWarning(UserWarning):
    """A dataset loaded, but some of its rows were dropped or reinterpreted."""
