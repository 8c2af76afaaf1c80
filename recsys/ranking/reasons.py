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
from recsys.ranking.colikes import best_link
from recsys.ranking.requests import Reason
from recsys.ranking.weights import TERMS


def linked(likes: Likes, liked: np.ndarray, pick: int) -> Reason | None:
    """The co-like link from a liked movie to `pick`, when one passes the criterion."""
    link = best_link(likes, liked, pick)
    if link is None:
        return None
    x, lift, co = link
    return Reason("liked", liked=x, lift=lift, co_likers=co)


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
    for r, j in enumerate(picks):
        link = linked(likes, liked, j) if len(liked) else None
        if link is not None:
            out.append(link)
            continue
        term = TERMS[int(np.argmax(above[r]))]
        out.append(Reason("z0" if term == "zt" and not len(liked) else term))
    return tuple(out)
