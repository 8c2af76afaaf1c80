"""Tower inputs: the movie feature arrays and the user query type.

`FeatureSpace` holds everything the towers read, fitted once on the training
ratings: movie genres, year and popularity buckets, user demographics, and
every known user's history (time-ordered, CSR layout). `UserQuery` is the
one user-tower input; a known user and a stated preference set both become
one, so the tools and the training loop share a single code path.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from recsys.data import Dataset
from recsys.taste import catalogue_genre_share, stated_genres
from recsys.vocab import AGE_BUCKETS, GENRES

GENDERS: tuple[str, ...] = ("F", "M")
AGE_CODES: tuple[int, ...] = tuple(AGE_BUCKETS)
# A "like" is a rating at or above three quarters of the scale: 4+ on 1-5 and on 0.5-5.0,
# the relevance threshold of the evaluation protocols.
LIKE_THRESHOLD_SHARE = 0.75
N_STATED_GENRES = 3
YEAR_FIRST, YEAR_STEP, YEAR_BUCKETS = 1920, 5, 22  # 0 = unknown, 1 = before 1925, ...
POP_BUCKETS = 18  # log2 buckets of the training rating count; 0 = never rated


@dataclass(frozen=True)
class UserQuery:
    """One user-tower input."""

    user_index: int | None = None
    gender: str | None = None
    age: int | None = None  # ML-1M age code
    occupation: str | None = None
    stated_genres: tuple[str, ...] = ()
    history: tuple[int, ...] = ()  # dense movie indices
    history_ratings: tuple[float, ...] = ()  # empty = every history item counts as liked


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
    _movie_pos: dict[int, int] = field(default=None, repr=False, compare=False)  # type: ignore[assignment]
    _user_pos: dict[int, int] = field(default=None, repr=False, compare=False)  # type: ignore[assignment]
    _genre_share: np.ndarray = field(default=None, repr=False, compare=False)  # type: ignore[assignment]

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

    def demographics(self, user_index: int) -> dict[str, object]:
        """A known user's gender, age code and occupation (None where unknown)."""
        return {
            "gender": _label(GENDERS, self.user_gender[user_index]),
            "age": _label(AGE_CODES, self.user_age[user_index]),
            "occupation": _label(self.occupations, self.user_occupation[user_index]),
        }

    def known_user_query(self, user_index: int) -> UserQuery:
        items, ratings = self.history(user_index)
        return UserQuery(
            user_index=user_index,
            **self.demographics(user_index),
            stated_genres=self.stated_genres_of(items, ratings),
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


def like_threshold(rating_scale: tuple[float, float]) -> float:
    low, high = rating_scale
    return low + LIKE_THRESHOLD_SHARE * (high - low) - 1e-6 if high > low else high


def _label(vocab: Sequence, code: int):
    return vocab[int(code) - 1] if code > 0 else None


def _code(vocab: Sequence, value) -> int:
    if value is None or (isinstance(value, float) and np.isnan(value)) or value is pd.NA:
        return 0
    try:
        return list(vocab).index(value) + 1
    except ValueError:
        return 0


def year_bucket(year) -> int:
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
    g_pos = {g: j for j, g in enumerate(genres)}
    movie_genres = np.zeros((len(movie_ids), len(genres)), dtype=np.float32)
    for i, gs in enumerate(movies["genres"]):
        for g in gs:
            movie_genres[i, g_pos[g]] = 1.0
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
    gender = np.array([_code(GENDERS, g) for g in u["gender"].to_numpy(dtype=object)])
    age = np.array([_code(AGE_CODES, a if pd.isna(a) else int(a)) for a in u["age"]])
    occ = np.array([_code(occupations, o) for o in u["occupation"].to_numpy(dtype=object)])
    return FeatureSpace(
        movie_ids=movie_ids,
        user_ids=user_ids,
        genres=genres,
        occupations=occupations,
        has_demographics=dataset.has_demographics,
        rating_scale=tuple(float(x) for x in dataset.rating_scale),
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


@dataclass(frozen=True)
class QueryBatch:
    """Padded numpy arrays for a batch of queries; `model.UserTower` reads these."""

    user_index: np.ndarray  # int64 (b,), -1 = none
    gender: np.ndarray  # int64 (b,)
    age: np.ndarray
    occupation: np.ndarray
    stated: np.ndarray  # float32 (b, n_genres), multi-hot
    taste: np.ndarray  # float32 (b, n_genres): genre profile of the liked history
    hist_items: np.ndarray  # int64 (total,), flat
    hist_offsets: np.ndarray  # int64 (b,)
    hist_weights: np.ndarray  # float32 (total,)
    # bool (b,): the history is a known user's, in time order (stated liked
    # movies carry no time)
    hist_timed: np.ndarray


def rating_weight(ratings: np.ndarray, like_threshold: float) -> np.ndarray:
    """History weight by rating: liked movies count fully, disliked ones a little."""
    return np.where(ratings >= like_threshold, 1.0, 0.35).astype(np.float32)


def encode_queries(fs: FeatureSpace, queries: Sequence[UserQuery]) -> QueryBatch:
    """Turn queries into tower input arrays (the single path for tools and evaluation)."""
    n_g = len(fs.genres)
    g_pos = {g: j for j, g in enumerate(fs.genres)}
    b = len(queries)
    stated = np.zeros((b, n_g), dtype=np.float32)
    taste = np.zeros((b, n_g), dtype=np.float32)
    items_l: list[np.ndarray] = []
    weights_l: list[np.ndarray] = []
    offsets = np.zeros(b, dtype=np.int64)
    pos = 0
    for r, q in enumerate(queries):
        for g in q.stated_genres:
            stated[r, g_pos[g]] = 1.0
        items = np.asarray(q.history, dtype=np.int64)
        if q.history_ratings:
            w = rating_weight(np.asarray(q.history_ratings, dtype=np.float32), fs.like_threshold)
        else:
            w = np.ones(len(items), dtype=np.float32)
        offsets[r] = pos
        pos += len(items)
        items_l.append(items)
        weights_l.append(w)
        taste[r] = taste_profile(fs, items, w)
    demo = fs.has_demographics
    return QueryBatch(
        user_index=np.array(
            [-1 if q.user_index is None else q.user_index for q in queries], dtype=np.int64
        ),
        gender=np.array([_code(GENDERS, q.gender) if demo else 0 for q in queries], np.int64),
        age=np.array([_code(AGE_CODES, q.age) if demo else 0 for q in queries], np.int64),
        occupation=np.array(
            [_code(fs.occupations, q.occupation) if demo else 0 for q in queries], np.int64
        ),
        stated=stated,
        taste=taste,
        hist_items=np.concatenate(items_l) if items_l else np.zeros(0, np.int64),
        hist_offsets=offsets,
        hist_weights=np.concatenate(weights_l) if weights_l else np.zeros(0, np.float32),
        hist_timed=np.array([bool(q.history_ratings) for q in queries], dtype=bool),
    )


def taste_profile(fs: FeatureSpace, items: np.ndarray, weights: np.ndarray) -> np.ndarray:
    """Weighted genre distribution of a history, relative to the catalogue."""
    if len(items) == 0:
        return np.zeros(len(fs.genres), dtype=np.float32)
    prof = (fs.movie_genres[items] * weights[:, None]).sum(0)
    total = prof.sum()
    return (prof / total).astype(np.float32) if total > 0 else prof.astype(np.float32)
