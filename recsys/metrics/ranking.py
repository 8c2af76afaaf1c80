"""Ranking metrics and the one top-k: shared by training's validation, the evaluation and
the index.

Metrics @k, averaged over users (callers skip users without a relevant movie):
- Recall@k = hits / min(k, n_relevant), so a perfect list scores 1 even for
  users with more than k relevant movies.
- NDCG@k with binary relevance; the ideal DCG places min(k, n_relevant) hits
  at the top.
- HR@k = 1 if any hit.
- Coverage@k = distinct movies recommended to anyone / catalogue size.
- RMSE, for methods that predict ratings.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np

K = 10


def top_positions(scores: np.ndarray, k: int, tiebreak: np.ndarray | None = None) -> np.ndarray:
    """Positions of the k best of a 1-D score array, best first; equal scores go to the lower
    `tiebreak` value (default: the lower position), so every ranking is deterministic."""
    n = len(scores)
    k = min(k, n)
    if k <= 0:
        return np.empty(0, dtype=np.int64)
    keys = np.arange(n, dtype=np.int64) if tiebreak is None else tiebreak
    pos = np.arange(n, dtype=np.int64)
    if k < n:
        # Keep everything tied with the k-th score so the tie-break below is exact.
        kth = np.partition(scores, n - k)[n - k]
        pos = np.flatnonzero(scores >= kth)
    order = np.lexsort((keys[pos], -scores[pos]))[:k]
    return pos[order]


def top_k(scores: np.ndarray, k: int = K) -> np.ndarray:
    """Indices of the k best scores per row, best first (ties to the lower index); -1 where
    fewer than k scores are finite."""
    scores = np.asarray(scores, dtype=np.float64)
    out = np.full((scores.shape[0], k), -1, dtype=np.int64)
    for r, row in enumerate(scores):
        top = top_positions(row, k)
        top = top[np.isfinite(row[top])]
        out[r, : len(top)] = top
    return out


def hit_matrix(top: np.ndarray, relevant: Sequence[np.ndarray]) -> np.ndarray:
    """bool (n_users, k): whether each recommended movie is relevant for that user."""
    hits = np.zeros(top.shape, dtype=bool)
    for r, rel in enumerate(relevant):
        hits[r] = np.isin(top[r], rel) & (top[r] >= 0)
    return hits


def recall_at_k(hits: np.ndarray, n_relevant: np.ndarray) -> np.ndarray:
    k = hits.shape[1]
    recall: np.ndarray = hits.sum(1) / np.maximum(np.minimum(k, n_relevant), 1)
    return recall


def ndcg_at_k(hits: np.ndarray, n_relevant: np.ndarray) -> np.ndarray:
    k = hits.shape[1]
    disc = 1.0 / np.log2(np.arange(2, k + 2))
    dcg = (hits * disc[None, :]).sum(1)
    ideal = np.cumsum(disc)[np.clip(np.minimum(k, n_relevant) - 1, 0, k - 1)]
    return np.where(n_relevant > 0, dcg / ideal, 0.0)


def hit_rate_at_k(hits: np.ndarray) -> np.ndarray:
    return np.asarray(hits.any(1), dtype=np.float64)


def coverage_at_k(top: np.ndarray, n_movies: int) -> float:
    shown = np.unique(top[top >= 0])
    return len(shown) / n_movies if n_movies else 0.0


def rmse(pred: np.ndarray, truth: np.ndarray) -> float:
    return float(np.sqrt(np.mean((np.asarray(pred) - np.asarray(truth)) ** 2)))


def ranking_metrics(
    top: np.ndarray, relevant: Sequence[np.ndarray], n_movies: int
) -> dict[str, float]:
    k = top.shape[1]
    n_rel = np.array([len(r) for r in relevant], dtype=np.int64)
    hits = hit_matrix(top, relevant)
    return {
        f"ndcg@{k}": float(ndcg_at_k(hits, n_rel).mean()) if len(n_rel) else math.nan,
        f"recall@{k}": float(recall_at_k(hits, n_rel).mean()) if len(n_rel) else math.nan,
        f"hr@{k}": float(hit_rate_at_k(hits).mean()) if len(n_rel) else math.nan,
        f"coverage@{k}": coverage_at_k(top, n_movies),
        "users": int(len(n_rel)),
    }
