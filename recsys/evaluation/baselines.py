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
- naive-two-tower: the rating-regression two-tower (`recsys.evaluation.naive`).
- ease: EASE (Steck 2019), the closed-form item-item model on the binary
  matrix of ratings >= 4 (the usual MovieLens binarisation for implicit
  models); needs a history: a warm user's, or the movies a new user names as
  liked (protocol F: fold-in, score = x B over the named movies).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Sequence
from dataclasses import dataclass, field, replace

import numpy as np
import pandas as pd

from recsys.data.dataset import Dataset
from recsys.data.vocab import GENRES
from recsys.evaluation.splits import EvalUser
from recsys.features.taste import genre_matrix, like_threshold
from recsys.model.itemitem import ease_matrix, gram

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
        liked = items[ratings >= like_threshold(self.dataset.rating_scale)]
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
        movie_genres=genre_matrix(movies["genres"]),
        movie_year=years,
        counts=np.bincount(item, minlength=len(movie_ids)).astype(np.int64),
        rating_user=users,
        rating_item=item.astype(np.int64),
        rating_value=values,
        histories=histories,
    )


def stated_matrix(users: Sequence[EvalUser]) -> np.ndarray:
    """float32 (len(users), n_genres): each user's stated genres, multi-hot."""
    return genre_matrix([u.stated_genres for u in users], GENRES)


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
        matches = stated_matrix(users) @ self.movie_genres.T
        tier = matches if self.tiered else (matches > 0)
        # Popularity lies in [0, 1], below one tier step, so it only orders within a tier.
        scores: np.ndarray = tier * 2.0 + self.popularity[None, :]
        return scores


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
        out = stated_matrix(users)
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
        scores: np.ndarray = cos + _TIE_EPS * self.data.popularity()[None, :]
        return scores


def fit_genre_content(data: TrainData) -> GenreContent:
    return GenreContent(data)


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
    return active, gram(rows, pos[data.rating_item], len(uids), len(active), np.float64)


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
    """Binary float64 rows (len(users), len(active)): which active movies each user rated
    (known users) or names as liked (new users)."""
    pos = np.full(data.n_movies, -1, dtype=np.int64)
    pos[active] = np.arange(len(active))
    catalogue = pd.Index(data.movie_ids)
    x = np.zeros((len(users), len(active)), dtype=np.float64)
    for r, u in enumerate(users):
        if u.known:
            items = data.histories.get(u.user_id, (np.zeros(0, np.int64), None))[0]
        elif u.liked:
            items = catalogue.get_indexer(np.asarray(u.liked, dtype=np.int64))
            items = items[items >= 0]
        else:
            raise ValueError(
                "EASE needs a rating history or named liked movies; it cannot score a user "
                "described by stated genres alone"
            )
        p = pos[items]
        x[r, p[p >= 0]] = 1.0
    return x


def positives(data: TrainData) -> TrainData:
    """The same training data restricted to the liked ratings (EASE's input)."""
    ds = data.dataset
    liked = ds.ratings["rating"] >= like_threshold(ds.rating_scale)
    return train_data(replace(ds, ratings=ds.ratings[liked]))


def fit_ease(data: TrainData, lam: float = 500.0) -> Ease:
    """EASE on the liked ratings of `data` (histories too are liked movies only)."""
    t0 = time.perf_counter()
    pos = positives(data)
    active, g = interaction_gram(pos)
    model = Ease(pos, active, ease_matrix(g, lam), float(lam))
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
        active, g = interaction_gram(data)
        vals, vecs = np.linalg.eigh(g)
        return cls(active, np.maximum(vals, 0.0), vecs)

    def scores(self, x: np.ndarray, lam: float) -> np.ndarray:
        """EASE scores over the active movies for binary history rows `x`."""
        inv = 1.0 / (self.eigvals + lam)
        xp = ((x @ self.eigvecs) * inv[None, :]) @ self.eigvecs.T
        diag_p = (self.eigvecs**2) @ inv
        scores: np.ndarray = x - xp / diag_p[None, :]
        return scores
