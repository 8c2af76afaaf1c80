"""Variety across one-genre requests: no title in more than a quarter of the one-genre lists.

While some title sits in more than floor(lists / 4) of the canonical one-genre
lists (each genre stated alone, nothing else), it is barred from the list of
its genre least typical of its fans: the genre with the lowest lift among the
likes of the people who like it. ML-100K bars Star Wars and Return of the Jedi
from Romance, ml-latest-small Toy Story from Adventure; on one-genre
descriptions of held-out users it cost 0.0005 NDCG@10 (DESIGN A.2 item 7).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from functools import cached_property

import numpy as np

from recsys.features.space import FeatureSpace

SHARE = 0.25  # of the one-genre lists one title may appear in

Lists = Callable[[Mapping[str, frozenset[int]]], dict[str, list[int]]]


class GenreTypicality:
    """How typical each genre is of a movie's fans, from the training likes (computed on
    first use: most catalogues need it for a few movies, and serving builds rankers at load)."""

    def __init__(self, fs: FeatureSpace) -> None:
        self._fs = fs

    @cached_property
    def _likes(self) -> tuple[np.ndarray, np.ndarray]:
        """(user, movie) of every training like."""
        fs = self._fs
        liked = fs.user_ratings >= fs.like_threshold
        users = np.repeat(np.arange(fs.n_users), np.diff(fs.user_indptr))
        return users[liked], fs.user_items[liked]

    @cached_property
    def _user_genres(self) -> np.ndarray:
        """(n_users, n_genres): the genres of everything each user liked, summed."""
        users, items = self._likes
        genres = np.asarray(self._fs.movie_genres, dtype=np.float64)[items]
        cols = [
            np.bincount(users, weights=genres[:, c], minlength=self._fs.n_users)
            for c in range(genres.shape[1])
        ]
        return np.stack(cols, axis=1)

    def lift(self, movie: int) -> np.ndarray:
        """(n_genres,): each genre's share among the likes of the movie's likers (the movie
        included), over its share among all likes."""
        users, items = self._likes
        base = self._user_genres.sum(axis=0)
        theirs = self._user_genres[users[items == movie]].sum(axis=0)
        out: np.ndarray = (theirs / max(theirs.sum(), 1.0)) / np.maximum(
            base / max(base.sum(), 1e-12), 1e-9
        )
        return out


def variety_bans(
    genres: Sequence[str], lists_for: Lists, typicality: GenreTypicality, columns: dict[str, int]
) -> dict[str, frozenset[int]]:
    """genre -> the movies barred from its one-genre lists. `lists_for(bans)` gives each
    genre's canonical list under the bans so far."""
    bans: dict[str, set[int]] = {}
    limit = int(np.floor(SHARE * len(genres)))
    while True:
        lists = lists_for({g: frozenset(b) for g, b in bans.items()})
        where: dict[int, list[str]] = {}
        for g in genres:
            for j in lists[g]:
                where.setdefault(j, []).append(g)
        over = {j: gs for j, gs in where.items() if len(gs) > limit}
        if not over:
            return {g: frozenset(b) for g, b in bans.items()}
        for j, gs in over.items():
            lift = typicality.lift(j)
            least = min(gs, key=lambda g: lift[columns[g]])
            bans.setdefault(least, set()).add(j)
