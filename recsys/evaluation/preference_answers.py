"""The model's answers to new users (protocols C and F) through the real recipe: each evaluated
user becomes a `PreferenceRequest` to the `PreferenceRanker` built from what `fit` returned,
so the evaluation measures the lists the server gives."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd

from recsys.evaluation.splits import EvalUser
from recsys.model.towers import TrainedModel
from recsys.ranking.facts import catalogue_facts
from recsys.ranking.preferences import PreferenceRanker
from recsys.ranking.requests import PreferenceRequest


@dataclass
class RankedPreferences:
    """`rank(users, exclude, k)` over the catalogue (movies-table order) by the recipe."""

    ranker: PreferenceRanker
    to_model: np.ndarray  # catalogue position -> the model's dense index, -1 if absent
    to_catalogue: np.ndarray  # the model's dense index -> catalogue position
    name: str = "model"

    @classmethod
    def of(cls, model: TrainedModel, movies: pd.DataFrame) -> RankedPreferences:
        """The ranker of a model fitted by `recsys.training.fit` on a split's training part;
        `movies` is the split's movies table (titles and years for the catalogue facts)."""
        if model.ranking is None:
            raise ValueError("the model has no ranking artifacts: fit it with recsys.training.fit")
        ids = np.asarray(model.features.movie_ids, dtype=np.int64)
        catalogue = movies["movie_id"].to_numpy(dtype=np.int64)
        rows = pd.Index(catalogue).get_indexer(pd.Index(ids))
        if (rows < 0).any():
            raise ValueError("the model knows movies the catalogue does not")
        facts = catalogue_facts(
            model.features,
            [str(t) for t in movies["title"].to_numpy()[rows]],
            movies["year"].to_numpy(dtype=object)[rows],
        )
        to_model = np.full(len(catalogue), -1, dtype=np.int64)
        to_model[rows] = np.arange(len(ids))
        return cls(PreferenceRanker(model, model.ranking, facts), to_model, rows.astype(np.int64))

    def request(self, user: EvalUser, exclude: np.ndarray, k: int) -> PreferenceRequest:
        features = self.ranker.model.features
        liked = [features.movie_index(m) for m in user.liked]
        named = tuple(int(i) for i in liked if i is not None)
        excluded = self.to_model[np.asarray(exclude, dtype=np.int64)]
        return PreferenceRequest(
            genres=tuple((g,) for g in user.stated_genres),
            gender=user.gender,
            age=user.age,
            occupation=user.occupation,
            liked=named,
            excluded=tuple(int(i) for i in excluded[excluded >= 0] if int(i) not in named),
            k=k,
        )

    def rank(self, users: Sequence[EvalUser], exclude: Sequence[np.ndarray], k: int) -> np.ndarray:
        out = np.full((len(users), k), -1, dtype=np.int64)
        for r, (user, ex) in enumerate(zip(users, exclude, strict=True)):
            if user.known:
                raise ValueError("the preference recipe answers new users (protocols C and F)")
            items = self.ranker.rank(self.request(user, ex, k)).items
            out[r, : len(items)] = self.to_catalogue[items]
        return out
