"""Each method's answers on a split: top-k lists from scores or from a ranker, RMSE, and the
trained two-tower model behind the same interface as the baselines."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np
import pandas as pd
from tqdm import tqdm

from recsys.evaluation.scorer import Answerer, predicts_ratings, ranks_lists, scores_catalogue
from recsys.evaluation.splits import EvalSplit, EvalUser
from recsys.features.queries import UserQuery
from recsys.metrics.ranking import K, rmse, top_k
from recsys.model.towers import TrainedModel


def rank_split(
    method: Answerer, split: EvalSplit, k: int = K, batch_users: int = 256, progress: bool = False
) -> np.ndarray:
    """Top-k dense movie indices (n_users, k) of `method` for every user of `split`."""
    n_movies = len(split.train.movies)
    users = split.users
    out = np.full((len(users), k), -1, dtype=np.int64)
    label = f"{split.protocol}: {getattr(method, 'name', 'scoring')}"
    starts = range(0, len(users), batch_users)
    for s in tqdm(starts, desc=label, unit="batch", disable=not progress, leave=False):
        batch = users[s : s + batch_users]
        exclude = split.exclude[s : s + batch_users]
        if ranks_lists(method):
            out[s : s + len(batch)] = _checked_lists(method.rank(batch, exclude, k), exclude, label)
            continue
        if not scores_catalogue(method):
            raise TypeError(f"{label}: a method must score the catalogue or rank lists")
        scores = np.array(method.score(batch), dtype=np.float64)
        if scores.shape != (len(batch), n_movies):
            raise ValueError(
                f"{label} returned scores of shape {scores.shape}, "
                f"expected ({len(batch)}, {n_movies})"
            )
        for r, ex in enumerate(exclude):
            scores[r, ex] = -np.inf
        out[s : s + len(batch)] = top_k(scores, k)
    return out


def _checked_lists(lists: np.ndarray, exclude: Sequence[np.ndarray], label: str) -> np.ndarray:
    """A ranker's lists as given, after checking the promise that excluded movies never appear."""
    lists = np.asarray(lists, dtype=np.int64)
    if lists.shape[0] != len(exclude):
        raise ValueError(f"{label} returned {lists.shape[0]} lists for {len(exclude)} users")
    for r, ex in enumerate(exclude):
        if np.isin(lists[r], ex).any():
            raise ValueError(f"{label} listed a movie it was told to exclude (row {r})")
    return lists


def split_rmse(method: Answerer, split: EvalSplit) -> float | None:
    """RMSE over every test rating of the evaluated users, if `method` predicts ratings."""
    if not predicts_ratings(method):
        return None
    by_id = {u.user_id: u for u in split.users}
    t = split.test_ratings[split.test_ratings["user_id"].isin(list(by_id))]
    if len(t) == 0:
        return None
    users = [by_id[int(u)] for u in t["user_id"]]
    movie_index = pd.Index(split.catalogue).get_indexer(pd.Index(t["movie_id"].to_numpy()))
    pred = np.concatenate(
        [
            method.predict(users[s : s + 8192], movie_index[s : s + 8192])
            for s in range(0, len(users), 8192)
        ]
    )
    return rmse(pred, t["rating"].to_numpy(dtype=np.float64))


@dataclass
class ModelScorer:
    """The trained two-tower model behind the same `score(users)` as the baselines."""

    model: TrainedModel
    catalogue: np.ndarray  # movie ids in movies-table order
    name: str = "model"
    _columns: np.ndarray | None = field(default=None, repr=False)

    def __post_init__(self) -> None:
        ids = np.asarray(self.model.features.movie_ids, dtype=np.int64)
        cols = pd.Index(ids).get_indexer(pd.Index(self.catalogue))
        identity = len(ids) == len(self.catalogue) and (cols == np.arange(len(cols))).all()
        self._columns = None if identity else cols

    @property
    def curves(self) -> dict[str, list[float]]:
        return self.model.curves

    @property
    def movie_embeddings(self) -> np.ndarray:
        emb = np.asarray(self.model.movie_embeddings)
        if self._columns is None:
            return emb
        out = np.zeros((len(self.catalogue), emb.shape[1]), dtype=emb.dtype)
        out[self._columns >= 0] = emb[self._columns[self._columns >= 0]]
        return out

    def query(self, user: EvalUser) -> UserQuery:
        if user.known:
            return self.model.known_user_query(user.user_id)
        return self.model.preference_query(
            genres=user.stated_genres,
            age=user.age,
            occupation=user.occupation,
            gender=user.gender,
            liked_movie_ids=user.liked,
        )

    def score(self, users: Sequence[EvalUser]) -> np.ndarray:
        scores = np.asarray(self.model.score([self.query(u) for u in users]), dtype=np.float64)
        if self._columns is None:
            return scores
        out = np.full((len(users), len(self.catalogue)), -np.inf)
        ok = self._columns >= 0
        out[:, ok] = scores[:, self._columns[ok]]
        return out
