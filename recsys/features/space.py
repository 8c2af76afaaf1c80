"""The feature arrays the towers read, fitted once on the training ratings.

`FeatureSpace` holds movie genres, year and popularity buckets, user
demographics, and every known user's history (time-ordered, CSR layout).
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TypeVar

import numpy as np
import pandas as pd
from pandas.api.typing import NAType

from recsys.data.dataset import Dataset
from recsys.data.vocab import AGE_BUCKETS, GENRES
from recsys.features.queries import Demographics, UserQuery
from recsys.features.taste import (
    N_STATED_GENRES,
    catalogue_genre_share,
    genre_matrix,
    like_threshold,
    stated_genres,
)

GENDERS: tuple[str, ...] = ("F", "M")
AGE_CODES: tuple[int, ...] = tuple(AGE_BUCKETS)
YEAR_FIRST, YEAR_STEP, YEAR_BUCKETS = 1920, 5, 22  # 0 = unknown, 1 = before 1925, ...
POP_BUCKETS = 18  # log2 buckets of the training rating count; 0 = never rated


@dataclass(frozen=True)
class FeatureSpace:
    movie_ids: np.ndarray  # int64 (n_movies,)
    user_ids: np.ndarray  # int64 (n_users,)
    genres: tuple[str, ...]
    occupations: tuple[str, ...]
    has_demographics: bool
    rating_scale: tuple[float, float]
    movie_genres: np.ndarray  # float32 (n_movies, n_genres)
    movie_year_bucket: np.ndarray  # int64 (n_movies,)
    movie_pop_bucket: np.ndarray  # int64 (n_movies,)
    movie_counts: np.ndarray  # int64 (n_movies,)
    movie_mean_rating: np.ndarray  # float32, NaN where unrated
    user_gender: np.ndarray  # int64 (n_users,), 0 = unknown, 1.. = GENDERS
    user_age: np.ndarray  # int64, 0 = unknown, 1.. = AGE_CODES
    user_occupation: np.ndarray  # int64, 0 = unknown, 1.. = occupations
    user_indptr: np.ndarray  # int64 (n_users + 1,): CSR over the two arrays below
    user_items: np.ndarray  # int64, dense movie indices, time-ordered within a user
    user_ratings: np.ndarray  # float32
    # Lookups derived from the arrays above, set once by __post_init__.
    _movie_pos: dict[int, int] = field(init=False, repr=False, compare=False)
    _user_pos: dict[int, int] = field(init=False, repr=False, compare=False)
    _genre_share: np.ndarray = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "_movie_pos", {int(m): i for i, m in enumerate(self.movie_ids)})
        object.__setattr__(self, "_user_pos", {int(u): i for i, u in enumerate(self.user_ids)})
        object.__setattr__(self, "_genre_share", catalogue_genre_share(self.movie_genres))

    @property
    def n_movies(self) -> int:
        return len(self.movie_ids)

    @property
    def n_users(self) -> int:
        return len(self.user_ids)

    @property
    def like_threshold(self) -> float:
        return like_threshold(self.rating_scale)

    def movie_index(self, movie_id: int) -> int | None:
        return self._movie_pos.get(int(movie_id))

    def user_index(self, user_id: int) -> int | None:
        return self._user_pos.get(int(user_id))

    def history(self, user_index: int) -> tuple[np.ndarray, np.ndarray]:
        lo, hi = self.user_indptr[user_index], self.user_indptr[user_index + 1]
        return self.user_items[lo:hi], self.user_ratings[lo:hi]

    def stated_genres_of(self, items: np.ndarray, ratings: np.ndarray) -> tuple[str, ...]:
        """The genres a user would state: most over-represented among their likes."""
        liked = items[ratings >= self.like_threshold]
        if len(liked) == 0:
            liked = items
        return self.stated_genres(liked)

    def stated_genres(self, liked: np.ndarray) -> tuple[str, ...]:
        return stated_genres(
            self.movie_genres,
            liked,
            self.genres,
            n=N_STATED_GENRES,
            catalogue_share=self._genre_share,
        )

    def demographics(self, user_index: int) -> Demographics:
        """A known user's gender, age code and occupation (None where unknown)."""
        return {
            "gender": _label(GENDERS, self.user_gender[user_index]),
            "age": _label(AGE_CODES, self.user_age[user_index]),
            "occupation": _label(self.occupations, self.user_occupation[user_index]),
        }

    def known_user_query(self, user_index: int) -> UserQuery:
        items, ratings = self.history(user_index)
        return self.history_query(items, ratings, self.demographics(user_index))

    def history_query(
        self,
        items: np.ndarray,
        ratings: np.ndarray,
        demographics: Demographics | None = None,
        extra_genres: Sequence[str] = (),
    ) -> UserQuery:
        """The query of anyone known by rated movies (dense indices, oldest first): a dataset
        user, or a person's stored profile. `extra_genres` are stated genres added in front."""
        derived = self.stated_genres_of(items, ratings)
        return UserQuery(
            **(demographics or {"gender": None, "age": None, "occupation": None}),
            stated_genres=tuple(dict.fromkeys([*extra_genres, *derived])),
            history=tuple(int(i) for i in items),
            history_ratings=tuple(float(r) for r in ratings),
        )

    # --- persistence: arrays in one .npz, vocabularies in JSON; no pickles ---

    def save(self, directory: Path) -> list[str]:
        arrays = {
            name: getattr(self, name)
            for name in (
                "movie_ids",
                "user_ids",
                "movie_genres",
                "movie_year_bucket",
                "movie_pop_bucket",
                "movie_counts",
                "movie_mean_rating",
                "user_gender",
                "user_age",
                "user_occupation",
                "user_indptr",
                "user_items",
                "user_ratings",
            )
        }
        np.savez_compressed(directory / "features.npz", **arrays)
        meta = {
            "genres": list(self.genres),
            "occupations": list(self.occupations),
            "has_demographics": self.has_demographics,
            "rating_scale": list(self.rating_scale),
        }
        (directory / "features.json").write_text(json.dumps(meta, indent=2), encoding="utf-8")
        return ["features.npz", "features.json"]

    @classmethod
    def load(cls, directory: Path) -> FeatureSpace:
        meta = json.loads((directory / "features.json").read_text(encoding="utf-8"))
        with np.load(directory / "features.npz", allow_pickle=False) as npz:
            arrays = {name: npz[name] for name in npz.files}
        return cls(
            genres=tuple(meta["genres"]),
            occupations=tuple(meta["occupations"]),
            has_demographics=bool(meta["has_demographics"]),
            rating_scale=(float(meta["rating_scale"][0]), float(meta["rating_scale"][1])),
            **arrays,
        )


V = TypeVar("V", str, int)  # a vocabulary's entries: genders and occupations, or age codes


def _label(vocab: Sequence[V], code: int) -> V | None:
    return vocab[int(code) - 1] if code > 0 else None


def code(vocab: Sequence[V], value: object) -> int:
    """1 + value's position in vocab; 0 for None, NaN, pd.NA or a value not in it."""
    if value is None or (isinstance(value, float) and np.isnan(value)) or value is pd.NA:
        return 0
    entries: list[object] = list(vocab)  # any value may be asked, found or not
    try:
        return entries.index(value) + 1
    except ValueError:
        return 0


def year_bucket(year: int | NAType | None) -> int:
    if year is None or pd.isna(year):
        return 0
    return int(np.clip((int(year) - YEAR_FIRST) // YEAR_STEP + 1, 1, YEAR_BUCKETS - 1))


def pop_bucket(counts: np.ndarray) -> np.ndarray:
    return np.where(
        counts > 0, np.minimum(np.floor(np.log2(np.maximum(counts, 1))) + 1, POP_BUCKETS - 1), 0
    ).astype(np.int64)


def _pop_buckets_for_catalogue(counts: np.ndarray) -> np.ndarray:
    """Popularity buckets, with never-rated movies placed at the median rated bucket.

    A new movie's popularity is unknown, not zero: embedding it as a typical
    movie of its genres and year keeps it near those movies (similar_movies)
    instead of beside the least-watched ones.
    """
    buckets = pop_bucket(counts)
    rated = buckets[counts > 0]
    if len(rated):
        buckets[counts == 0] = int(np.median(rated))
    return buckets


def build_feature_space(dataset: Dataset) -> FeatureSpace:
    """Fit the feature arrays on `dataset`'s ratings (the training data)."""
    movies = dataset.movies
    movie_ids = movies["movie_id"].to_numpy(dtype=np.int64)
    movie_pos = pd.Index(movie_ids)
    genres = GENRES
    movie_genres = genre_matrix(movies["genres"], genres)
    years = movies["year"].to_numpy(dtype=object)
    movie_year_bucket = np.array([year_bucket(y) for y in years], dtype=np.int64)

    ratings = dataset.ratings.sort_values(["user_id", "timestamp", "movie_id"], kind="stable")
    users = dataset.users
    user_ids = np.union1d(
        users["user_id"].to_numpy(dtype=np.int64), ratings["user_id"].to_numpy(dtype=np.int64)
    )
    item_idx = movie_pos.get_indexer(ratings["movie_id"].to_numpy(dtype=np.int64))
    keep = item_idx >= 0
    ratings, item_idx = ratings[keep], item_idx[keep]
    user_idx = pd.Index(user_ids).get_indexer(ratings["user_id"].to_numpy(dtype=np.int64))
    counts_per_user = np.bincount(user_idx, minlength=len(user_ids))
    indptr = np.concatenate([[0], np.cumsum(counts_per_user)]).astype(np.int64)
    rating_values = ratings["rating"].to_numpy(dtype=np.float32)

    counts = np.bincount(item_idx, minlength=len(movie_ids)).astype(np.int64)
    sums = np.bincount(item_idx, weights=rating_values, minlength=len(movie_ids))
    with np.errstate(invalid="ignore", divide="ignore"):
        mean_rating = np.where(counts > 0, sums / np.maximum(counts, 1), np.nan).astype(np.float32)

    occupations: tuple[str, ...] = ()
    u = users.set_index("user_id").reindex(user_ids)
    if dataset.has_demographics:
        occupations = tuple(sorted({str(o) for o in u["occupation"].dropna()}))
    gender = np.array([code(GENDERS, g) for g in u["gender"].to_numpy(dtype=object)])
    age = np.array([code(AGE_CODES, a if pd.isna(a) else int(a)) for a in u["age"]])
    occ = np.array([code(occupations, o) for o in u["occupation"].to_numpy(dtype=object)])
    return FeatureSpace(
        movie_ids=movie_ids,
        user_ids=user_ids,
        genres=genres,
        occupations=occupations,
        has_demographics=dataset.has_demographics,
        rating_scale=(float(dataset.rating_scale[0]), float(dataset.rating_scale[1])),
        movie_genres=movie_genres,
        movie_year_bucket=movie_year_bucket,
        movie_pop_bucket=_pop_buckets_for_catalogue(counts),
        movie_counts=counts,
        movie_mean_rating=mean_rating,
        user_gender=gender.astype(np.int64),
        user_age=age.astype(np.int64),
        user_occupation=occ.astype(np.int64),
        user_indptr=indptr,
        user_items=item_idx.astype(np.int64),
        user_ratings=rating_values,
    )
