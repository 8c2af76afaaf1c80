"""The evaluation protocols' train/test splits.

W (warm users): each user's ratings sorted by time (ties by movie id), the last
20% are test. Test count per user is `max(1, round(0.2 * n))`; 0.2 * n is never
exactly half an integer, so the rounding rule cannot matter. The model sees the
rest. Relevant = test movies rated >= 4; the ranking excludes the user's
training movies.

C (cold-start users): 20% of users (seeded) are held out entirely. Each is
described only by demographics (where the dataset has them) and the three
genres most over-represented among the movies they rated >= 4
(`recsys.features.taste`).
Relevant = every movie they rated >= 4; nothing is excluded from the ranking.

Both rank the full catalogue: every row of the movies table, rated or not.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np
import pandas as pd

from recsys.data.dataset import Dataset
from recsys.data.vocab import GENRES
from recsys.features.queries import Demographics
from recsys.features.taste import (
    N_STATED_GENRES,
    catalogue_genre_share,
    genre_matrix,
    like_threshold,
    stated_genres,
)

TEST_SHARE = 0.2
COLD_USER_SHARE = 0.2


@dataclass(frozen=True)
class EvalUser:
    """One evaluated user as the recommender sees them at query time."""

    user_id: int
    known: bool  # has training ratings (W); False = described by stated data only (C)
    stated_genres: tuple[str, ...]
    gender: str | None = None
    age: int | None = None  # ML-1M age code
    occupation: str | None = None
    liked: tuple[int, ...] = ()  # movie ids the user names as liked (protocol F), earliest first


@dataclass(frozen=True)
class EvalSplit:
    """One protocol applied to one dataset: what to fit on and what to score."""

    protocol: str  # "W" | "C" | "F1", "F3", "F5" (`recsys.evaluation.conversation`)
    train: Dataset  # same movies table; only the training ratings (and their users)
    users: tuple[EvalUser, ...]  # evaluated users (those with at least one relevant movie)
    relevant: tuple[np.ndarray, ...]  # dense catalogue indices, per user
    exclude: tuple[np.ndarray, ...]  # dense catalogue indices never ranked, per user
    # user_id, movie_id, rating, timestamp: every test rating (RMSE; protocol F's order)
    test_ratings: pd.DataFrame
    skipped_users: int  # test users without any relevant movie

    @property
    def catalogue(self) -> np.ndarray:
        ids: np.ndarray = self.train.movies["movie_id"].to_numpy(dtype=np.int64)
        return ids


def _dense_movie_index(movies: pd.DataFrame, movie_ids: np.ndarray) -> np.ndarray:
    idx: np.ndarray = pd.Index(movies["movie_id"].to_numpy(dtype=np.int64)).get_indexer(movie_ids)
    if (idx < 0).any():
        missing = np.unique(np.asarray(movie_ids)[idx < 0])[:5].tolist()
        raise ValueError(f"ratings refer to movies missing from the movies table: {missing}")
    return idx


def _check(dataset: Dataset) -> None:
    if len(dataset.ratings) == 0:
        raise ValueError(f"dataset {dataset.name!r} has no ratings to evaluate on")
    if len(dataset.movies) == 0:
        raise ValueError(f"dataset {dataset.name!r} has an empty movies table")


def _demographics(dataset: Dataset, user_ids: np.ndarray) -> list[Demographics]:
    if not dataset.has_demographics:
        return [{"gender": None, "age": None, "occupation": None} for _ in user_ids]
    u = dataset.users.set_index("user_id").reindex(user_ids)
    out: list[Demographics] = []
    for gender, age, occ in zip(u["gender"], u["age"], u["occupation"], strict=True):
        out.append(
            {
                "gender": None if pd.isna(gender) else str(gender),
                "age": None if pd.isna(age) else int(age),
                "occupation": None if pd.isna(occ) else str(occ),
            }
        )
    return out


def warm_split(dataset: Dataset, test_share: float = TEST_SHARE) -> EvalSplit:
    """Protocol W: the last `test_share` of each user's ratings by time are test."""
    _check(dataset)
    r = dataset.ratings.sort_values(["user_id", "timestamp", "movie_id"], kind="stable")
    r = r.reset_index(drop=True)
    grouped = r.groupby("user_id", sort=False)
    n = grouped["movie_id"].transform("size").to_numpy()
    pos = grouped.cumcount().to_numpy()
    n_test = np.maximum(1, np.round(test_share * n)).astype(np.int64)
    is_test = pos >= n - n_test
    train_r = r[~is_test].reset_index(drop=True)
    test_r = r[is_test].reset_index(drop=True)
    train = replace(dataset, ratings=train_r)

    movies = dataset.movies
    genre_m = genre_matrix(movies["genres"])
    share = catalogue_genre_share(genre_m)
    train_idx = _dense_movie_index(movies, train_r["movie_id"].to_numpy(dtype=np.int64))
    train_groups = _group_indices(train_r["user_id"].to_numpy(), train_idx)
    liked_mask = train_r["rating"].to_numpy() >= like_threshold(dataset.rating_scale)
    liked_groups = _group_indices(train_r["user_id"].to_numpy()[liked_mask], train_idx[liked_mask])
    test_idx = _dense_movie_index(movies, test_r["movie_id"].to_numpy(dtype=np.int64))
    rel_mask = test_r["rating"].to_numpy() >= like_threshold(dataset.rating_scale)
    rel_groups = _group_indices(test_r["user_id"].to_numpy()[rel_mask], test_idx[rel_mask])

    empty = np.zeros(0, dtype=np.int64)
    user_ids = np.array(sorted(rel_groups), dtype=np.int64)
    # A user with one rating has it as test and nothing to train on: not a warm user.
    user_ids = user_ids[[u in train_groups for u in user_ids]]
    demo = _demographics(dataset, user_ids)
    users, relevant, exclude = [], [], []
    for uid, d in zip(user_ids.tolist(), demo, strict=True):
        liked = liked_groups.get(uid, empty)
        stated = stated_genres(genre_m, liked, GENRES, N_STATED_GENRES, catalogue_share=share)
        users.append(EvalUser(user_id=uid, known=True, stated_genres=stated, **d))
        relevant.append(np.unique(rel_groups[uid]))
        exclude.append(np.unique(train_groups[uid]))
    n_test_users = test_r["user_id"].nunique()
    return EvalSplit(
        protocol="W",
        train=train,
        users=tuple(users),
        relevant=tuple(relevant),
        exclude=tuple(exclude),
        test_ratings=test_r[["user_id", "movie_id", "rating", "timestamp"]],
        skipped_users=int(n_test_users - len(users)),
    )


def cold_split(dataset: Dataset, seed: int = 0, user_share: float = COLD_USER_SHARE) -> EvalSplit:
    """Protocol C: a seeded `user_share` of users is held out entirely."""
    _check(dataset)
    all_users = np.unique(dataset.ratings["user_id"].to_numpy(dtype=np.int64))
    n_hold = int(round(user_share * len(all_users)))
    if n_hold < 1 or n_hold >= len(all_users):
        raise ValueError(
            f"dataset {dataset.name!r} has {len(all_users)} users with ratings; protocol C "
            f"needs enough to hold out {user_share:.0%} and still train (at least 3)"
        )
    rng = np.random.default_rng(seed)
    held = np.sort(rng.choice(all_users, size=n_hold, replace=False))
    r = dataset.ratings
    is_held = r["user_id"].isin(held).to_numpy()
    train = replace(
        dataset,
        ratings=r[~is_held].reset_index(drop=True),
        users=dataset.users[~dataset.users["user_id"].isin(held)].reset_index(drop=True),
    )
    test_r = r[is_held].sort_values(["user_id", "timestamp", "movie_id"], kind="stable")
    test_r = test_r.reset_index(drop=True)

    movies = dataset.movies
    genre_m = genre_matrix(movies["genres"])
    share = catalogue_genre_share(genre_m)
    test_idx = _dense_movie_index(movies, test_r["movie_id"].to_numpy(dtype=np.int64))
    liked_mask = test_r["rating"].to_numpy() >= like_threshold(dataset.rating_scale)
    liked_groups = _group_indices(test_r["user_id"].to_numpy()[liked_mask], test_idx[liked_mask])

    user_ids = np.array(sorted(liked_groups), dtype=np.int64)
    demo = _demographics(dataset, user_ids)
    users, relevant = [], []
    for uid, d in zip(user_ids.tolist(), demo, strict=True):
        liked = np.unique(liked_groups[uid])
        stated = stated_genres(genre_m, liked, GENRES, N_STATED_GENRES, catalogue_share=share)
        users.append(EvalUser(user_id=uid, known=False, stated_genres=stated, **d))
        relevant.append(liked)
    empty = np.zeros(0, dtype=np.int64)
    return EvalSplit(
        protocol="C",
        train=train,
        users=tuple(users),
        relevant=tuple(relevant),
        exclude=tuple(empty for _ in users),
        test_ratings=test_r[["user_id", "movie_id", "rating", "timestamp"]],
        skipped_users=int(n_hold - len(users)),
    )


def make_split(dataset: Dataset, protocol: str, seed: int = 0) -> EvalSplit:
    if protocol == "W":
        return warm_split(dataset)
    if protocol == "C":
        return cold_split(dataset, seed=seed)
    raise ValueError(f"unknown protocol {protocol!r}; use W (warm users) or C (cold-start users)")


def _group_indices(user_ids: np.ndarray, movie_idx: np.ndarray) -> dict[int, np.ndarray]:
    """user id -> dense movie indices, in input order."""
    if len(user_ids) == 0:
        return {}
    order = np.argsort(user_ids, kind="stable")
    u, m = user_ids[order], movie_idx[order]
    starts = np.flatnonzero(np.r_[True, u[1:] != u[:-1]])
    ends = np.r_[starts[1:], len(u)]
    return {int(u[s]): m[s:e].astype(np.int64) for s, e in zip(starts, ends, strict=True)}
