"""Queries as tower input arrays: `encode_queries`, the single path for tools, training and
evaluation."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from recsys.features.queries import UserQuery
from recsys.features.space import AGE_CODES, GENDERS, FeatureSpace, code


@dataclass(frozen=True)
class QueryBatch:
    """Padded numpy arrays for a batch of queries; the user towers read these."""

    gender: np.ndarray  # int64 (b,)
    age: np.ndarray
    occupation: np.ndarray
    stated: np.ndarray  # float32 (b, n_genres), multi-hot
    taste: np.ndarray  # float32 (b, n_genres): genre profile of the liked history
    hist_items: np.ndarray  # int64 (total,), flat
    hist_offsets: np.ndarray  # int64 (b,)
    hist_weights: np.ndarray  # float32 (total,)
    # bool (b,): the history is a known user's, in time order (stated liked
    # movies carry no time)
    hist_timed: np.ndarray


def rating_weight(ratings: np.ndarray, like_threshold: float) -> np.ndarray:
    """History weight by rating: liked movies count fully, disliked ones a little."""
    return np.where(ratings >= like_threshold, 1.0, 0.35).astype(np.float32)


def encode_queries(fs: FeatureSpace, queries: Sequence[UserQuery]) -> QueryBatch:
    """Turn queries into tower input arrays (the single path for tools and evaluation)."""
    n_g = len(fs.genres)
    g_pos = {g: j for j, g in enumerate(fs.genres)}
    b = len(queries)
    stated = np.zeros((b, n_g), dtype=np.float32)
    taste = np.zeros((b, n_g), dtype=np.float32)
    items_l: list[np.ndarray] = []
    weights_l: list[np.ndarray] = []
    offsets = np.zeros(b, dtype=np.int64)
    pos = 0
    for r, q in enumerate(queries):
        for g in q.stated_genres:
            stated[r, g_pos[g]] = 1.0
        items = np.asarray(q.history, dtype=np.int64)
        if q.history_ratings:
            w = rating_weight(np.asarray(q.history_ratings, dtype=np.float32), fs.like_threshold)
        else:
            w = np.ones(len(items), dtype=np.float32)
        offsets[r] = pos
        pos += len(items)
        items_l.append(items)
        weights_l.append(w)
        taste[r] = taste_profile(fs, items, w)
    demo = fs.has_demographics
    return QueryBatch(
        gender=np.array([code(GENDERS, q.gender) if demo else 0 for q in queries], np.int64),
        age=np.array([code(AGE_CODES, q.age) if demo else 0 for q in queries], np.int64),
        occupation=np.array(
            [code(fs.occupations, q.occupation) if demo else 0 for q in queries], np.int64
        ),
        stated=stated,
        taste=taste,
        hist_items=np.concatenate(items_l) if items_l else np.zeros(0, np.int64),
        hist_offsets=offsets,
        hist_weights=np.concatenate(weights_l) if weights_l else np.zeros(0, np.float32),
        hist_timed=np.array([bool(q.history_ratings) for q in queries], dtype=bool),
    )


def taste_profile(fs: FeatureSpace, items: np.ndarray, weights: np.ndarray) -> np.ndarray:
    """Weighted genre distribution of a history, relative to the catalogue."""
    if len(items) == 0:
        return np.zeros(len(fs.genres), dtype=np.float32)
    prof: np.ndarray = (fs.movie_genres[items] * weights[:, None]).sum(0)
    total = prof.sum()
    return (prof / total).astype(np.float32) if total > 0 else prof.astype(np.float32)
