"""Checking and coercing what a caller passes: counts, ages, genders."""

from __future__ import annotations

from typing import Any, TypeGuard

import numpy as np

from recsys.data import vocab
from recsys.serving.errors import InvalidArgumentError

MAX_K = 100
MIN_AGE, MAX_AGE = 1, 120
GENDERS = {
    "m": "M", "male": "M", "man": "M", "boy": "M", "masculine": "M", "he": "M",
    "f": "F", "female": "F", "woman": "F", "girl": "F", "feminine": "F", "she": "F",
}  # fmt: skip


def is_int(value: object) -> TypeGuard[int | np.integer[Any]]:
    return isinstance(value, int | np.integer) and not isinstance(value, bool)


def check_k(k: object) -> int:
    if not is_int(k) or not 1 <= int(k) <= MAX_K:
        raise InvalidArgumentError(f"k must be an integer from 1 to {MAX_K}, got {k!r}")
    return int(k)


def age_code(age: object) -> tuple[int, str]:
    """(ML-1M age code, its label) for an age in years."""
    if not is_int(age) or not MIN_AGE <= int(age) <= MAX_AGE:
        raise InvalidArgumentError(
            f"age must be a whole number of years from {MIN_AGE} to {MAX_AGE}, got {age!r}"
        )
    code = vocab.age_bucket(int(age))
    return code, vocab.AGE_BUCKETS[code]


def gender_code(gender: str) -> str | None:
    """ "M", "F", or None when the text names neither."""
    return GENDERS.get(gender.strip().lower())
