"""Taste: what counts as a like, the genre matrix, and the few genres a person would state.

A person describing their taste names the genres that stand out in what they
like, not the ones that are merely common (nearly everyone "likes" Drama
because most films are dramas). So a genre's weight is its lift: the share of
the user's liked movies that carry it, divided by the share of catalogue
movies that carry it. The evaluation's cold-start protocol and the trainer's
cold-start inputs both derive stated genres here, so they agree.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

import numpy as np

from recsys.data.vocab import GENRES

# A "like" is a rating at or above three quarters of the scale: 4+ on 1-5 and on
# 0.5-5.0, the relevance threshold of the evaluation protocols.
LIKE_THRESHOLD_SHARE = 0.75
# How many genres a person states (the cold-start protocol, training and the tools).
N_STATED_GENRES = 3
# Default minimum support: a genre must carry one in this many of the liked movies. A
# genre seen in one of sixty liked films is noise, not something a person would name.
MIN_SUPPORT_ONE_IN = 10


def like_threshold(rating_scale: tuple[float, float]) -> float:
    """The lowest rating that counts as a like on this scale."""
    low, high = rating_scale
    return low + LIKE_THRESHOLD_SHARE * (high - low) - 1e-6 if high > low else high


def genre_matrix(
    movie_genres: Iterable[Sequence[str]], genres: Sequence[str] = GENRES
) -> np.ndarray:
    """float32 (n_movies, n_genres) multi-hot, one row per movie in the given order."""
    pos = {g: j for j, g in enumerate(genres)}
    rows = list(movie_genres)
    out = np.zeros((len(rows), len(genres)), dtype=np.float32)
    for i, gs in enumerate(rows):
        for g in gs:
            out[i, pos[g]] = 1.0
    return out


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
    share: np.ndarray = (movie_genres > 0).mean(axis=0)
    return share


def stated_genres(
    movie_genres: np.ndarray,
    liked: np.ndarray | Sequence[int],
    genres: Sequence[str],
    n: int = N_STATED_GENRES,
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
