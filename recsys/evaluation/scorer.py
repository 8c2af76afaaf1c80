"""What the evaluation asks of a fitted method: scores for a batch of users, and for some, more.

The baselines, the naive two-tower and the model (`recsys.evaluation.runner.ModelScorer`)
share no base class; each only has to have the methods below.
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


def predicts_ratings(scorer: Scorer) -> TypeGuard[RatingScorer]:
    return getattr(scorer, "predict", None) is not None


def has_embeddings(scorer: Scorer) -> TypeGuard[EmbeddingScorer]:
    return hasattr(scorer, "movie_embeddings")
