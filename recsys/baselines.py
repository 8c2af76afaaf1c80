"""Baseline recommenders the two-tower model is measured against.

Each baseline is fitted on a protocol's training data (`TrainData`) and scores
a batch of `EvalUser`s against the whole catalogue: `score(users)` returns a
(len(users), n_movies) float array in movies-table order, higher = better.
Known users (protocol W) are described by their training ratings; cold users
(protocol C) by their stated genres and demographics only.

- popularity: number of training ratings of each movie.
- genre-popularity: popularity within the stated genres: movies carrying any
  of the user's stated genres first, each group by popularity (W users'
  stated genres come from their training likes, through the same
  `taste.stated_genres` as protocol C's). Ordering first by how many stated
  genres a movie carries (`tiered=True`) is weaker on every protocol measured
  (it pushes rare genre combinations above popular films), so it is not the default.
- genre-content: the classic content-based filter; cosine between the user's
  genre profile (mean genre vector of liked training movies, or the stated
  genres for cold users) and each movie's genre vector, popularity breaking ties.
- naive-two-tower: the textbook neural content-based recommender; an MLP over
  genres + year for movies, an MLP over the genre profile + demographics for
  users, trained by MSE on ratings with the rating predicted as mean + dot
  product. Ranks by the dot product. Reports RMSE too.
- ease: EASE (Steck 2019), the closed-form item-item model on the binary
  matrix of ratings >= 4 (the usual MovieLens binarisation for implicit
  models); needs a history, so warm users only.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Sequence
from dataclasses import dataclass, field, replace

import numpy as np
import pandas as pd
import torch
from torch import nn
from tqdm import tqdm

from recsys.data import Dataset
from recsys.itemitem import ease_matrix as ease_weights
from recsys.splits import EvalUser, movie_genre_matrix
from recsys.taste import LIKE_THRESHOLD, catalogue_genre_share, stated_genres
from recsys.vocab import AGE_BUCKETS, GENRES

log = logging.getLogger(__name__)

# Weight of popularity when it only breaks ties between equal content scores.
_TIE_EPS = 1e-6


@dataclass(frozen=True)
class TrainData:
    """Dense arrays of a training split, shared by every baseline fitted on it."""

    dataset: Dataset
    movie_ids: np.ndarray  # int64 (n_movies,), movies-table order
    movie_genres: np.ndarray  # float32 (n_movies, n_genres)
    movie_year: np.ndarray  # float64 (n_movies,), NaN where unknown
    counts: np.ndarray  # int64 (n_movies,): training ratings per movie
    rating_user: np.ndarray  # int64 (n_ratings,) user ids
    rating_item: np.ndarray  # int64 (n_ratings,) dense movie indices
    rating_value: np.ndarray  # float32 (n_ratings,)
    # user id -> (dense movie indices, ratings)
    histories: dict[int, tuple[np.ndarray, np.ndarray]] = field(repr=False)

    @property
    def n_movies(self) -> int:
        return len(self.movie_ids)

    def popularity(self) -> np.ndarray:
        """Training rating counts scaled to [0, 1] (all zeros when nothing was rated)."""
        top = self.counts.max() if len(self.counts) else 0
        return self.counts / top if top > 0 else np.zeros(self.n_movies)

    def liked_items(self, user_id: int) -> np.ndarray:
        """Movies the user rated >= 4 in training; all their movies if none; else empty."""
        items, ratings = self.histories.get(user_id, (np.zeros(0, np.int64), np.zeros(0)))
        liked = items[ratings >= LIKE_THRESHOLD]
        return liked if len(liked) else items


def train_data(train: Dataset) -> TrainData:
    movies = train.movies
    movie_ids = movies["movie_id"].to_numpy(dtype=np.int64)
    r = train.ratings
    item = pd.Index(movie_ids).get_indexer(r["movie_id"].to_numpy(dtype=np.int64))
    if (item < 0).any():
        raise ValueError("training ratings refer to movies missing from the movies table")
    users = r["user_id"].to_numpy(dtype=np.int64)
    values = r["rating"].to_numpy(dtype=np.float32)
    order = np.argsort(users, kind="stable")
    su, si, sv = users[order], item[order], values[order]
    starts = np.flatnonzero(np.r_[True, su[1:] != su[:-1]]) if len(su) else np.zeros(0, int)
    ends = np.r_[starts[1:], len(su)]
    histories = {
        int(su[s]): (si[s:e].astype(np.int64), sv[s:e]) for s, e in zip(starts, ends, strict=True)
    }
    years = pd.to_numeric(movies["year"], errors="coerce").to_numpy(dtype=np.float64)
    return TrainData(
        dataset=train,
        movie_ids=movie_ids,
        movie_genres=movie_genre_matrix(movies),
        movie_year=years,
        counts=np.bincount(item, minlength=len(movie_ids)).astype(np.int64),
        rating_user=users,
        rating_item=item.astype(np.int64),
        rating_value=values,
        histories=histories,
    )


def _stated_matrix(users: Sequence[EvalUser], genres: tuple[str, ...] = GENRES) -> np.ndarray:
    pos = {g: j for j, g in enumerate(genres)}
    out = np.zeros((len(users), len(genres)), dtype=np.float32)
    for r, u in enumerate(users):
        for g in u.stated_genres:
            out[r, pos[g]] = 1.0
    return out


# --------------------------------------------------------------------------- popularity


@dataclass(frozen=True)
class Popularity:
    name = "popularity"
    counts: np.ndarray

    def score(self, users: Sequence[EvalUser]) -> np.ndarray:
        return np.broadcast_to(self.counts.astype(np.float64), (len(users), len(self.counts)))


def fit_popularity(data: TrainData) -> Popularity:
    return Popularity(data.counts)


@dataclass(frozen=True)
class GenrePopularity:
    """Movies in the stated genres first (or: by number of stated genres), popularity second."""

    name = "genre-popularity"
    movie_genres: np.ndarray
    popularity: np.ndarray  # in [0, 1]
    tiered: bool = False

    def score(self, users: Sequence[EvalUser]) -> np.ndarray:
        matches = _stated_matrix(users) @ self.movie_genres.T
        tier = matches if self.tiered else (matches > 0)
        # Popularity lies in [0, 1], below one tier step, so it only orders within a tier.
        return tier * 2.0 + self.popularity[None, :]


def fit_genre_popularity(data: TrainData, tiered: bool = False) -> GenrePopularity:
    return GenrePopularity(data.movie_genres, data.popularity(), tiered)


# --------------------------------------------------------------------------- genre content


@dataclass(frozen=True)
class GenreContent:
    """Cosine between a genre profile and each movie's genres; popularity breaks ties."""

    name = "genre-content"
    data: TrainData

    def profiles(self, users: Sequence[EvalUser]) -> np.ndarray:
        g = self.data.movie_genres
        out = _stated_matrix(users)
        for r, u in enumerate(users):
            if u.known:
                liked = self.data.liked_items(u.user_id)
                out[r] = g[liked].mean(0) if len(liked) else 0.0
        return out

    def score(self, users: Sequence[EvalUser]) -> np.ndarray:
        prof = self.profiles(users).astype(np.float64)
        g = self.data.movie_genres.astype(np.float64)
        p_norm = np.linalg.norm(prof, axis=1, keepdims=True)
        g_norm = np.linalg.norm(g, axis=1)
        with np.errstate(invalid="ignore", divide="ignore"):
            cos = (prof @ g.T) / (p_norm * g_norm[None, :])
        cos = np.nan_to_num(cos, nan=0.0, posinf=0.0, neginf=0.0)
        return cos + _TIE_EPS * self.data.popularity()[None, :]


def fit_genre_content(data: TrainData) -> GenreContent:
    return GenreContent(data)


# --------------------------------------------------------------------------- naive two-tower


@dataclass(frozen=True)
class NaiveConfig:
    epochs: int = 5
    batch_size: int = 1024
    lr: float = 1e-3
    dim: int = 32
    hidden: int = 64
    seed: int = 0
    threads: int = 1  # the towers are tiny: more threads only add contention


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
        stated = _stated_matrix(users)
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
            return self.net.user(x).numpy()

    def score(self, users: Sequence[EvalUser]) -> np.ndarray:
        return self.embed_users(users) @ self.movie_embeddings.T

    def predict(self, users: Sequence[EvalUser], movie_index: np.ndarray) -> np.ndarray:
        """Predicted rating of movie_index[r] by users[r], clipped to the rating scale."""
        emb = self.embed_users(users)
        pred = self.mean_rating + (emb * self.movie_embeddings[movie_index]).sum(1)
        low, high = self.data.dataset.rating_scale
        return np.clip(pred, low, high)


def _genre_share(movie_genres: np.ndarray, items: np.ndarray) -> np.ndarray:
    """L1-normalised genre counts of a set of movies, so profiles and stated genres agree."""
    if len(items) == 0:
        return np.zeros(movie_genres.shape[1], dtype=np.float32)
    prof = movie_genres[items].sum(0)
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
    previous = torch.get_num_threads()
    torch.set_num_threads(max(1, cfg.threads))
    try:
        return _fit_naive(data, cfg, progress, stated_profiles)
    finally:
        torch.set_num_threads(previous)


def _fit_naive(
    data: TrainData, cfg: NaiveConfig, progress: bool, stated_profiles: bool
) -> NaiveTwoTower:
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
    row_of = pd.Index(uids).get_indexer(data.rating_user)
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


# --------------------------------------------------------------------------- EASE


def interaction_gram(data: TrainData) -> tuple[np.ndarray, np.ndarray]:
    """(active movie indices, float64 Gram matrix XᵀX of the binary matrix over them).

    Movies nobody rated have an all-zero column; EASE gives them zero weight
    either way, so they are left out of the (cubic-cost) solve.
    """
    active = np.flatnonzero(data.counts > 0)
    pos = np.full(data.n_movies, -1, dtype=np.int64)
    pos[active] = np.arange(len(active))
    uids = np.unique(data.rating_user)
    rows = np.searchsorted(uids, data.rating_user)
    x = np.zeros((len(uids), len(active)), dtype=np.float64)
    x[rows, pos[data.rating_item]] = 1.0
    return active, x.T @ x


@dataclass(frozen=True)
class Ease:
    """score(u) = x_u B over the active movies; never-rated movies score 0."""

    name = "ease"
    data: TrainData
    active: np.ndarray  # dense movie indices the weights cover
    weights: np.ndarray  # float64 (n_active, n_active), zero diagonal
    lam: float

    def score(self, users: Sequence[EvalUser]) -> np.ndarray:
        out = np.zeros((len(users), self.data.n_movies), dtype=np.float64)
        out[:, self.active] = history_rows(self.data, self.active, users) @ self.weights
        return out


def history_rows(data: TrainData, active: np.ndarray, users: Sequence[EvalUser]) -> np.ndarray:
    """Binary float64 rows (len(users), len(active)): which active movies each user rated."""
    pos = np.full(data.n_movies, -1, dtype=np.int64)
    pos[active] = np.arange(len(active))
    x = np.zeros((len(users), len(active)), dtype=np.float64)
    for r, u in enumerate(users):
        if not u.known:
            raise ValueError("EASE needs a rating history; it cannot score cold-start users")
        items = data.histories.get(u.user_id, (np.zeros(0, np.int64), None))[0]
        p = pos[items]
        x[r, p[p >= 0]] = 1.0
    return x


def positives(data: TrainData, min_rating: float = LIKE_THRESHOLD) -> TrainData:
    """The same training data restricted to ratings >= min_rating (EASE's input)."""
    ds = data.dataset
    return train_data(replace(ds, ratings=ds.ratings[ds.ratings["rating"] >= min_rating]))


def fit_ease(data: TrainData, lam: float = 500.0, min_rating: float = LIKE_THRESHOLD) -> Ease:
    """EASE on the ratings >= min_rating of `data` (histories too are liked movies only)."""
    t0 = time.perf_counter()
    pos = positives(data, min_rating)
    active, gram = interaction_gram(pos)
    model = Ease(pos, active, ease_weights(gram, lam), float(lam))
    log.info("EASE λ=%g on %d movies in %.1f s", lam, len(active), time.perf_counter() - t0)
    return model


@dataclass(frozen=True)
class EaseSpectrum:
    """Eigendecomposition of one Gram matrix, giving EASE scores for any λ cheaply.

    With G = QΛQᵀ, P = Q diag(1/(Λ+λ)) Qᵀ, so x B = x - (x P) / diag(P) costs
    two thin products per λ instead of a fresh inversion: used to tune λ.
    """

    active: np.ndarray
    eigvals: np.ndarray
    eigvecs: np.ndarray

    @classmethod
    def of(cls, data: TrainData) -> EaseSpectrum:
        active, gram = interaction_gram(data)
        vals, vecs = np.linalg.eigh(gram)
        return cls(active, np.maximum(vals, 0.0), vecs)

    def scores(self, x: np.ndarray, lam: float) -> np.ndarray:
        """EASE scores over the active movies for binary history rows `x`."""
        inv = 1.0 / (self.eigvals + lam)
        xp = ((x @ self.eigvecs) * inv[None, :]) @ self.eigvecs.T
        diag_p = (self.eigvecs**2) @ inv
        return x - xp / diag_p[None, :]
