"""Stated genres: the few genres a user would name as their taste.

A person describing their taste names the genres that stand out in what they
like, not the ones that are merely common (nearly everyone "likes" Drama
because most films are dramas). So a genre's weight is its lift: the share of
the user's liked movies that carry it, divided by the share of catalogue
movies that carry it. The evaluation's cold-start protocol and the trainer's
cold-start inputs both derive stated genres here, so they agree.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

# MovieLens ratings at or above this count as "liked" (both the 1-5 and 0.5-5 scales).
LIKE_THRESHOLD = 4.0
# Default minimum support: a genre must carry one in this many of the liked movies. A
# genre seen in one of sixty liked films is noise, not something a person would name.
MIN_SUPPORT_ONE_IN = 10


def catalogue_genre_share(movie_genres: np.ndarray) -> np.ndarray:
    """Share of catalogue movies carrying each genre, shape (n_genres,).

    Pass the result to `stated_genres` when calling it for many users so the
    catalogue is not summed once per user.
    """
    movie_genres = np.asarray(movie_genres)
    if movie_genres.ndim != 2 or movie_genres.shape[0] == 0:
        raise ValueError(
            "movie_genres must be a non-empty (n_movies, n_genres) matrix, "
            f"got shape {movie_genres.shape}"
        )
    return (movie_genres > 0).mean(axis=0)


def stated_genres(
    movie_genres: np.ndarray,
    liked: np.ndarray | Sequence[int],
    genres: Sequence[str],
    n: int = 3,
    *,
    min_support: int | None = None,
    catalogue_share: np.ndarray | None = None,
) -> tuple[str, ...]:
    """The `n` genres most over-represented among a user's liked movies.

    movie_genres: (n_movies, n_genres) multi-hot over the whole catalogue.
    liked: dense movie indices (rows of movie_genres) the user liked.
    genres: the genre name of each column.
    min_support: a genre must appear in at least this many liked movies;
        None = max(1, ceil(10% of the liked movies)).

    Ranked by lift (liked share / catalogue share), ties broken by support
    (more liked movies first), then by column order, so the result is
    deterministic. Returns fewer than `n` names when fewer genres reach
    `min_support`, and () when nothing is liked.
    """
    movie_genres = np.asarray(movie_genres)
    if len(genres) != movie_genres.shape[1]:
        raise ValueError(
            f"{len(genres)} genre names for a movie_genres matrix "
            f"with {movie_genres.shape[1]} columns"
        )
    liked = np.unique(np.asarray(liked, dtype=np.int64))
    if liked.size == 0 or n <= 0:
        return ()
    if liked.min() < 0 or liked.max() >= movie_genres.shape[0]:
        raise ValueError(
            f"liked movie indices must lie in [0, {movie_genres.shape[0]}), "
            f"got {liked.min()}..{liked.max()}"
        )
    share = catalogue_genre_share(movie_genres) if catalogue_share is None else catalogue_share
    support = (movie_genres[liked] > 0).sum(axis=0)
    if min_support is None:
        min_support = -(-liked.size // MIN_SUPPORT_ONE_IN)  # integer ceil
    eligible = (support >= max(1, min_support)) & (share > 0)
    if not eligible.any():
        return ()
    lift = np.zeros(len(genres), dtype=np.float64)
    lift[eligible] = (support[eligible] / liked.size) / share[eligible]
    columns = np.flatnonzero(eligible)
    # lexsort: last key is primary -> lift desc, support desc, column asc.
    order = np.lexsort((columns, -support[columns], -lift[columns]))
    return tuple(genres[c] for c in columns[order][:n])
