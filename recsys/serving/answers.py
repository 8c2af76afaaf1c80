"""Ranked movies as the answers the tools give: each with its calibrated chance, its reason in
words and the catalogue's facts.

`score` means one thing in every list: the estimated chance the person likes the
movie, in [0, 1] (calibrated per model on its validation users, non-increasing
down a list). `similarity` (similar movies) is the estimated chance that a
person who liked the anchor likes the movie.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from recsys.model.artifacts import KnownUserCalibration, Likes
from recsys.ranking.calibration import known_user_chance
from recsys.ranking.reasons import links
from recsys.ranking.requests import Ranked, SimilarRanked
from recsys.serving import wording
from recsys.serving.catalogue import Catalogue
from recsys.serving.results import Recommendation


def recommendations(
    catalogue: Catalogue,
    items: np.ndarray,
    scores: np.ndarray | None,
    reasons: Sequence[str],
    similarity: np.ndarray | None = None,
) -> tuple[Recommendation, ...]:
    out = []
    for r, i in enumerate(items.tolist()):
        info = catalogue.info(i)
        out.append(
            Recommendation(
                rank=r + 1,
                movie_id=info.movie_id,
                title=info.title,
                year=info.year,
                genres=info.genres,
                score=None if scores is None else round(float(scores[r]), 4),
                reason=reasons[r],
                similarity=None if similarity is None else round(float(similarity[r]), 4),
                dataset_title=info.dataset_title,
                imdb_url=info.imdb_url,
                tmdb_url=info.tmdb_url,
            )
        )
    return tuple(out)


def _carried(catalogue: Catalogue, i: int, genres: Sequence[str]) -> list[str]:
    """The given genres movie i carries, in the order given."""
    own = set(catalogue.movie_genres[i])
    return [g for g in genres if g in own]


def preference_reasons(
    catalogue: Catalogue, ranked: Ranked, genres: Sequence[str], who: str | None
) -> list[str]:
    """Each pick's reason; `genres` are the stated ones (and any the exception admitted)."""
    out = []
    for i, reason in zip(ranked.items.tolist(), ranked.reasons, strict=True):
        title = None if reason.liked is None else catalogue.display[reason.liked]
        matched = _carried(catalogue, i, genres)
        out.append(
            wording.preference_reason(reason, title, matched, int(catalogue.n_ratings[i]), who)
        )
    return out


def similar_reasons(catalogue: Catalogue, ranked: SimilarRanked) -> list[str]:
    anchor = ranked.anchor
    title = catalogue.display[anchor]
    return [
        wording.similar_reason(
            reason, title, _carried(catalogue, i, catalogue.movie_genres[anchor])
        )
        for i, reason in zip(ranked.items.tolist(), ranked.reasons, strict=True)
    ]


def known_reasons(
    catalogue: Catalogue,
    likes: Likes,
    picks: np.ndarray,
    liked: np.ndarray,
    favourites: Sequence[str],
) -> list[str]:
    """A known person's picks: the liked movie with the best co-like link, else their
    favourite genres it carries, else their overall taste."""
    out = []
    for i, link in zip(picks.tolist(), links(likes, liked, picks), strict=True):
        title = None if link is None or link.liked is None else catalogue.display[link.liked]
        out.append(wording.known_user_reason(link, title, _carried(catalogue, i, favourites)))
    return out


def known_chances(
    calibration: KnownUserCalibration,
    embeddings: np.ndarray,
    vector: np.ndarray,
    cosines: np.ndarray,
    history: int,
) -> np.ndarray:
    """P(a known person likes each pick) from the picks' cosines, standardised over the
    whole catalogue for that person (as the calibration was fitted)."""
    unit = vector / max(float(np.linalg.norm(vector)), 1e-12)
    every = np.einsum("md,d->m", embeddings, unit)  # einsum: no BLAS threads
    sd = float(every.std())
    z = (np.asarray(cosines, dtype=np.float64) - float(every.mean())) / max(sd, 1e-12)
    return known_user_chance(calibration, z, history)
