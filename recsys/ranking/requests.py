"""What rankers are asked and what they answer, in the catalogue's terms (dense movie indices)."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np


@dataclass(frozen=True)
class PreferenceRequest:
    """A new person's request: stated genres, demographics, liked/disliked/excluded movies.

    `genres` is an ANY-of filter over groups; a group of two or more genres
    needs all of them (the alias "rom-com" is the group (Romance, Comedy)).
    `allowed` carries every other filter (excluded genres, years) as a mask.
    """

    genres: tuple[tuple[str, ...], ...] = ()
    gender: str | None = None  # "M" / "F"
    age: int | None = None  # ML-1M age code
    occupation: str | None = None  # an entry of the model's occupations
    liked: tuple[int, ...] = ()  # in the order given
    disliked: tuple[int, ...] = ()
    excluded: tuple[int, ...] = ()
    allowed: np.ndarray | None = field(default=None, compare=False)  # bool (n_movies,)
    k: int = 10

    @property
    def stated(self) -> tuple[str, ...]:
        """Every stated genre once, in the order given (what the user tower reads)."""
        return tuple(dict.fromkeys(g for group in self.genres for g in group))


@dataclass(frozen=True)
class Reason:
    """Why a movie is in a list.

    term: "liked" (people who liked `liked` like this movie: co-like lift and
    co-likers as counted from the training likes), else what drove the pick: for
    preferences the score term ("z0", "zt", "gfrac" or "lpop"), for similar
    movies "blend" (at least 5 people rated both; genres and era count too) or
    "content" (genres, year and the tower: few people rated both).
    """

    term: str
    liked: int | None = None
    lift: float | None = None
    co_likers: int | None = None


@dataclass(frozen=True)
class Ranked:
    """A preference ranking: picks best first, each with its score, chance and reason."""

    items: np.ndarray  # int64 dense indices
    scores: np.ndarray  # float64: the ranker's score (after the dislike push)
    chance: np.ndarray  # float64 in [0, 1], non-increasing: estimated P(the person likes it)
    reasons: tuple[Reason, ...]
    exception: bool  # most liked movies carry none of the stated genres: theirs admitted too
    admitted: tuple[str, ...]  # the genres the exception admitted
    shortfall: int  # how many fewer than k passed the filters


@dataclass(frozen=True)
class SimilarRanked:
    """A similar-movies ranking for one anchor."""

    anchor: int
    items: np.ndarray  # int64 dense indices
    blend: np.ndarray  # float64: the raw similarity blend (content part only past neighbours)
    similarity: np.ndarray  # float64 in [0, 1], non-increasing: P(liked anchor -> likes it)
    reasons: tuple[Reason, ...]
    shortfall: int
