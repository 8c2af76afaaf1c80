"""What the evaluation asks of a fitted method: scores for a batch of users, or ranked lists.

The baselines, the naive two-tower and the model (`recsys.evaluation.answers`)
share no base class; each only has to have the methods below. A `Scorer` scores the
whole catalogue and the evaluation takes its top k; a `ListRanker` answers with its
own lists (a re-ranking layer's caps and filters are not a score).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol, TypeGuard

import numpy as np

from recsys.evaluation.splits import EvalUser


class Scorer(Protocol):
    def score(self, users: Sequence[EvalUser]) -> np.ndarray:
        """(len(users), n_movies) scores in movies-table order, higher = better."""
        ...


class RatingScorer(Scorer, Protocol):
    def predict(self, users: Sequence[EvalUser], movie_index: np.ndarray) -> np.ndarray:
        """The rating users[r] would give movie_index[r] (dense index), for RMSE."""
        ...


class EmbeddingScorer(Scorer, Protocol):
    @property
    def movie_embeddings(self) -> np.ndarray:
        """(n_movies, dim), in movies-table order, for the embedding plot."""
        ...


class ListRanker(Protocol):
    def rank(self, users: Sequence[EvalUser], exclude: Sequence[np.ndarray], k: int) -> np.ndarray:
        """(len(users), k) dense movie indices, best first, -1 where a list is short;
        never a movie of exclude[r] in row r."""
        ...


Answerer = Scorer | ListRanker


def ranks_lists(method: Answerer) -> TypeGuard[ListRanker]:
    return callable(getattr(method, "rank", None))


def scores_catalogue(method: Answerer) -> TypeGuard[Scorer]:
    return callable(getattr(method, "score", None))


def predicts_ratings(scorer: Answerer) -> TypeGuard[RatingScorer]:
    return getattr(scorer, "predict", None) is not None


def has_embeddings(scorer: Answerer) -> TypeGuard[EmbeddingScorer]:
    return hasattr(scorer, "movie_embeddings")
