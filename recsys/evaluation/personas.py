"""The request-adherence report's requests: every genre stated alone, and the fixed personas
(bench/personas.json, written before any tuning), as `PreferenceRequest`s for one catalogue.

A persona names genres, perhaps an age, occupation and gender, liked, disliked
and excluded movies (each as alternative spellings: the first that is a title of
the catalogue is used), excluded genres and a year range. A persona stating a
genre no movie of the catalogue carries (IMAX on ML-100K) is skipped there.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from recsys.data.vocab import age_bucket, canonical_genre, match_occupation
from recsys.evaluation.adherence import Answered, Asked
from recsys.ranking.facts import CatalogueFacts
from recsys.ranking.preferences import PreferenceRanker
from recsys.ranking.requests import PreferenceRequest

LIKED = "liked"  # the reason term of "because you liked X"


@dataclass(frozen=True)
class Catalogue:
    """What requests are read against: the catalogue's facts, titles and the model's
    demographic vocabulary."""

    facts: CatalogueFacts
    titles: Sequence[str]  # the dataset's titles, dense order
    occupations: tuple[str, ...]
    has_demographics: bool

    def index(self, alternatives: Sequence[str]) -> int | None:
        for title in alternatives:
            if title in self.titles:
                return list(self.titles).index(title)
        return None

    def genre(self, name: str) -> str:
        canon = canonical_genre(name)
        if canon is None or canon not in self.facts.genres:
            raise ValueError(f"persona genre {name!r} is no genre of this catalogue")
        return canon

    def carried(self, genre: str) -> int:
        return int(self.facts.genre_matrix[:, self.facts.genres.index(genre)].sum())


def load_personas(path: Path) -> list[dict[str, Any]]:
    personas: list[dict[str, Any]] = json.loads(path.read_text(encoding="utf-8"))["personas"]
    return personas


def single_genre_requests(
    catalogue: Catalogue, k: int = 10
) -> list[tuple[Asked, PreferenceRequest]]:
    """One request per genre some movie carries, stating it alone."""
    out = []
    for g in catalogue.facts.genres:
        if catalogue.carried(g):
            out.append((Asked(g, (g,)), PreferenceRequest(genres=((g,),), k=k)))
    return out


def persona_request(
    persona: Mapping[str, Any], catalogue: Catalogue, k: int = 10
) -> tuple[Asked, PreferenceRequest] | str:
    """The persona's request, or why it is skipped on this catalogue."""
    genres = tuple(catalogue.genre(g) for g in persona["genres"])
    missing = [g for g in genres if not catalogue.carried(g)]
    if missing:
        return f"no movie carries {', '.join(missing)}"

    def movies(key: str) -> tuple[int, ...]:
        found = (catalogue.index(alts) for alts in persona.get(key, ()))
        return tuple(i for i in found if i is not None)

    facts = catalogue.facts
    allowed = np.ones(facts.n_movies, dtype=bool)
    dropped = [catalogue.genre(g) for g in persona.get("exclude_genres", ())]
    if dropped:
        allowed &= ~facts.genre_matrix[:, facts.columns(dropped)].any(axis=1)
    for key, keep in (("year_min", np.greater_equal), ("year_max", np.less_equal)):
        if persona.get(key) is not None:
            with np.errstate(invalid="ignore"):
                allowed &= keep(facts.years, persona[key])  # an unknown year never passes
    demo = catalogue.has_demographics
    occupation = persona.get("occupation")
    age = persona.get("age")
    liked, disliked, excluded = movies("liked"), movies("disliked"), movies("exclude_movies")
    request = PreferenceRequest(
        genres=tuple((g,) for g in genres),
        gender=persona.get("gender") if demo else None,
        age=age_bucket(int(age)) if demo and age is not None else None,
        occupation=match_occupation(occupation, list(catalogue.occupations))
        if demo and occupation
        else None,
        liked=liked,
        disliked=disliked,
        excluded=excluded,
        allowed=None if allowed.all() else allowed,
        k=k,
    )
    return Asked(str(persona["id"]), genres, liked, disliked, excluded), request


def answer(ranker: PreferenceRanker, request: PreferenceRequest) -> Answered:
    """The ranker's list, with the liked movie each "because you liked X" reason cites."""
    ranked = ranker.rank(request)
    cited = tuple(r.liked if r.term == LIKED else None for r in ranked.reasons)
    note = f"admitted {', '.join(ranked.admitted)}" if ranked.exception else None
    return Answered(tuple(int(i) for i in ranked.items), cited, ranked.exception, note)
