"""The rating-regression two-tower, the textbook neural content-based recommender: the
evaluation's "naive two-tower" baseline (the project's starting point), in one implementation.

An MLP over genres + year for movies, an MLP over the genre profile +
demographics for users, trained by MSE on ratings with the rating predicted
as mean + dot product. Ranks by the dot product; reports RMSE too.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd
import torch
from torch import nn
from tqdm import tqdm

from recsys.data.vocab import AGE_BUCKETS, GENRES
from recsys.evaluation.baselines import TrainData, stated_matrix
from recsys.evaluation.splits import EvalUser
from recsys.features.taste import catalogue_genre_share, stated_genres


@dataclass(frozen=True)
class NaiveConfig:
    epochs: int = 5
    batch_size: int = 1024
    lr: float = 1e-3
    dim: int = 32
    hidden: int = 64
    seed: int = 0


class _Towers(nn.Module):
    def __init__(self, n_movie_in: int, n_user_in: int, cfg: NaiveConfig) -> None:
        super().__init__()
        self.movie = nn.Sequential(
            nn.Linear(n_movie_in, cfg.hidden), nn.ReLU(), nn.Linear(cfg.hidden, cfg.dim)
        )
        self.user = nn.Sequential(
            nn.Linear(n_user_in, cfg.hidden), nn.ReLU(), nn.Linear(cfg.hidden, cfg.dim)
        )


@dataclass
class NaiveTwoTower:
    """Genres (+ year) -> movie MLP; genre profile (+ demographics) -> user MLP; MSE."""

    name = "naive-two-tower"
    data: TrainData
    net: _Towers
    movie_embeddings: np.ndarray  # float32 (n_movies, dim)
    mean_rating: float
    occupations: tuple[str, ...]
    has_demographics: bool
    stated_profiles: bool  # every user's profile is their stated genres (cold-start protocol)
    curves: dict[str, list[float]]

    def user_features(self, users: Sequence[EvalUser]) -> np.ndarray:
        stated = stated_matrix(users)
        prof = stated / np.maximum(stated.sum(1, keepdims=True), 1.0)
        if not self.stated_profiles:
            for r, u in enumerate(users):
                if u.known:
                    liked = self.data.liked_items(u.user_id)
                    prof[r] = _genre_share(self.data.movie_genres, liked)
        demo = _demographic_onehot(
            [u.gender for u in users],
            [u.age for u in users],
            [u.occupation for u in users],
            self.occupations,
            self.has_demographics,
        )
        return np.hstack([prof, demo]).astype(np.float32)

    def embed_users(self, users: Sequence[EvalUser]) -> np.ndarray:
        x = torch.from_numpy(self.user_features(users))
        with torch.inference_mode():
            emb: np.ndarray = self.net.user(x).numpy()
        return emb

    def score(self, users: Sequence[EvalUser]) -> np.ndarray:
        scores: np.ndarray = self.embed_users(users) @ self.movie_embeddings.T
        return scores

    def predict(self, users: Sequence[EvalUser], movie_index: np.ndarray) -> np.ndarray:
        """Predicted rating of movie_index[r] by users[r], clipped to the rating scale."""
        emb = self.embed_users(users)
        pred = self.mean_rating + (emb * self.movie_embeddings[movie_index]).sum(1)
        low, high = self.data.dataset.rating_scale
        clipped: np.ndarray = np.clip(pred, low, high)
        return clipped


def _genre_share(movie_genres: np.ndarray, items: np.ndarray) -> np.ndarray:
    """L1-normalised genre counts of a set of movies, so profiles and stated genres agree."""
    if len(items) == 0:
        return np.zeros(movie_genres.shape[1], dtype=np.float32)
    prof: np.ndarray = movie_genres[items].sum(0)
    total = prof.sum()
    return prof / total if total > 0 else prof


def _demographic_onehot(
    genders: Sequence[str | None],
    ages: Sequence[int | None],
    occupations: Sequence[str | None],
    occ_vocab: tuple[str, ...],
    enabled: bool,
) -> np.ndarray:
    age_codes = list(AGE_BUCKETS)
    width = 2 + len(age_codes) + len(occ_vocab)
    out = np.zeros((len(genders), width), dtype=np.float32)
    if not enabled:
        return out
    occ_pos = {o: j for j, o in enumerate(occ_vocab)}
    for r, (g, a, o) in enumerate(zip(genders, ages, occupations, strict=True)):
        if g in ("F", "M"):
            out[r, 0 if g == "F" else 1] = 1.0
        if a in age_codes:
            out[r, 2 + age_codes.index(a)] = 1.0
        if o in occ_pos:
            out[r, 2 + len(age_codes) + occ_pos[o]] = 1.0
    return out


def _movie_features(data: TrainData) -> np.ndarray:
    year = data.movie_year
    known = ~np.isnan(year)
    mu = year[known].mean() if known.any() else 0.0
    sd = year[known].std() if known.sum() > 1 else 1.0
    z = np.where(known, (year - mu) / max(sd, 1e-6), 0.0)
    return np.hstack([data.movie_genres, z[:, None], (~known)[:, None]]).astype(np.float32)


def fit_naive_two_tower(
    data: TrainData,
    cfg: NaiveConfig = NaiveConfig(),
    progress: bool = False,
    stated_profiles: bool = False,
) -> NaiveTwoTower:
    """Train by MSE on the ratings of `data`.

    stated_profiles: describe every user, in training too, by the genres they
    would state (`taste.stated_genres` of their likes) instead of the genre
    share of their likes; used for cold-start users, who have nothing else,
    so the user tower is trained on the inputs it will be given.
    """
    ds = data.dataset
    torch.manual_seed(cfg.seed)
    rng = np.random.default_rng(cfg.seed)
    occupations: tuple[str, ...] = ()
    if ds.has_demographics:
        occupations = tuple(sorted({str(o) for o in ds.users["occupation"].dropna()}))
    movie_x = torch.from_numpy(_movie_features(data))

    # One feature row per training user: genre profile + demographics.
    uids = np.array(sorted(data.histories), dtype=np.int64)
    share = catalogue_genre_share(data.movie_genres)
    stated = [
        stated_genres(data.movie_genres, data.liked_items(int(u)), GENRES, catalogue_share=share)
        if stated_profiles
        else ()
        for u in uids
    ]
    demo = pd.DataFrame(index=uids, columns=["gender", "age", "occupation"], dtype=object)
    if ds.has_demographics:
        demo = ds.users.set_index("user_id").reindex(uids)
    train_users = [
        EvalUser(
            user_id=int(uid),
            known=True,
            stated_genres=st,
            gender=None if pd.isna(g) else str(g),
            age=None if pd.isna(a) else int(a),
            occupation=None if pd.isna(o) else str(o),
        )
        for uid, st, g, a, o in zip(
            uids, stated, demo["gender"], demo["age"], demo["occupation"], strict=True
        )
    ]
    n_user_in = len(GENRES) + 2 + len(AGE_BUCKETS) + len(occupations)
    net = _Towers(movie_x.shape[1], n_user_in, cfg)
    model = NaiveTwoTower(
        data=data,
        net=net,
        movie_embeddings=np.zeros((data.n_movies, cfg.dim), np.float32),
        mean_rating=float(data.rating_value.mean()),
        occupations=occupations,
        has_demographics=ds.has_demographics,
        stated_profiles=stated_profiles,
        curves={"train_loss": []},
    )
    user_x = torch.from_numpy(model.user_features(train_users))
    row_of = pd.Index(uids).get_indexer(pd.Index(data.rating_user))
    rows = torch.from_numpy(row_of.astype(np.int64))
    items = torch.from_numpy(data.rating_item)
    target = torch.from_numpy(data.rating_value - np.float32(model.mean_rating))
    opt = torch.optim.Adam(net.parameters(), lr=cfg.lr)
    n = len(target)
    for _ in tqdm(range(cfg.epochs), desc="naive two-tower", unit="epoch", disable=not progress):
        perm = torch.from_numpy(rng.permutation(n))
        total = 0.0
        for start in range(0, n, cfg.batch_size):
            b = perm[start : start + cfg.batch_size]
            pred = (net.user(user_x[rows[b]]) * net.movie(movie_x[items[b]])).sum(1)
            loss = ((pred - target[b]) ** 2).mean()
            opt.zero_grad()
            loss.backward()
            opt.step()
            total += loss.detach().item() * len(b)
        model.curves["train_loss"].append(total / max(n, 1))
    with torch.inference_mode():
        model.movie_embeddings = net.movie(movie_x).numpy()
    return model
