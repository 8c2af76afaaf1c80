"""The catalogue facts rankers read besides the model: genres, years, franchises, popularity."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from recsys.features.franchises import Franchises, franchise_groups
from recsys.features.space import FeatureSpace

# The head: the most-liked training movies (protocol F-tail's head, 1% of ml-latest-small).
HEAD_SIZE = 100
# ... and at most this share of a small catalogue, which would otherwise be all head.
HEAD_SHARE_MAX = 0.1


@dataclass(frozen=True)
class CatalogueFacts:
    """Per movie (dense order): its genres, year, franchise and training popularity."""

    genres: tuple[str, ...]
    genre_matrix: np.ndarray  # bool (n_movies, n_genres)
    years: np.ndarray  # float64 (n_movies,), NaN where unknown
    franchises: Franchises
    counts: np.ndarray  # int64: training ratings
    liked_counts: np.ndarray  # int64: training likes
    head: np.ndarray  # bool: among the most-liked movies
    lpop: np.ndarray  # float64: log1p(ratings) / log1p(most ratings), in [0, 1]

    @property
    def n_movies(self) -> int:
        return len(self.counts)

    def check_fits(self, n_movies: int) -> None:
        """Refuse a model whose catalogue is not the one these facts describe."""
        if n_movies != self.n_movies:
            raise ValueError(f"catalogue facts for {self.n_movies} movies, a model of {n_movies}")

    def columns(self, genres: Sequence[str]) -> list[int]:
        return [self.genres.index(g) for g in genres]

    def group_mask(self, groups: Sequence[tuple[str, ...]]) -> np.ndarray:
        """Movies carrying every genre of at least one group (all movies for no group)."""
        if not groups:
            return np.ones(self.n_movies, dtype=bool)
        mask = np.zeros(self.n_movies, dtype=bool)
        for group in groups:
            mask |= self.genre_matrix[:, self.columns(group)].all(axis=1)
        return mask


def catalogue_facts(
    features: FeatureSpace, titles: Sequence[str], years: Sequence[object] | np.ndarray
) -> CatalogueFacts:
    """The facts of `features`' catalogue, given its titles and release years (dense order;
    a missing year as None or NaN)."""
    n = features.n_movies
    if len(titles) != n or len(years) != n:
        raise ValueError(f"{len(titles)} titles and {len(years)} years for {n} movies")
    counts = np.asarray(features.movie_counts, dtype=np.int64)
    liked = features.user_ratings >= features.like_threshold
    liked_counts = np.bincount(features.user_items[liked], minlength=n).astype(np.int64)
    head = np.zeros(n, dtype=bool)
    size = min(HEAD_SIZE, int(HEAD_SHARE_MAX * n))
    head[np.argsort(-liked_counts, kind="stable")[:size]] = True
    top = max(int(counts.max(initial=0)), 1)
    return CatalogueFacts(
        genres=tuple(features.genres),
        genre_matrix=np.asarray(features.movie_genres) > 0,
        years=np.array([_year(y) for y in years], dtype=np.float64),
        franchises=franchise_groups([str(t) for t in titles]),
        counts=counts,
        liked_counts=liked_counts,
        head=head,
        lpop=np.log1p(counts) / np.log1p(top),
    )


def _year(value: object) -> float:
    try:
        year = float(value)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        return float("nan")
    return year if year > 0 else float("nan")
