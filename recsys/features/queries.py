"""The one user-tower input: a known user and a stated preference set both become a `UserQuery`.

So the tools, the training loop and the evaluation share a single code path
(`recsys.features.encoding.encode_queries` turns queries into tower arrays).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TypedDict


class Demographics(TypedDict):
    """What a user tells about themselves, as `UserQuery`'s and `EvalUser`'s keyword arguments."""

    gender: str | None
    age: int | None  # ML-1M age code
    occupation: str | None


@dataclass(frozen=True)
class UserQuery:
    """One user-tower input."""

    gender: str | None = None
    age: int | None = None  # ML-1M age code
    occupation: str | None = None
    stated_genres: tuple[str, ...] = ()
    history: tuple[int, ...] = ()  # dense movie indices
    history_ratings: tuple[float, ...] = ()  # empty = every history item counts as liked
