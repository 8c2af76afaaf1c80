"""Why each pick is in a list: a liked movie that co-likers link to it, else what drove it.

"Because you liked X" is given only when the co-like lift(X -> pick) is at least
1.5 with at least 5 co-likers in the training likes (`recsys.ranking.colikes`),
X is never the pick itself, and the liked movie with the best lift is cited.
Otherwise the reason names the score term that lifts the pick most above the
mean allowed movie.
"""

from __future__ import annotations

import numpy as np

from recsys.model.artifacts import Likes
from recsys.ranking.colikes import best_links
from recsys.ranking.requests import Reason
from recsys.ranking.weights import TERMS


def links(likes: Likes, liked: np.ndarray, picks: list[int] | np.ndarray) -> list[Reason | None]:
    """Per pick, the co-like link from a liked movie to it, where one passes the criterion."""
    return [
        None if link is None else Reason("liked", liked=link[0], lift=link[1], co_likers=link[2])
        for link in best_links(likes, liked, np.asarray(picks, dtype=np.int64))
    ]


def preference_reasons(
    likes: Likes,
    picks: list[int],
    liked: np.ndarray,
    terms: np.ndarray,
    weights: np.ndarray,
    allowed: np.ndarray,
) -> tuple[Reason, ...]:
    """A reason per pick: its link to a liked movie, else the term of `terms @ weights` that
    lifts it most above the mean allowed movie ("zt" is "z0" when no liked movie is given,
    where the two are the same scores)."""
    pool = terms[allowed] if allowed.any() else terms
    above = (terms[picks] - pool.mean(axis=0)) * weights
    out = []
    for r, link in enumerate(links(likes, liked, picks)):
        if link is not None:
            out.append(link)
            continue
        term = TERMS[int(np.argmax(above[r]))]
        out.append(Reason("z0" if term == "zt" and not len(liked) else term))
    return tuple(out)
