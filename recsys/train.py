"""Training the two-tower model, and the `movierec train` command.

The objective is a full softmax over the catalogue (a retrieval loss: every
other movie is a negative, so no sampling bias needs correcting) with, per
user and step, a random split of their history into input and targets. A
share of examples drops the history entirely, and users give extra examples
as new users (cold-start users described by demographics and stated genres
alone); a share of movies drops its id embedding (cold-start movies described
by features alone). So the towers are trained for the cold start they will
be asked to serve.

Early stopping runs on a validation split (the most recent ratings of each
user, and some users held out whole), scoring a moving average of the
weights, which is also what ships; training then continues from the best
state on all ratings for a share of the chosen epochs ("tune"), which costs
less than retraining from scratch ("full") and, on ml-latest-small, ranked as
well as it.
"""

from __future__ import annotations

import argparse
import contextlib
import copy
import ctypes
import json
import logging
import math
import sys
import time
from collections.abc import Iterator
from dataclasses import asdict, dataclass, fields, replace
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from tqdm import tqdm

from recsys.data import Dataset
from recsys.evaluate import hit_matrix, ndcg_at_k, top_k
from recsys.features import (
    FeatureSpace,
    UserQuery,
    build_feature_space,
    encode_queries,
    like_threshold,
)
from recsys.itemitem import fit_factors
from recsys.model import ITEM_INPUT, ModelConfig, TrainedModel, TwoTower, batch_tensors
from recsys.tower import ItemBlend, item_part, join_movies, tower_part

log = logging.getLogger(__name__)


OBJECTIVES = ("softmax", "mse")
REFITS = ("tune", "full")
# The item-item part's recency of likes (0: all alike) and the trained part's
# weight, chosen together (every pair) on the warm validation users; choosing
# one at a time missed the best pair on ML-100K. Without a validation slice,
# the fallbacks.
ITEM_TAUS = (0.0, 3.0, 5.0, 10.0, 20.0)
ITEM_SHARES = (0.2, 0.35, 0.5, 0.65, 0.8, 1.0)
FALLBACK_TAU, FALLBACK_SHARE = 5.0, 0.5


@dataclass(frozen=True)
class TrainConfig:
    # Upper bound; early stopping often ends sooner. On ml-latest-small the
    # validation score still creeps up past 150 epochs, so this bound is what
    # keeps its training within a minute on two cores.
    epochs: int = 70
    batch_size: int = 128
    lr: float = 2e-3
    weight_decay: float = 1e-5
    dim: int = 128
    hidden: int = 256
    temperature: float = 0.07
    dropout: float = 0.1
    objective: str = "softmax"  # "softmax" (retrieval) or "mse" (rating regression)
    seed: int = 0
    cold_rate: float = 0.2  # share of examples with no history (new users)
    # Chance per user and epoch of one more example, as a new user, besides the
    # usual one: the cold-start path learns from more examples without taking
    # any from the warm one (ML-100K C, 3 seeds: mean NDCG@10 0.512 -> 0.519).
    cold_extra: float = 0.5
    movie_id_drop: float = 0.2  # share of movies per step whose id embedding is dropped
    stated_drop: float = 0.3  # share of warm examples without stated genres
    stated_full: float = 0.7  # share of examples stating all their top genres (else a subset)
    temporal_share: float = 0.5  # share of warm examples split by time (else at random)
    # Each demographic field is left out of an example with this chance: when
    # present together they nearly identify a person, and a cold-start model that
    # leans on them memorises users instead of learning taste (ML-100K C rose
    # from 0.48 to 0.51 going from 0.2 to 0.8).
    demographic_drop: float = 0.8
    disliked_target_weight: float = 0.3
    # A new user's liked movies outside the genres they state weigh this much as
    # targets. 1 treats every like alike, as protocol C scores; lower pulls
    # cold-start answers toward the stated genres. On ML-100K C (3 seeds) 0.5 took
    # the stated-genre share of the top 10 from 0.77 to 0.95 and NDCG@10 from
    # 0.518 to 0.514.
    cold_offgenre_weight: float = 1.0
    # Each example's loss is divided by (its target weight) ** target_norm. At 0
    # every target counts alike, so people with many likes weigh more, as they
    # do in item co-occurrence counts; 1 averages per person.
    target_norm: float = 0.0
    val_share: float = 0.1  # last share of each user's ratings held out for early stopping
    eval_every: int = 5
    patience: int = 4  # evaluations without improvement before stopping
    user_id_embedding: bool = False
    id_init_std: float = 0.05
    norm_coordinate: bool = True  # see ModelConfig.norm_coordinate
    recent: int = 10  # see ModelConfig.recent; 0 turns it off
    refit: str = "tune"  # after early stopping: "tune" continues on all data, "full" retrains
    tune_share: float = 0.7  # "tune": epochs on all data, as a share of the chosen epochs
    # Validate and ship an exponential moving average of the weights (decay per
    # step; 0 = the raw weights). Smooths out the last steps' noise: on ML-100K C
    # over 3 seeds, mean NDCG@10 0.508 -> 0.512.
    ema_decay: float = 0.95
    # The item-item part of the towers (recsys.itemitem): rank (0 turns it
    # off), how many of the most-liked movies it covers, EASE's λ, and the
    # weight floor of old likes. The recency of likes and the trained part's
    # weight are chosen on the validation slice (ITEM_TAUS x ITEM_SHARES).
    item_rank: int = 128
    item_movies: int = 2000
    item_lambda: float = 100.0
    item_floor: float = 0.5
    threads: int = 2

    def model_config(self) -> ModelConfig:
        return ModelConfig(
            dim=self.dim,
            hidden=self.hidden,
            user_id_embedding=self.user_id_embedding,
            temperature=self.temperature,
            dropout=self.dropout,
            id_init_std=self.id_init_std,
            norm_coordinate=self.norm_coordinate,
            recent=self.recent,
            # Ratings are predicted from the trained part alone.
            item_rank=self.item_rank if self.objective == "softmax" else 0,
            item_floor=self.item_floor,
        )


# --------------------------------------------------------------------------- examples


@dataclass(frozen=True)
class _Example:
    query: UserQuery
    targets: np.ndarray  # dense movie indices
    target_w: np.ndarray
    target_r: np.ndarray  # the targets' ratings (for the MSE objective)
    masked: np.ndarray  # movies excluded from the softmax (the input history)


def _make_example(
    fs: FeatureSpace, u: int, rng: np.random.Generator, cfg: TrainConfig, cold: bool = False
) -> _Example | None:
    items, ratings = fs.history(u)
    n = len(items)
    if n == 0:
        return None
    liked = ratings >= fs.like_threshold
    # People state some demographics and not others: drop each field now and then.
    demo = {
        key: None if rng.random() < cfg.demographic_drop else value
        for key, value in fs.demographics(u).items()
    }
    if cold or n < 2 or rng.random() < cfg.cold_rate:
        # A new user: demographics and the genres they would state, nothing else.
        sel = liked if liked.any() else np.ones(n, bool)
        if cfg.objective == "mse":
            sel = np.ones(n, bool)
        tgt = items[sel]
        stated = _some(fs.stated_genres(items[liked] if liked.any() else items), rng, cfg)
        return _Example(
            UserQuery(**demo, stated_genres=stated),
            tgt,
            _stated_genre_weights(fs, tgt, stated, cfg.cold_offgenre_weight),
            ratings[sel],
            np.zeros(0, np.int64),
        )
    if rng.random() < cfg.temporal_share:
        cut = int(rng.integers(max(1, n // 2), n))  # the past predicts the future
        inp = np.zeros(n, bool)
        inp[:cut] = True
    else:
        keep = rng.uniform(0.2, 0.9)
        inp = rng.random(n) < keep
        if inp.all() or not inp.any():
            inp[rng.integers(n)] = not inp.all()
    # Thin some histories to a handful of movies, like a person naming a few favourites.
    if rng.random() < 0.15 and inp.sum() > 3:
        idx = np.flatnonzero(inp)
        inp[:] = False
        inp[rng.choice(idx, size=int(rng.integers(1, 4)), replace=False)] = True
    h_items, h_ratings = items[inp], ratings[inp]
    t_items, t_ratings = items[~inp], ratings[~inp]
    stated: tuple[str, ...] = ()
    if rng.random() >= cfg.stated_drop:
        stated = _some(fs.stated_genres_of(h_items, h_ratings), rng, cfg)
    w = np.where(t_ratings >= fs.like_threshold, 1.0, cfg.disliked_target_weight)
    return _Example(
        UserQuery(
            **demo,
            stated_genres=stated,
            history=tuple(h_items.tolist()),
            history_ratings=tuple(h_ratings.tolist()),
        ),
        t_items,
        w.astype(np.float32),
        t_ratings,
        h_items,
    )


def _stated_genre_weights(
    fs: FeatureSpace, targets: np.ndarray, stated: tuple[str, ...], off_genre: float
) -> np.ndarray:
    """1 for targets in a stated genre, `off_genre` for the rest (all 1 when it is 1)."""
    if off_genre == 1.0 or not stated:
        return np.ones(len(targets), np.float32)
    cols = [fs.genres.index(g) for g in stated]
    in_stated = fs.movie_genres[targets][:, cols].max(axis=1) > 0
    return np.where(in_stated, 1.0, off_genre).astype(np.float32)


def _some(genres: tuple[str, ...], rng: np.random.Generator, cfg: TrainConfig) -> tuple[str, ...]:
    """A random non-empty subset: people name one, two or three genres."""
    if len(genres) <= 1 or rng.random() < cfg.stated_full:
        return genres
    k = int(rng.integers(1, len(genres) + 1))
    keep = np.sort(rng.choice(len(genres), size=k, replace=False))
    return tuple(genres[i] for i in keep)


# --------------------------------------------------------------------------- loop


def _embed_batch(
    net: TwoTower, fs: FeatureSpace, batch: list[_Example], cfg: TrainConfig, gen: torch.Generator
) -> tuple[torch.Tensor, torch.Tensor]:
    """(user embeddings, movie embeddings) for one step; some movies are seen as new ones
    are, through their features alone (no id)."""
    id_keep = (torch.rand(fs.n_movies, generator=gen) >= cfg.movie_id_drop).float()
    movie_emb = net.movie_embeddings(id_keep)
    queries = batch_tensors(encode_queries(fs, [e.query for e in batch]))
    return net.user_embeddings(queries, movie_emb), movie_emb


def _softmax_loss(
    net: TwoTower, fs: FeatureSpace, batch: list[_Example], cfg: TrainConfig, gen: torch.Generator
) -> torch.Tensor:
    user_emb, movie_emb = _embed_batch(net, fs, batch, cfg, gen)
    logits = user_emb @ movie_emb.T / cfg.temperature
    b = len(batch)
    target = torch.zeros(b, fs.n_movies)
    t_rows = np.repeat(np.arange(b), [len(e.targets) for e in batch])
    t_cols = np.concatenate([e.targets for e in batch])
    target[torch.from_numpy(t_rows), torch.from_numpy(t_cols)] = torch.from_numpy(
        np.concatenate([e.target_w for e in batch])
    )
    m_rows = np.repeat(np.arange(b), [len(e.masked) for e in batch])
    m_cols = np.concatenate([e.masked for e in batch]).astype(np.int64)
    mask = torch.zeros(b, fs.n_movies, dtype=torch.bool)
    mask[torch.from_numpy(m_rows), torch.from_numpy(m_cols)] = True
    logits = logits.masked_fill(mask, -1e9)
    logp = F.log_softmax(logits, dim=1)
    per_example = -(target * logp).sum(1)
    mass = target.sum(1).clamp(min=1e-6)
    weights = mass ** (-cfg.target_norm)
    return (per_example * weights).sum() / (weights * mass).sum()


def _mse_loss(
    net: TwoTower, fs: FeatureSpace, batch: list[_Example], cfg: TrainConfig, gen: torch.Generator
) -> torch.Tensor:
    """The classic rating regression: rating ~ a * cos(Vu, Vm) + b on the target movies."""
    user_emb, movie_emb = _embed_batch(net, fs, batch, cfg, gen)
    rows = torch.cat([torch.full((len(e.targets),), r) for r, e in enumerate(batch)])
    cols = torch.from_numpy(np.concatenate([e.targets for e in batch]))
    truth = torch.from_numpy(np.concatenate([e.target_r for e in batch]).astype(np.float32))
    cos = (user_emb[rows] * movie_emb[cols]).sum(1)
    pred = net.rating_scale * cos + net.rating_bias
    return F.mse_loss(pred, truth)


def _ndcg_at_10(scores: np.ndarray, relevant: list[np.ndarray]) -> float:
    if not relevant:
        return 0.0
    top = top_k(scores, 10)
    n_rel = np.array([len(r) for r in relevant], dtype=np.int64)
    return float(ndcg_at_k(hit_matrix(top, relevant), n_rel).mean())


@dataclass(frozen=True)
class _Validation:
    queries: list[UserQuery]
    seen: list[np.ndarray]
    relevant: list[np.ndarray]
    n_cold: int  # the first n_cold queries are cold-start users

    def ndcg(self, net: TwoTower, fs: FeatureSpace) -> float:
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
        # Both protocols count equally: the model serves known and new users.
        return 0.5 * warm + 0.5 * _ndcg_at_10(scores[:c], self.relevant[:c])


def _split_validation(
    dataset: Dataset, share: float, seed: int
) -> tuple[Dataset, list[tuple[int, np.ndarray]], list[tuple[int, np.ndarray]]]:
    """Hold out data for early stopping, mirroring both evaluation protocols.

    Warm: the last `share` of each user's ratings (by time). Cold: `share` of
    the users entirely, who are then described only as a new user would be.
    """
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
    liked = val[val["rating"] >= threshold]
    groups = [(int(u), g["movie_id"].to_numpy()) for u, g in liked.groupby("user_id")]
    cold_liked = cold[cold["rating"] >= threshold]
    cold_groups = [(int(u), g["movie_id"].to_numpy()) for u, g in cold_liked.groupby("user_id")]
    return replace(dataset, ratings=fit_ratings), groups, cold_groups


def _build_validation(
    fs: FeatureSpace, held: list[tuple[int, np.ndarray]], cold: list[tuple[int, np.ndarray]]
) -> _Validation:
    queries, seen, relevant = [], [], []
    for user_id, movie_ids in cold:
        u = fs.user_index(user_id)
        rel = np.array([i for i in (fs.movie_index(m) for m in movie_ids) if i is not None])
        if u is None or len(rel) == 0:
            continue
        queries.append(UserQuery(**fs.demographics(u), stated_genres=fs.stated_genres(rel)))
        seen.append(np.zeros(0, dtype=np.int64))
        relevant.append(rel)
    n_cold = len(queries)
    for user_id, movie_ids in held:
        u = fs.user_index(user_id)
        if u is None:
            continue
        rel = np.array([i for i in (fs.movie_index(m) for m in movie_ids) if i is not None])
        if len(rel) == 0:
            continue
        q = fs.known_user_query(u)
        queries.append(UserQuery(**{**asdict(q), "user_index": None}))
        seen.append(np.asarray(q.history, dtype=np.int64))
        relevant.append(rel)
    return _Validation(queries, seen, relevant, n_cold)


def _run(
    fs: FeatureSpace,
    cfg: TrainConfig,
    epochs: int,
    validation: _Validation | None,
    progress: bool,
    start: _State | None = None,
) -> tuple[TwoTower, dict[str, list[float]], int, _State | None]:
    """Train for up to `epochs`; returns (net, curves, chosen epochs, best state).

    With a validation set, the best state (by smoothed score) is kept, so a
    caller can continue from it instead of retraining from scratch.
    """
    torch.manual_seed(cfg.seed)
    rng = np.random.default_rng(cfg.seed)
    gen = torch.Generator().manual_seed(cfg.seed)
    net = TwoTower(fs, cfg.model_config())
    net.train()
    opt = _optimizer(net, cfg)
    if start is not None:
        # Parameters only: the buffers describe this run's data (popularity, rated movies).
        params = dict(net.named_parameters())
        net.load_state_dict({k: v for k, v in start.network.items() if k in params}, strict=False)
        opt.load_state_dict(start.optimizer)
    ema = _Ema(net, cfg.ema_decay, start.ema if start is not None else None)
    best_state: _State | None = None
    users = np.flatnonzero(np.diff(fs.user_indptr) > 0)
    curves: dict[str, list[float]] = {"train_loss": [], "val_ndcg": [], "val_epoch": []}
    best_score, best_epoch, stale = -1.0, 0, 0
    bar = tqdm(range(1, epochs + 1), desc="training", unit="epoch", disable=not progress)
    for epoch in bar:
        order = rng.permutation(users)
        losses = []
        for start in range(0, len(order), cfg.batch_size):
            chunk = order[start : start + cfg.batch_size]
            batch = [_make_example(fs, int(u), rng, cfg) for u in chunk]
            if cfg.cold_extra > 0:
                extra = chunk[rng.random(len(chunk)) < cfg.cold_extra]
                batch += [_make_example(fs, int(u), rng, cfg, cold=True) for u in extra]
            batch = [e for e in batch if e is not None and len(e.targets)]
            if not batch:
                continue
            loss_fn = _mse_loss if cfg.objective == "mse" else _softmax_loss
            loss = loss_fn(net, fs, batch, cfg, gen)
            opt.zero_grad()
            loss.backward()
            opt.step()
            ema.update(net)
            losses.append(float(loss.detach()))
        curves["train_loss"].append(float(np.mean(losses)) if losses else math.nan)
        postfix = {"loss": f"{curves['train_loss'][-1]:.3f}"}
        if validation is not None and (epoch % cfg.eval_every == 0 or epoch == epochs):
            with ema.applied(net):
                score = validation.ndcg(net, fs)
            curves["val_ndcg"].append(score)
            curves["val_epoch"].append(epoch)
            postfix["val_ndcg@10"] = f"{score:.4f}"
            smooth = _smoothed(curves["val_ndcg"])
            if smooth > best_score:
                best_score, best_epoch, stale = smooth, epoch, 0
                best_state = _State(
                    copy.deepcopy(net.state_dict()), copy.deepcopy(opt.state_dict()), ema.copy()
                )
            else:
                stale += 1
                if stale >= cfg.patience:
                    bar.set_postfix(postfix)
                    break
        bar.set_postfix(postfix)
    bar.close()
    if validation is not None:
        return net, curves, max(best_epoch, cfg.eval_every), best_state
    ema.apply_for_good(net)
    return net, curves, epochs, None


@dataclass(frozen=True)
class _State:
    network: dict
    optimizer: dict
    ema: list[torch.Tensor] | None = None


class _Ema:
    """An exponential moving average of the parameters, updated after every step.

    The decay ramps up over the first steps ((1 + t) / (10 + t)), so the early,
    random weights are soon forgotten.
    """

    def __init__(self, net: TwoTower, decay: float, start: list[torch.Tensor] | None) -> None:
        self.decay = decay
        self.steps = 0
        self.shadow: list[torch.Tensor] | None = None
        if decay > 0:
            src = start if start is not None else [p.detach() for p in net.parameters()]
            self.shadow = [t.clone() for t in src]
            # Continuing from a saved average: it is already past the ramp.
            self.steps = 0 if start is None else 10**6

    @torch.no_grad()
    def update(self, net: TwoTower) -> None:
        if self.shadow is None:
            return
        self.steps += 1
        d = min(self.decay, (1 + self.steps) / (10 + self.steps))
        for s, p in zip(self.shadow, net.parameters(), strict=True):
            s.lerp_(p.detach(), 1.0 - d)

    def copy(self) -> list[torch.Tensor] | None:
        return None if self.shadow is None else [t.clone() for t in self.shadow]

    @contextlib.contextmanager
    def applied(self, net: TwoTower) -> Iterator[None]:
        """The averaged weights in `net` for the duration (a validation pass)."""
        if self.shadow is None:
            yield
            return
        raw = [p.detach().clone() for p in net.parameters()]
        self._load(net, self.shadow)
        try:
            yield
        finally:
            self._load(net, raw)

    def apply_for_good(self, net: TwoTower) -> None:
        if self.shadow is not None:
            self._load(net, self.shadow)

    @staticmethod
    @torch.no_grad()
    def _load(net: TwoTower, values: list[torch.Tensor]) -> None:
        for p, v in zip(net.parameters(), values, strict=True):
            p.copy_(v)


def _validated_net(fs: FeatureSpace, cfg: TrainConfig, best: _State) -> TwoTower:
    """The network as validated: the best state, with its averaged weights."""
    net = TwoTower(fs, cfg.model_config())
    params = dict(net.named_parameters())
    net.load_state_dict({k: v for k, v in best.network.items() if k in params}, strict=False)
    if best.ema is not None:
        _Ema._load(net, best.ema)
    net.eval()
    return net


def _standardised(scores: np.ndarray) -> torch.Tensor:
    """Each row minus its mean over the catalogue, over its standard deviation (0 if flat)."""
    t = torch.from_numpy(np.ascontiguousarray(scores, dtype=np.float32))
    centred = t - t.mean(dim=1, keepdim=True)
    sd = centred.pow(2).mean(dim=1, keepdim=True).sqrt()
    return torch.where(sd > 1e-12, centred / sd.clamp(min=1e-12), torch.zeros_like(centred))


def _fallback_choice() -> dict:
    return {"tau": FALLBACK_TAU, "share": FALLBACK_SHARE, "chosen_on": "fallback"}


def _choose_item_blend(
    net: TwoTower, fs: FeatureSpace, validation: _Validation, cfg: TrainConfig
) -> dict:
    """The item-item part's recency and the trained part's weight that rank the
    warm validation users best, with an item-item part fitted without their
    held-out ratings. Cold validation users have no history, so no item-item
    part: their answers do not depend on the choice."""
    c = validation.n_cold
    queries, seen, relevant = validation.queries[c:], validation.seen[c:], validation.relevant[c:]
    if not queries:
        return _fallback_choice()
    p, q = fit_factors(fs, cfg.item_rank, cfg.item_movies, cfg.item_lambda, cfg.seed)
    with torch.inference_mode():
        movies = join_movies(net.movie_embeddings().numpy().astype(np.float32), q)
    blend = ItemBlend(cfg.dim - 1, cfg.item_rank, 0.0, cfg.item_floor, 1.0)
    batch = encode_queries(fs, queries)
    with torch.inference_mode():
        users = net.user_embeddings(
            batch_tensors(batch), torch.from_numpy(tower_part(movies, blend))
        ).numpy()
    # The joined vectors rank like share * z(trained) + (1 - share) * z(item-item)
    # (tests/test_itemitem.py checks it), so the grid blends standardised score
    # matrices instead of joining vectors 30 times.
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


def _optimizer(net: TwoTower, cfg: TrainConfig) -> torch.optim.Optimizer:
    """AdamW, fused where this torch build supports it on CPU (a quarter of each step
    went to the per-tensor update loop)."""
    try:
        return torch.optim.AdamW(
            net.parameters(), lr=cfg.lr, weight_decay=cfg.weight_decay, fused=True
        )
    except (RuntimeError, TypeError):
        return torch.optim.AdamW(net.parameters(), lr=cfg.lr, weight_decay=cfg.weight_decay)


def _smoothed(values: list[float]) -> float:
    """Mean of the last three validation scores.

    One evaluation on a small validation slice is noisy; picking the epoch count
    from single peaks stopped some runs far too early (seen on ML-100K: 15 epochs
    chosen where 45 was better). The refit then trains for the chosen count.
    """
    return float(np.mean(values[-3:]))


def _keep_freed_memory() -> None:
    """Ask glibc to reuse freed tensor memory instead of unmapping it.

    Every step allocates catalogue-sized tensors; by default glibc serves those
    with fresh mmaps and returns them on free, so each step pays page faults on
    all of them again (measured 2-4x slower steps on our VMs). Linux/glibc only.
    """
    try:
        libc = ctypes.CDLL("libc.so.6")
    except OSError:
        return
    m_trim_threshold, m_top_pad, m_mmap_threshold = -1, -2, -3
    libc.mallopt(m_mmap_threshold, 32 * 1024 * 1024)
    libc.mallopt(m_trim_threshold, 1024 * 1024 * 1024)
    libc.mallopt(m_top_pad, 256 * 1024 * 1024)


def fit(
    dataset: Dataset,
    config: TrainConfig | None = None,
    progress: bool = True,
) -> TrainedModel:
    """Train on every rating in `dataset` (a validation slice picks the epoch count).

    Deterministic for a seed: with more than one thread some CPU kernels
    accumulate in a varying order (measured: embeddings differing by 7e-7
    between two identical runs), so deterministic algorithms are switched on
    for the run; on ml-latest-small that cost no time.
    """
    previous = torch.are_deterministic_algorithms_enabled()
    torch.use_deterministic_algorithms(True)
    try:
        return _fit(dataset, config or TrainConfig(), progress)
    finally:
        torch.use_deterministic_algorithms(previous)


def _fit(dataset: Dataset, cfg: TrainConfig, progress: bool) -> TrainedModel:
    for name, value, valid in (
        ("objective", cfg.objective, OBJECTIVES),
        ("refit", cfg.refit, REFITS),
    ):
        if value not in valid:
            raise ValueError(f"unknown {name} {value!r}; use {' or '.join(map(repr, valid))}")
    if not 0.0 <= cfg.ema_decay < 1.0:
        raise ValueError(
            f"ema_decay must be in [0, 1) (0 turns averaging off), got {cfg.ema_decay}"
        )
    if not 0.0 <= cfg.cold_offgenre_weight <= 1.0:
        raise ValueError(
            f"cold_offgenre_weight must be in [0, 1] (1 weighs every like alike); "
            f"got {cfg.cold_offgenre_weight}"
        )
    if not 0.0 <= cfg.cold_extra <= 1.0:
        raise ValueError(
            f"cold_extra is a chance per user and epoch, in [0, 1]; got {cfg.cold_extra}"
        )
    if cfg.recent < 0:
        raise ValueError(f"recent is a count of movies (0 turns it off); got {cfg.recent}")
    if cfg.item_rank < 0:
        raise ValueError(
            f"item_rank is a rank (0 turns the item-item part off); got {cfg.item_rank}"
        )
    if cfg.item_rank > 0 and not cfg.norm_coordinate:
        raise ValueError(
            "the item-item part ranks by a dot product, which needs --norm-coordinate; "
            "pass --item-rank 0 to train without it"
        )
    if len(dataset.ratings) == 0:
        raise ValueError("the dataset has no ratings to train on")
    torch.set_num_threads(max(1, cfg.threads))
    _keep_freed_memory()
    t0 = time.perf_counter()
    curves: dict[str, list[float]] = {}
    epochs = cfg.epochs
    best: _State | None = None
    if cfg.val_share > 0:
        fit_ds, held, cold = _split_validation(dataset, cfg.val_share, cfg.seed)
        fs_fit = build_feature_space(fit_ds)
        validation = _build_validation(fs_fit, held, cold)
        if validation.queries:
            _, curves, epochs, best = _run(fs_fit, cfg, cfg.epochs, validation, progress)
    item_choice: dict = {}
    model_cfg = cfg.model_config()
    if model_cfg.item_rank > 0:
        if best is not None:
            net_v = _validated_net(fs_fit, cfg, best)
            item_choice = _choose_item_blend(net_v, fs_fit, validation, cfg)
        else:
            item_choice = _fallback_choice()
        model_cfg = replace(model_cfg, item_tau=item_choice["tau"], item_share=item_choice["share"])
    fs = build_feature_space(dataset)
    same_inputs = best is not None and fs.occupations == fs_fit.occupations
    if cfg.refit == "tune" and same_inputs and not cfg.user_id_embedding:
        # Continue from the best validated state on all the data: the held-out
        # (most recent) ratings are learnt in a few epochs instead of a full rerun.
        # Same catalogue, so every movie-indexed parameter lines up.
        tune = max(cfg.eval_every, int(round(epochs * cfg.tune_share)))
        net, final_curves, _, _ = _run(fs, cfg, tune, None, progress, start=best)
        epochs_total = epochs + tune
    else:
        net, final_curves, _, _ = _run(fs, cfg, epochs, None, progress)
        epochs_total = epochs
    curves = {**curves, "final_train_loss": final_curves["train_loss"]}
    net.eval()
    with torch.inference_mode():
        movie_emb = net.movie_embeddings().numpy().astype(np.float32)
    if model_cfg.item_rank > 0:
        p, q = fit_factors(fs, cfg.item_rank, cfg.item_movies, cfg.item_lambda, cfg.seed)
        movie_emb = join_movies(movie_emb, q)
        getattr(net.user_tower, ITEM_INPUT).copy_(torch.from_numpy(p))
    train_cfg = {
        **asdict(cfg),
        "epochs_run": epochs,
        "epochs_final": epochs_total,
        "item_choice": item_choice,
        "seconds": time.perf_counter() - t0,
    }
    return TrainedModel(
        features=fs,
        network=net,
        movie_embeddings=movie_emb,
        temperature=cfg.temperature,
        dataset_name=dataset.name,
        model_config=asdict(model_cfg),
        train_config=train_cfg,
        curves=curves,
    )


# --------------------------------------------------------------------------- command


_CHOICES = {"objective": OBJECTIVES, "refit": REFITS}


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "train",
        help="train a two-tower model and write a model bundle",
        description="Train the two-tower model on a dataset and write a bundle "
        "(weights, embeddings, Annoy index, manifest) to --out.",
    )
    p.add_argument("--dataset", default="default", help="dataset name or directory")
    p.add_argument("--out", required=True, type=Path, help="bundle directory to write")
    p.add_argument(
        "--evaluation",
        type=Path,
        default=None,
        help="a `movierec evaluate` JSON report whose numbers go into the bundle's model card",
    )
    defaults = TrainConfig()
    for f in fields(TrainConfig):
        flag = "--" + f.name.replace("_", "-")
        value = getattr(defaults, f.name)
        if isinstance(value, bool):
            p.add_argument(flag, action=argparse.BooleanOptionalAction, default=value)
        else:
            p.add_argument(
                flag,
                type=type(value),
                default=value,
                choices=_CHOICES.get(f.name),
                help=f"(default {value})",
            )
    p.set_defaults(func=main)


def config_from_args(args: argparse.Namespace) -> TrainConfig:
    return TrainConfig(**{f.name: getattr(args, f.name) for f in fields(TrainConfig)})


def _evaluation_summary(model_path: Path | None) -> dict:
    """The per-protocol metrics of every method from an evaluation report, if given."""
    if model_path is None:
        return {}
    report = json.loads(Path(model_path).read_text(encoding="utf-8"))
    return {
        "dataset": report["dataset"],
        "command": report.get("command", ""),
        "protocols": report["metrics"],
    }


def main(args: argparse.Namespace) -> int:
    from recsys.bundle import write_bundle
    from recsys.data import DataError, load_dataset
    from recsys.download import resolve_dataset

    logging.basicConfig(level=logging.INFO, stream=sys.stderr, format="%(message)s")
    try:
        path = resolve_dataset(args.dataset)
        dataset = load_dataset(path)
    except (DataError, FileNotFoundError, ValueError) as exc:
        print(f"movierec train: {exc}", file=sys.stderr)
        return 2
    try:
        evaluation = _evaluation_summary(model_path=args.evaluation)
    except (OSError, ValueError, KeyError) as exc:
        print(f"movierec train: cannot read --evaluation {args.evaluation}: {exc}", file=sys.stderr)
        return 2
    cfg = config_from_args(args)
    try:
        model = fit(dataset, cfg)
    except ValueError as exc:
        print(f"movierec train: {exc}", file=sys.stderr)
        return 2
    val = model.curves.get("val_ndcg") or []
    evaluation["validation"] = {
        "ndcg@10": max(val) if val else None,
        "note": "mean of warm (last 10% of each user's ratings) and cold (10% of users held "
        "out, described by stated genres and demographics) NDCG@10 on the validation slice",
    }
    out = write_bundle(model, dataset, args.out, evaluation=evaluation)
    secs = model.train_config["seconds"]
    print(f"trained on {dataset.name} in {secs:.1f} s; bundle written to {out}")
    return 0


__all__ = ["TrainConfig", "fit", "add_parser", "main"]
