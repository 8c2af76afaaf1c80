"""What similar_movies is measured against, as scores of every movie for a set of anchors:
item-kNN cosine over who rated what, EASE's item weights, and genre + release year alone.

Each returns (len(anchors), n_movies) float64, higher = more similar; the anchor's
own column is left to the caller (`similarity.neighbour_lists` drops it).
"""

from __future__ import annotations

import numpy as np

from recsys.evaluation.baselines import Ease, TrainData


def rated_matrix(data: TrainData) -> np.ndarray:
    """float32 (users, movies): 1 where the user rated the movie (any rating)."""
    users, rows = np.unique(data.rating_user, return_inverse=True)
    r = np.zeros((len(users), data.n_movies), dtype=np.float32)
    r[rows, data.rating_item] = 1.0
    return r


def item_knn_cosine(rated: np.ndarray, anchors: np.ndarray) -> np.ndarray:
    """co-raters(a, j) / sqrt(raters(a) * raters(j)): plain item-kNN cosine, no shrinkage."""
    counts = rated.sum(0).astype(np.float64)
    co = (rated[:, anchors].T @ rated).astype(np.float64)
    scores: np.ndarray = co / np.sqrt(np.maximum(counts[anchors][:, None] * counts[None, :], 1e-9))
    return scores


def ease_rows(ease: Ease, anchors: np.ndarray) -> np.ndarray:
    """EASE's weights from each anchor to every movie (zeros where EASE has no weight)."""
    pos = np.full(ease.data.n_movies, -1, dtype=np.int64)
    pos[ease.active] = np.arange(len(ease.active))
    out = np.zeros((len(anchors), ease.data.n_movies))
    known = pos[anchors] >= 0
    out[np.ix_(known, ease.active)] = ease.weights[pos[anchors[known]]]
    return out


def genre_year(data: TrainData, anchors: np.ndarray) -> np.ndarray:
    """Genre Jaccard, then release-year closeness, then popularity: content alone."""
    g = (data.movie_genres > 0).astype(np.float64)
    inter = g[anchors] @ g.T
    union = g[anchors].sum(1)[:, None] + g.sum(1)[None, :] - inter
    jaccard = inter / np.maximum(union, 1.0)
    year = np.nan_to_num(data.movie_year, nan=float(np.nanmedian(data.movie_year)))
    close = np.exp(-np.abs(year[anchors][:, None] - year[None, :]) / 10.0)
    scores: np.ndarray = jaccard + 0.1 * close + 1e-6 * data.popularity()[None, :]
    return scores
