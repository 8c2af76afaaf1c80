"""The preference score's weights and head cap, by how many liked movies a request gives.

score = a * z0 + 1.5 * zt + b * gfrac + c * lpop (`recsys.ranking.terms`), and
with liked movies at most H of every 10 picks may come from the most-liked
movies. The table was chosen by the validation search of
/work/scratch13/final_cf.py (the evaluation's bench script reproduces it): the
training's own cold validation users of ML-100K and ml-latest-small, the
validation network, training seeds 0/1/2 pooled; for N in {0, 1, 3, 5} a grid
a in {0, .3, .6, 1, 1.5, 2.5}, b in {.4, .7, 1, 1.5}, c in {.3, .6, .9, 1.3, 1.8,
2.5} and H in {9, 8, 7}; the pick has the best mean validation NDCG@10 over the
two datasets among the settings whose validation F-tail NDCG is at least EASE
fold-in's on both. One configuration serves both datasets.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

TERMS = ("z0", "zt", "gfrac", "lpop")


@dataclass(frozen=True)
class Weights:
    """One row of the table: each term's weight, and the head cap per 10 (None: no cap)."""

    z0: float
    zt: float
    gfrac: float
    lpop: float
    head_cap: int | None

    def vector(self) -> np.ndarray:
        """The weights in `TERMS` order, float32 as the search used them."""
        return np.array([self.z0, self.zt, self.gfrac, self.lpop], dtype=np.float32)

    def cap_for(self, k: int) -> int:
        """How many of k picks may come from the head: H per 10, rounded up (k when no cap)."""
        return k if self.head_cap is None else math.ceil(self.head_cap * k / 10)


# Fitted at N = 0, 1, 3 and 5 liked movies; serving maps 2-3 to 3 and 4 or more to 5.
BY_LIKED: dict[int, Weights] = {
    0: Weights(z0=0.0, zt=1.5, gfrac=0.7, lpop=1.8, head_cap=None),
    1: Weights(z0=0.6, zt=1.5, gfrac=0.7, lpop=0.6, head_cap=8),
    3: Weights(z0=0.6, zt=1.5, gfrac=1.0, lpop=0.3, head_cap=9),
    5: Weights(z0=1.0, zt=1.5, gfrac=0.7, lpop=0.3, head_cap=9),
}


def weights_for(n_liked: int) -> Weights:
    """The row for a request giving `n_liked` liked movies."""
    if n_liked <= 1:
        return BY_LIKED[max(n_liked, 0)]
    return BY_LIKED[3 if n_liked <= 3 else 5]
