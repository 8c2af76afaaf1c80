"""The independent check of "because you liked X": co-like lift counted here from raw ratings.

A reason citing liked movie X for recommended movie Y is true when
lift(X, Y) = co-likers(X, Y) * users / (likers(X) * likers(Y)) >= LIFT_MIN with at
least SUPPORT_MIN co-likers, and X is not Y: the criterion the README states. This
module counts likes itself, from the dataset's ratings (like = the dataset's like
threshold), and shares no code with what wrote the reason.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from recsys.data.dataset import Dataset
from recsys.features.taste import like_threshold

LIFT_MIN = 1.5
SUPPORT_MIN = 5


@dataclass(frozen=True)
class CoLikes:
    """Each movie's likers (sets of user ids), by dense catalogue index."""

    likers: tuple[frozenset[int], ...]
    users: int  # people with at least one rating

    @classmethod
    def of(cls, dataset: Dataset) -> CoLikes:
        r = dataset.ratings
        liked = r[r["rating"] >= like_threshold(dataset.rating_scale)]
        catalogue = pd.Index(dataset.movies["movie_id"].to_numpy(dtype=np.int64))
        idx = catalogue.get_indexer(liked["movie_id"].to_numpy(dtype=np.int64))
        sets: list[set[int]] = [set() for _ in range(len(catalogue))]
        for i, u in zip(idx.tolist(), liked["user_id"].tolist(), strict=True):
            if i >= 0:
                sets[i].add(int(u))
        return cls(tuple(frozenset(s) for s in sets), int(r["user_id"].nunique()))

    def lift(self, x: int, y: int) -> tuple[float, int]:
        """(lift of y among x's likers, co-likers)."""
        a, b = self.likers[x], self.likers[y]
        if not a or not b:
            return 0.0, 0
        co = len(a & b)
        return co * self.users / (len(a) * len(b)), co

    def supports(self, cited: int, recommended: int) -> bool:
        if cited == recommended:
            return False
        lift, co = self.lift(cited, recommended)
        return lift >= LIFT_MIN and co >= SUPPORT_MIN
