"""Validation: held-out data that picks the epoch count and the item-item part's blend.

It mirrors both evaluation protocols: warm, the last `val_share` of each
user's ratings (by time); cold, `val_share` of the users held out entirely
and described only as a new user would be. Both count equally.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, replace
from typing import Any, cast

import numpy as np
import pandas as pd
import torch

from recsys.data.dataset import Dataset
from recsys.features.encoding import encode_queries
from recsys.features.queries import UserQuery
from recsys.features.space import FeatureSpace
from recsys.features.taste import like_threshold
from recsys.metrics.ranking import hit_matrix, ndcg_at_k, top_k
from recsys.model.blend import ItemBlend, item_part, join_movies, tower_part
from recsys.model.config import FALLBACK_SHARE, FALLBACK_TAU
from recsys.model.itemitem import fit_factors
from recsys.model.towers import TwoTower, batch_tensors
from recsys.training.config import TrainConfig

log = logging.getLogger(__name__)

# The item-item part's recency of likes (0: all alike) and the trained part's
# weight, chosen together (every pair) on the warm validation users; choosing
# one at a time missed the best pair on ML-100K.
ITEM_TAUS = (0.0, 3.0, 5.0, 10.0, 20.0)
ITEM_SHARES = (0.2, 0.35, 0.5, 0.65, 0.8, 1.0)

Held = list[tuple[int, np.ndarray]]  # (user id, held-out liked movie ids)
Rated = list[tuple[int, np.ndarray, np.ndarray]]  # (user id, movie ids, ratings), oldest first


@dataclass(frozen=True)
class Validation:
    queries: list[UserQuery]
    seen: list[np.ndarray]
    relevant: list[np.ndarray]
    n_cold: int  # the first n_cold queries are cold-start users
    # Each cold user's ratings (dense movie indices, stars), oldest first: what a person
    # rating movies one by one would have told us (the known-user calibration's rows).
    cold_histories: tuple[tuple[np.ndarray, np.ndarray], ...] = ()

    def __call__(self, net: TwoTower, fs: FeatureSpace) -> float:
        """Mean of the warm and the cold users' NDCG@10 (the model serves both)."""
        net.eval()
        with torch.inference_mode():
            m = net.movie_embeddings()
            scores_all = []
            for i in range(0, len(self.queries), 512):
                u = net.user_embeddings(
                    batch_tensors(encode_queries(fs, self.queries[i : i + 512])), m
                )
                scores_all.append((u @ m.T).numpy())
        net.train()
        scores = np.concatenate(scores_all)
        for r, s in enumerate(self.seen):
            scores[r, s] = -np.inf
        c = self.n_cold
        warm = _ndcg_at_10(scores[c:], self.relevant[c:])
        if c == 0:
            return warm
        return 0.5 * warm + 0.5 * _ndcg_at_10(scores[:c], self.relevant[:c])


def _ndcg_at_10(scores: np.ndarray, relevant: list[np.ndarray]) -> float:
    if not relevant:
        return 0.0
    top = top_k(scores, 10)
    n_rel = np.array([len(r) for r in relevant], dtype=np.int64)
    return float(ndcg_at_k(hit_matrix(top, relevant), n_rel).mean())


def split_validation(dataset: Dataset, share: float, seed: int) -> tuple[Dataset, Held, Rated]:
    """(the ratings to fit on, warm users' held-out likes, cold users' ratings)."""
    r = dataset.ratings.sort_values(["user_id", "timestamp", "movie_id"], kind="stable")
    users = np.unique(r["user_id"].to_numpy())
    rng = np.random.default_rng(seed)
    n_cold = int(len(users) * share) if len(users) >= 20 else 0
    cold_users = rng.choice(users, size=n_cold, replace=False)
    is_cold = r["user_id"].isin(cold_users).to_numpy()
    cold = r[is_cold]
    r = r[~is_cold]
    n = r.groupby("user_id", sort=False)["movie_id"].transform("size").to_numpy()
    pos = r.groupby("user_id", sort=False).cumcount().to_numpy()
    n_val = np.where(n >= 5, np.maximum(1, np.round(n * share)), 0)
    is_val = pos >= n - n_val
    fit_ratings = r[~is_val].reset_index(drop=True)
    val = r[is_val]
    threshold = like_threshold(dataset.rating_scale)
    groups = _movies_by_user(val[val["rating"] >= threshold])
    return replace(dataset, ratings=fit_ratings), groups, _ratings_by_user(cold)


def _movies_by_user(ratings: pd.DataFrame) -> Held:
    """(user id, movie ids) for each user of `ratings`, in user id order."""
    # The group keys are the int64 user ids; pandas types a group key as any scalar.
    return [
        (int(cast(np.int64, u)), g["movie_id"].to_numpy()) for u, g in ratings.groupby("user_id")
    ]


def _ratings_by_user(ratings: pd.DataFrame) -> Rated:
    """(user id, movie ids, ratings) for each user of `ratings`, in user id order, each
    user's rows in the frame's order."""
    return [
        (
            int(cast(np.int64, u)),
            g["movie_id"].to_numpy(),
            g["rating"].to_numpy(dtype=np.float64),
        )
        for u, g in ratings.groupby("user_id")
    ]


def build_validation(fs: FeatureSpace, held: Held, cold: Rated) -> Validation:
    queries, seen, relevant = [], [], []
    histories = []
    for user_id, movie_ids, stars in cold:
        u = fs.user_index(user_id)
        dense = np.array([-1 if i is None else i for i in map(fs.movie_index, movie_ids)])
        known = dense >= 0
        items, ratings = dense[known].astype(np.int64), stars[known]
        rel = items[ratings >= fs.like_threshold]
        if u is None or len(rel) == 0:
            continue
        queries.append(UserQuery(**fs.demographics(u), stated_genres=fs.stated_genres(rel)))
        seen.append(np.zeros(0, dtype=np.int64))
        relevant.append(rel)
        histories.append((items, ratings))
    n_cold = len(queries)
    for user_id, movie_ids in held:
        u = fs.user_index(user_id)
        if u is None:
            continue
        rel = np.array([i for i in (fs.movie_index(m) for m in movie_ids) if i is not None])
        if len(rel) == 0:
            continue
        q = fs.known_user_query(u)
        queries.append(q)
        seen.append(np.asarray(q.history, dtype=np.int64))
        relevant.append(rel)
    return Validation(queries, seen, relevant, n_cold, tuple(histories))


def fallback_choice() -> dict[str, Any]:
    return {"tau": FALLBACK_TAU, "share": FALLBACK_SHARE, "chosen_on": "fallback"}


def _standardised(scores: np.ndarray) -> torch.Tensor:
    """Each row minus its mean over the catalogue, over its standard deviation (0 if flat)."""
    t = torch.from_numpy(np.ascontiguousarray(scores, dtype=np.float32))
    centred = t - t.mean(dim=1, keepdim=True)
    sd = centred.pow(2).mean(dim=1, keepdim=True).sqrt()
    return torch.where(sd > 1e-12, centred / sd.clamp(min=1e-12), torch.zeros_like(centred))


def choose_item_blend(
    net: TwoTower,
    fs: FeatureSpace,
    validation: Validation,
    cfg: TrainConfig,
    factors: tuple[np.ndarray, np.ndarray] | None = None,
) -> dict[str, Any]:
    """The item-item part's recency and the trained part's weight that rank the warm
    validation users best, with an item-item part fitted without their held-out ratings
    (`factors`, the (P, Q) of `fit_factors` on `fs`, when the caller has them already).
    Cold validation users have no history, so no item-item part: their answers do not
    depend on the choice."""
    c = validation.n_cold
    queries, seen, relevant = validation.queries[c:], validation.seen[c:], validation.relevant[c:]
    if not queries:
        return fallback_choice()
    rank = cfg.model.item_rank
    p, q = factors or fit_factors(fs, rank, cfg.item.movies, cfg.item.lam, cfg.seed)
    with torch.inference_mode():
        movies = join_movies(net.movie_embeddings().numpy().astype(np.float32), q)
    blend = ItemBlend(cfg.model.raw_dim, rank, 0.0, cfg.model.item_floor, 1.0)
    batch = encode_queries(fs, queries)
    with torch.inference_mode():
        users = net.user_embeddings(
            batch_tensors(batch), torch.from_numpy(tower_part(movies, blend))
        ).numpy()
    # The joined vectors rank like share * z(trained) + (1 - share) * z(item-item)
    # (tests check it), so the grid blends standardised score matrices instead of
    # joining vectors 30 times.
    d, r = blend.tower_dim, blend.rank
    n_rel = np.array([len(x) for x in relevant], dtype=np.int64)
    seen_mask = torch.zeros(len(queries), fs.n_movies, dtype=torch.bool)
    for row, s in enumerate(seen):
        seen_mask[row, torch.from_numpy(np.asarray(s, dtype=np.int64))] = True
    z_tower = _standardised(users[:, :-1] @ movies[:, :d].T)
    grid: dict[tuple[float, float], float] = {}
    for tau in ITEM_TAUS:
        pooled = item_part(p, batch, replace(blend, tau=tau))
        z_item = _standardised(pooled @ movies[:, d : d + r].T)
        for share in ITEM_SHARES:
            scores = (share * z_tower + (1.0 - share) * z_item).masked_fill_(seen_mask, -np.inf)
            top = torch.topk(scores, 10, dim=1).indices.numpy()
            grid[(tau, share)] = float(ndcg_at_k(hit_matrix(top, relevant), n_rel).mean())
    tau, share = max(grid, key=lambda g: grid[g])  # the first best, in grid order
    score = grid[(tau, share)]
    tower_only = grid[(tau, 1.0)]
    log.info(
        "item-item part: recency %g, trained part's weight %g (warm validation NDCG@10 "
        "%.4f; trained part alone %.4f)",
        tau,
        share,
        score,
        tower_only,
    )
    return {
        "tau": tau,
        "share": share,
        "chosen_on": "validation",
        "warm_val_ndcg": score,
        "warm_val_ndcg_tower_only": tower_only,
        "grid": [[t, w, v] for (t, w), v in grid.items()],
    }
