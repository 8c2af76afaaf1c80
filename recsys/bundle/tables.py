"""The bundle's readable tables: the catalogue (`movies.csv`) and the known users (`users.csv`)."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import TypeVar

import numpy as np
import pandas as pd

from recsys.bundle.manifest import BundleError
from recsys.data.dataset import Dataset
from recsys.data.vocab import AGE_BUCKETS
from recsys.features.space import AGE_CODES, GENDERS
from recsys.model.query_model import QueryModel

T = TypeVar("T")
# External ids kept per movie where the dataset has them (the CSV family's links.csv).
LINK_COLUMNS = ("imdb_id", "tmdb_id")


def labels(codes: np.ndarray, vocab: Sequence[T]) -> list[T | None]:
    """Feature codes back to their names (0 = unknown)."""
    return [vocab[int(c) - 1] if c > 0 else None for c in codes]


def movies_table(model: QueryModel, dataset: Dataset) -> pd.DataFrame:
    fs = model.features
    movies = dataset.movies.set_index("movie_id").reindex(fs.movie_ids)
    if movies["title"].isna().any():
        missing = fs.movie_ids[movies["title"].isna().to_numpy()][:5].tolist()
        raise BundleError(
            f"the model knows movie ids the dataset lacks (e.g. {missing}); "
            "the model was trained on another dataset"
        )
    ratings = dataset.ratings
    counts = ratings.groupby("movie_id")["rating"].agg(["size", "mean"]).reindex(fs.movie_ids)
    links = pd.DataFrame(index=pd.Index(fs.movie_ids), columns=list(LINK_COLUMNS), dtype="Int64")
    if dataset.links is not None:
        links = dataset.links.set_index("movie_id").reindex(fs.movie_ids)
    return pd.DataFrame(
        {
            "movie_id": fs.movie_ids,
            "title": movies["title"].to_numpy(dtype=object),
            "year": movies["year"].astype("Int64").to_numpy(),
            "genres": ["|".join(g) for g in movies["genres"]],
            "n_ratings": counts["size"].fillna(0).astype(np.int64).to_numpy(),
            "mean_rating": counts["mean"].round(4).to_numpy(),
            **{c: links[c].astype("Int64").to_numpy() for c in LINK_COLUMNS},
        }
    )


def users_table(model: QueryModel) -> pd.DataFrame:
    """Readable profile of each known user, precomputed so loading stays fast."""
    fs = model.features
    counts = np.diff(fs.user_indptr)
    favourites = ["|".join(fs.stated_genres_of(*fs.history(u))) for u in range(fs.n_users)]
    ages = [AGE_BUCKETS[a] if a else None for a in labels(fs.user_age, AGE_CODES)]
    return pd.DataFrame(
        {
            "user_id": fs.user_ids,
            "gender": labels(fs.user_gender, GENDERS),
            "age": ages,
            "occupation": labels(fs.user_occupation, fs.occupations),
            "n_ratings": counts.astype(np.int64),
            "favourite_genres": favourites,
        }
    )


def read_movies(p: Path) -> pd.DataFrame:
    ints = {"movie_id": "int64", "year": "Int64", **{c: "Int64" for c in LINK_COLUMNS}}
    movies = pd.read_csv(
        p,
        dtype={**ints, "title": "str", "genres": "str"},
        keep_default_na=False,
        na_values={"year": [""], "mean_rating": [""], **{c: [""] for c in LINK_COLUMNS}},
    )
    for c in LINK_COLUMNS:
        if c not in movies:  # a bundle written before the links were kept
            movies[c] = pd.array([pd.NA] * len(movies), dtype="Int64")
    movies["genres"] = [tuple(g.split("|")) if g else () for g in movies["genres"]]
    return movies


def read_users(p: Path) -> pd.DataFrame:
    users = pd.read_csv(
        p,
        dtype={"user_id": "int64", "gender": "str", "age": "str", "occupation": "str"},
        keep_default_na=False,
    )
    for col in ("gender", "age", "occupation"):
        users[col] = [v if v else None for v in users[col]]
    users["favourite_genres"] = [
        tuple(g.split("|")) if g else () for g in users["favourite_genres"].astype(str)
    ]
    return users
