"""Request adherence, measured on the lists a recommender gave for stated preferences.

Per list: how many items carry a stated genre, how well known the movies are
(median training ratings, share among the most-rated), the most of one franchise,
and whether a liked, disliked or excluded movie was listed. Over lists: the title
found in most lists and the distinct titles. Reasons: every "because you liked X"
re-checked with `recsys.evaluation.colikes`, and the share citing a liked movie.
Everything is in dense catalogue indices.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from recsys.evaluation.colikes import CoLikes
from recsys.features.franchises import Franchises

MOST_RATED = 100  # "well known": among the 100 most-rated training movies
FRANCHISE_CAP = 3


@dataclass(frozen=True)
class Asked:
    """One request, as the report reads it."""

    name: str
    genres: tuple[str, ...]  # stated, canonical
    liked: tuple[int, ...] = ()
    disliked: tuple[int, ...] = ()
    excluded: tuple[int, ...] = ()


@dataclass(frozen=True)
class Answered:
    """One answer: the listed movies in rank order, and per item the liked movie its reason
    cites as "because you liked X" (None: the reason names something else)."""

    items: tuple[int, ...]
    cited: tuple[int | None, ...]
    exception: bool = False  # the answer said the liked movies point outside the genres
    note: str | None = None


@dataclass(frozen=True)
class Facts:
    """What the report knows of the catalogue."""

    titles: Sequence[str]
    genre_names: tuple[str, ...]
    genres: np.ndarray  # bool (n_movies, n_genres)
    ratings: np.ndarray  # training ratings per movie
    franchises: Franchises

    def most_rated(self, n: int = MOST_RATED) -> np.ndarray:
        top: np.ndarray = np.argsort(-self.ratings, kind="stable")[:n]
        return top

    def in_genres(self, items: Sequence[int], genres: Sequence[str]) -> np.ndarray:
        cols = [self.genre_names.index(g) for g in genres]
        if not cols or not len(items):
            return np.zeros(len(items), dtype=bool)
        found: np.ndarray = self.genres[np.asarray(items)][:, cols].any(1)
        return found


def list_facts(asked: Asked, answered: Answered, facts: Facts) -> dict[str, Any]:
    """The numbers of one list."""
    items = list(answered.items)
    head = set(facts.most_rated().tolist())
    named = {int(facts.franchises.group[i]) for i in asked.liked} - {-1}
    groups = Counter(int(facts.franchises.group[i]) for i in items) - Counter({-1: len(items)})
    unnamed = {g: c for g, c in groups.items() if g not in named}
    listed = set(items)
    return {
        "name": asked.name,
        "genres": list(asked.genres),
        "n": len(items),
        "in_genre": int(facts.in_genres(items, asked.genres).sum()),
        "median_ratings": float(np.median(facts.ratings[items])) if items else 0.0,
        "most_rated_share": float(np.mean([i in head for i in items])) if items else 0.0,
        "max_franchise": max(groups.values(), default=0),
        "max_unnamed_franchise": max(unnamed.values(), default=0),
        "listed_liked": sorted(listed & set(asked.liked)),
        "listed_disliked": sorted(listed & set(asked.disliked)),
        "listed_excluded": sorted(listed & set(asked.excluded)),
        "exception": answered.exception,
        "note": answered.note,
        "titles": [facts.titles[i] for i in items],
    }


def variety(answers: Sequence[Answered], facts: Facts) -> dict[str, Any]:
    """Over a set of lists: the title in most lists, distinct titles, most-rated share."""
    counts = Counter(i for a in answers for i in a.items)
    head = set(facts.most_rated().tolist())
    all_items = [i for a in answers for i in a.items]
    top, top_n = counts.most_common(1)[0] if counts else (None, 0)
    return {
        "lists": len(answers),
        "most_frequent_title": facts.titles[top] if top is not None else None,
        "most_frequent_lists": top_n,
        "quarter_of_lists": len(answers) / 4,
        "distinct_titles": len(counts),
        "most_rated_share": float(np.mean([i in head for i in all_items])) if all_items else 0.0,
    }


def reason_check(
    asked: Sequence[Asked], answered: Sequence[Answered], colikes: CoLikes, facts: Facts
) -> dict[str, Any]:
    """Every cited liked movie re-checked; the share of items citing one when some were given."""
    violations = []
    cited_total = items_with_liked = cited_with_liked = 0
    for q, a in zip(asked, answered, strict=True):
        for item, cited in zip(a.items, a.cited, strict=True):
            if q.liked:
                items_with_liked += 1
                cited_with_liked += cited is not None
            if cited is None:
                continue
            cited_total += 1
            lift, co = colikes.lift(cited, item)
            if cited not in q.liked or not colikes.supports(cited, item):
                violations.append(
                    {
                        "request": q.name,
                        "item": facts.titles[item],
                        "cited": facts.titles[cited],
                        "cited_was_liked": cited in q.liked,
                        "lift": lift,
                        "co_likers": co,
                    }
                )
    return {
        "reasons_citing_a_liked_movie": cited_total,
        "violations": violations,
        "share_citing_liked_when_liked_given": cited_with_liked / items_with_liked
        if items_with_liked
        else None,
    }
