"""From top-k lists to numbers: per-user metrics, their mean over training seeds, and the
summary `movierec evaluate` reports for one method on one protocol."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from recsys.evaluation.intervals import paired_bootstrap
from recsys.metrics.ranking import coverage_at_k, hit_matrix, hit_rate_at_k, ndcg_at_k, recall_at_k


@dataclass(frozen=True)
class Measured:
    """One method on one protocol: per-user metrics (mean over seeds) and the summary."""

    per_user: dict[str, np.ndarray]  # "ndcg@k", "recall@k": one value per user
    summary: dict[str, Any]


def user_metrics(top: np.ndarray, relevant: Sequence[np.ndarray]) -> dict[str, np.ndarray]:
    """NDCG@k, Recall@k and HR@k per user of one set of top-k lists."""
    k = top.shape[1]
    n_rel = np.array([len(r) for r in relevant], dtype=np.int64)
    hits = hit_matrix(top, relevant)
    return {
        f"ndcg@{k}": ndcg_at_k(hits, n_rel),
        f"recall@{k}": recall_at_k(hits, n_rel),
        f"hr@{k}": hit_rate_at_k(hits),
    }


def measure(
    tops: Sequence[np.ndarray],
    relevant: Sequence[np.ndarray],
    n_movies: int,
    users: np.ndarray | None = None,
) -> Measured:
    """Summarise one method's lists, one array per training seed (a baseline has one).

    users: the rows to score (default all), e.g. F-tail's users with a tail like.
    Metrics are per-user means over the seeds, averaged over users; coverage is the
    mean over seeds; with several seeds the summary also lists each seed's numbers.
    """
    if not tops:
        raise ValueError("nothing to measure: no lists")
    rows = np.arange(len(relevant)) if users is None else np.asarray(users, dtype=np.int64)
    rel = [relevant[r] for r in rows]
    k = tops[0].shape[1]
    seeds = [user_metrics(t[rows], rel) for t in tops]
    per_user = {name: np.mean([s[name] for s in seeds], axis=0) for name in seeds[0]}
    summary: dict[str, Any] = {
        name: float(v.mean()) if len(v) else float("nan") for name, v in per_user.items()
    }
    summary[f"coverage@{k}"] = float(np.mean([coverage_at_k(t[rows], n_movies) for t in tops]))
    summary["users"] = int(len(rows))
    if len(tops) > 1:
        summary["per_seed"] = {
            name: [float(s[name].mean()) if len(rows) else float("nan") for s in seeds]
            for name in (f"ndcg@{k}", f"recall@{k}")
        }
    return Measured(per_user, summary)


def compare(
    subject: Measured, others: dict[str, Measured], k: int, seed: int = 0
) -> dict[str, dict[str, dict[str, float | int]]]:
    """Subject minus each other method, NDCG@k and Recall@k, paired bootstrap over users."""
    out: dict[str, dict[str, dict[str, float | int]]] = {}
    for name, other in others.items():
        out[name] = {
            metric: paired_bootstrap(
                subject.per_user[metric], other.per_user[metric], seed=seed
            ).as_dict()
            for metric in (f"ndcg@{k}", f"recall@{k}")
        }
    return out
