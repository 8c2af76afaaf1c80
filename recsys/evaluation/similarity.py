"""similar_movies, measured: franchise-partner recall, genre coherence of the neighbours,
and how honest a calibrated similarity is (predicted against observed, by anchor support).

Every function takes neighbour lists as dense movie indices, (n_anchors, k), best
first, -1 where a list is short, so any method (the model, item-kNN, EASE) is
measured the same way.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from recsys.features.franchises import Franchises
from recsys.metrics.ranking import top_k

SUPPORT_BINS = (0, 10, 50)  # anchors with < 10, 10-49, >= 50 training ratings
PREDICTED_BINS = (0.0, 0.05, 0.1, 0.15, 0.2, 0.3, 0.4, 0.5, 0.6, 0.8, 1.0)


def franchise_recall(top: np.ndarray, anchors: np.ndarray, franchises: Franchises) -> np.ndarray:
    """Per anchor: its franchise partners among its neighbours / min(k, partners).
    Every anchor must belong to a group."""
    k = top.shape[1]
    out = np.zeros(len(anchors))
    for r, a in enumerate(anchors):
        partners = franchises.same_group(int(a))
        partners = partners[partners != a]
        if len(partners) == 0:
            raise ValueError(f"anchor {a} has no franchise partner")
        out[r] = np.isin(top[r], partners).sum() / min(k, len(partners))
    return out


def genre_coherence(
    top: np.ndarray, anchors: np.ndarray, genres: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """Per anchor: the mean genre Jaccard of its neighbours with it, and the share of its
    neighbours sharing at least one genre (genres: bool (n_movies, n_genres))."""
    g = np.asarray(genres, dtype=bool)
    valid = top >= 0
    ga = g[anchors][:, None, :]
    gn = g[np.where(valid, top, 0)]
    inter = (ga & gn).sum(-1)
    union = (ga | gn).sum(-1)
    jaccard = np.where(union > 0, inter / np.maximum(union, 1), 0.0)
    n = np.maximum(valid.sum(1), 1)
    return (jaccard * valid).sum(1) / n, ((inter > 0) & valid).sum(1) / n


def neighbour_lists(scores: np.ndarray, anchors: np.ndarray, k: int = 10) -> np.ndarray:
    """Top-k of each row of `scores` (one row per anchor), never the anchor itself; ties go
    to the lower index, as everywhere in the evaluation."""
    s = np.array(scores, dtype=np.float64)
    s[np.arange(len(anchors)), anchors] = -np.inf
    return top_k(s, k)


@dataclass(frozen=True)
class Bin:
    low: float
    high: float
    pairs: int
    predicted: float
    observed: float

    def as_dict(self) -> dict[str, float | int]:
        return {
            "low": self.low,
            "high": self.high,
            "pairs": self.pairs,
            "predicted": self.predicted,
            "observed": self.observed,
        }


def binned(
    predicted: np.ndarray, observed: np.ndarray, by: np.ndarray, edges: Sequence[float]
) -> list[Bin]:
    """Mean predicted and observed per bin of `by` (last bin open-ended)."""
    out = []
    for i, low in enumerate(edges):
        high = edges[i + 1] if i + 1 < len(edges) else np.inf
        m = (by >= low) & (by < high)
        if m.any():
            out.append(
                Bin(float(low), float(high), int(m.sum()), float(predicted[m].mean()),
                    float(observed[m].mean()))
            )  # fmt: skip
    return out


def calibration_error(bins: Sequence[Bin]) -> float:
    """Expected calibration error: |predicted - observed| weighted by pairs."""
    total = sum(b.pairs for b in bins)
    return sum(b.pairs * abs(b.predicted - b.observed) for b in bins) / total if total else 0.0


def liked_pairs(
    neighbours: np.ndarray, values: np.ndarray, liked: Sequence[np.ndarray]
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """For every person and every movie they liked (the anchor), each neighbour the anchor
    lists: (the similarity shown, whether they liked the neighbour too, the anchor).

    neighbours, values: (n_movies, k) every movie's neighbours and their similarity.
    liked: per person, the dense indices of the movies they liked.
    """
    shown, hit, anchor = [], [], []
    for likes in liked:
        likes = np.unique(likes)
        if len(likes) == 0:
            continue
        nb = neighbours[likes]
        ok = nb >= 0
        shown.append(values[likes][ok])
        hit.append(np.isin(nb, likes)[ok])
        anchor.append(np.repeat(likes, ok.sum(1)))
    if not shown:
        empty = np.zeros(0)
        return empty, empty.astype(bool), empty.astype(np.int64)
    return np.concatenate(shown), np.concatenate(hit), np.concatenate(anchor)
