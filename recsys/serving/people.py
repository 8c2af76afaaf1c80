"""People known by their own ratings (a stored profile, say), and groups of them watching together.

A `Person` is what the recommender needs of someone who is not a dataset user: the movies
they rated, oldest first, and those they saw without rating. `Recommender.for_person` puts
the ratings through the user tower and the item-item part exactly as a dataset user's
history goes (`FeatureSpace.history_query`); `Recommender.for_group` ranks for several.

Fairness of a group list: each member's model scores are standardised over the whole
catalogue (z: how many standard deviations above their own average a movie is), and a
movie's group score is the LOWEST member's z, ties broken by the members' mean z. So a
movie ranks high only when it is good for everyone ("least misery"), and no member's strong
wish can carry a movie another member would dislike. Each member's fit is reported per movie
(their percentile) and for the whole list.

This module knows nothing of how profiles are stored (recsys.profiles sits beside serving);
`match_movie` maps a remembered (title, year) onto this catalogue for profiles made against
another dataset.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from recsys.data import vocab
from recsys.features.queries import UserQuery
from recsys.serving.catalogue import Catalogue
from recsys.serving.inputs import age_code, gender_code
from recsys.serving.results import Recommendation
from recsys.serving.wording import names

GROUP_METHOD = (
    "Each member's model scores are standardised over the whole catalogue; a movie's group "
    "score is the lowest member's standard score (ties: the members' mean), so every movie "
    "suits everyone and no one's wish outweighs another's dislike. score is the chance the "
    "least keen member likes it; members[] give each member's chance and where the movie "
    "ranks in their own taste."
)


@dataclass(frozen=True)
class Person:
    """Someone known by their own ratings: a stored profile, or any list of rated movies."""

    name: str
    ratings: tuple[tuple[int, float], ...] = ()  # (movie id, stars), oldest first
    seen: tuple[int, ...] = ()  # movie ids seen without a rating; never recommended
    # Added for a profile that is still thin (stated genres go in front of the derived ones).
    genres: tuple[str, ...] = ()
    age: int | None = None
    occupation: str | None = None
    gender: str | None = None


@dataclass(frozen=True)
class Demographic:
    """Stated age, gender and occupation as the model reads them, and what was left out."""

    age_code: int | None
    age_label: str | None
    gender: str | None  # "M" / "F"
    occupation: str | None  # an entry of the model's occupation vocabulary
    ignored: tuple[str, ...]

    @property
    def used(self) -> bool:
        return any(v is not None for v in (self.age_code, self.gender, self.occupation))

    def who(self) -> str | None:
        """'25-34, men, programmer' for reasons; None when nothing was used."""
        if not self.used:
            return None
        men_women = {"M": "men", "F": "women"}.get(self.gender or "")
        return ", ".join(v for v in (self.age_label, men_women, self.occupation) if v)


def interpret_demographics(
    age: int | None,
    occupation: str | None,
    gender: str | None,
    occupations: Sequence[str],
    has_demographics: bool,
) -> Demographic:
    """What a model with (or without) demographics makes of stated age, occupation, gender."""
    ignored: list[str] = []
    code: int | None = None
    label: str | None = None
    if age is not None:
        code, label = age_code(age)
    sex = None
    if gender is not None and str(gender).strip():
        sex = gender_code(str(gender))
        if sex is None:
            ignored.append(
                f"gender {gender!r}: the training data records only male/female, so it is left out"
            )
    occ = None
    if occupation is not None and str(occupation).strip() and has_demographics:
        occ = vocab.match_occupation(str(occupation), list(occupations))
        if occ is None:
            ignored.append(
                f"occupation {occupation!r}: no match among the model's occupations "
                f"({', '.join(occupations)})"
            )
    if not has_demographics:
        why = "this model was trained without demographics"
        if age is not None:
            ignored.append(f"age {age}: {why}")
        if sex is not None:
            ignored.append(f"gender {gender}: {why}")
        if occupation is not None and str(occupation).strip():
            ignored.append(f"occupation {occupation!r}: {why}")
        code = label = sex = occ = None
    return Demographic(code, label, sex, occ, tuple(ignored))


@dataclass(frozen=True)
class PersonQuery:
    """A person as the towers read them: their query, and their movies as dense indices."""

    person: Person
    query: UserQuery
    items: np.ndarray  # rated movies, oldest first
    ratings: np.ndarray  # their stars
    seen: np.ndarray  # seen without a rating
    stated: tuple[str, ...]  # canonical genres given for the call
    demographic: Demographic


# --------------------------------------------------------------------------- results


@dataclass(frozen=True)
class PersonSummary:
    name: str
    n_ratings: int  # ratings the recommendation read
    n_seen: int  # movies seen without a rating (excluded, not read)
    favourite_genres: tuple[str, ...]  # derived from their ratings, as for a dataset user
    stated_genres: tuple[str, ...]  # genres given for this call
    age_bucket: str | None
    gender: str | None
    occupation: str | None
    ignored: tuple[str, ...]


@dataclass(frozen=True)
class PersonResult:
    profile: PersonSummary
    items: tuple[Recommendation, ...]
    note: str | None


@dataclass(frozen=True)
class MemberFit:
    profile: str
    percentile: float  # share of the catalogue this member scores below the movie, 0-100
    standard_score: float  # (score - member's mean) / member's standard deviation
    chance: float = 0.0  # the member's calibrated chance of liking it


@dataclass(frozen=True)
class GroupItem(Recommendation):
    """A group's pick: `score` is the chance the least keen member likes it (each member's
    calibrated chance at the movie's place in their own list)."""

    members: tuple[MemberFit, ...] = ()
    group_score: float = 0.0  # what the list is ranked by: the lowest member's standard score


@dataclass(frozen=True)
class GroupMember:
    profile: str
    n_ratings: int
    n_seen: int
    favourite_genres: tuple[str, ...]
    list_fit: float  # the member's mean percentile over the list (100 = all their top picks)


@dataclass(frozen=True)
class GroupResult:
    members: tuple[GroupMember, ...]
    items: tuple[GroupItem, ...]
    method: str
    note: str | None


# --------------------------------------------------------------------------- groups


@dataclass(frozen=True)
class GroupScores:
    """Every member's standing on every movie, and the group score built from them."""

    z: np.ndarray  # (members, movies) standard scores
    percentile: np.ndarray  # (members, movies), 0-100
    group: np.ndarray  # (movies,) the lowest member's z
    mean: np.ndarray  # (movies,) the members' mean z, to break ties


def group_scores(cosines: np.ndarray) -> GroupScores:
    """Standardise each member's scores (rows of `cosines`) over the catalogue; combine them."""
    scores = np.asarray(cosines, dtype=np.float64)
    spread = scores.std(axis=1, keepdims=True)
    z = (scores - scores.mean(axis=1, keepdims=True)) / np.maximum(spread, 1e-12)
    n = scores.shape[1]
    ranks = scores.argsort(axis=1, kind="stable").argsort(axis=1, kind="stable")
    percentile = 100.0 * ranks / max(n - 1, 1)
    return GroupScores(z, percentile, z.min(axis=0), z.mean(axis=0))


def own_ranks(scores: GroupScores, allowed: np.ndarray, picks: np.ndarray) -> np.ndarray:
    """(members, picks): each pick's 1-based place in each member's own list of the allowed."""
    z = np.sort(scores.z[:, allowed], axis=1)
    return np.stack(
        [
            z.shape[1] - np.searchsorted(row, scores.z[m, picks], side="right") + 1
            for m, row in enumerate(z)
        ]
    )


def group_top(scores: GroupScores, allowed: np.ndarray, k: int) -> np.ndarray:
    """The k allowed movies with the highest group score (ties: mean z, then lower index)."""
    candidates = np.flatnonzero(allowed)
    order = np.lexsort((candidates, -scores.mean[candidates], -scores.group[candidates]))
    return candidates[order[:k]]


def group_reason(member_names: Sequence[str], percentiles: Sequence[float]) -> str:
    """'In alice's top 3% and bob's top 8%.' (each member's own taste)."""
    parts = [
        f"{name}'s top {_share(100.0 - p)}"
        for name, p in zip(member_names, percentiles, strict=True)
    ]
    return f"In {names(parts)}."


def _share(top: float) -> str:
    """'0.4%' below 1%, else whole percents rounded up ('top 3%' means within the best 3%)."""
    return f"{max(0.1, math.ceil(top * 10) / 10):.1f}%" if top < 1 else f"{math.ceil(top)}%"


# --------------------------------------------------------------------------- other datasets


def match_movie(catalogue: Catalogue, title: str, year: int | None) -> int | None:
    """The one movie of `catalogue` with this title and year (dense index), else None.

    Exact title keys only (article moved or not, accents and case folded, alternate titles
    in parentheses) and the same year: a near miss is not the same film, so it stays
    unmatched rather than read as another one. A movie of no known year matches only a
    movie of no known year.
    """
    wanted = -1 if year is None else year  # the catalogue's years: -1 = unknown
    found = catalogue.title_index.exact(title)
    same = [int(i) for i in found if int(catalogue.years[i]) == wanted]
    return same[0] if len(same) == 1 else None
