"""ML-100K: `u.data` (tabs), `u.item` and `u.user` ('|'), latin-1; ages in years."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import numpy as np
import pandas as pd

from recsys.data import vocab
from recsys.data.parsing import (
    Field,
    FileSpec,
    Tables,
    date_years,
    in_set,
    movies_frame,
    rating_field,
    ratings_frame,
    read_bytes,
    read_table,
    title_file_encoding,
    title_years,
    users_frame,
)

# ML-100K genre flag order (the order of u.genre), as printed in the file.
ML100K_GENRE_ORDER: tuple[str, ...] = (
    "unknown",
    "Action",
    "Adventure",
    "Animation",
    "Children's",
    "Comedy",
    "Crime",
    "Documentary",
    "Drama",
    "Fantasy",
    "Film-Noir",
    "Horror",
    "Musical",
    "Mystery",
    "Romance",
    "Sci-Fi",
    "Thriller",
    "War",
    "Western",
)


ML100K_RATINGS = FileSpec(
    "u.data",
    "\t",
    "tabs",
    (
        Field("user_id", "id"),
        Field("movie_id", "id"),
        rating_field(1, 5, 1),
        Field("timestamp", "int"),
    ),
    "latin-1",
    "196<TAB>242<TAB>3<TAB>881250949",
)
ML100K_USERS = FileSpec(
    "u.user",
    "|",
    "'|'",
    (
        Field("user_id", "id"),
        Field("age", "int", lambda v: (v < 0) | (v > 130), "is not an age in years"),
        Field("gender", "text", in_set({"M", "F"}), "is not M or F"),
        Field("occupation", "text"),
        Field("zip", "text", required=False),
    ),
    "latin-1",
    "1|24|M|technician|85711",
)
_FLAG = in_set({0, 1})
ML100K_MOVIES = FileSpec(
    "u.item",
    "|",
    "'|'",
    (
        Field("movie_id", "id"),
        Field("title", "text"),
        Field("release_date", "text", required=False),
        Field("video_release_date", "text", required=False),
        Field("url", "text", required=False),
        *(Field(f"genre_{i}", "int", _FLAG, "is not a 0/1 genre flag") for i in range(19)),
    ),
    "latin-1",
    "1|Toy Story (1995)|01-Jan-1995||http://...|0|0|0|1|1|1|0|...(19 genre flags)",
)


def _flag_genres(flags: np.ndarray) -> pd.Series:
    names = [vocab.canonical_genre(g) for g in ML100K_GENRE_ORDER]  # "unknown" -> None
    weights = 1 << np.arange(flags.shape[1], dtype=np.int64)
    masks = flags.astype(np.int64) @ weights
    cache: dict[int, tuple[str, ...]] = {}
    for mask in np.unique(masks):
        found = {n for i, n in enumerate(names) if n is not None and (int(mask) >> i) & 1}
        cache[int(mask)] = tuple(g for g in vocab.GENRES if g in found)
    return pd.Series([cache[int(m)] for m in masks], dtype=object)


def read(root: Path, strict: bool) -> Tables:
    fmt = "ML-100K"
    movies_path, users_path, ratings_path = (root / n for n in ("u.item", "u.user", "u.data"))
    raw_movies = read_bytes(movies_path)
    movies_spec = replace(ML100K_MOVIES, encoding=title_file_encoding(raw_movies, movies_path))
    m = read_table(raw_movies, movies_spec, movies_path, fmt)
    years = title_years(m["title"]).fillna(date_years(m["release_date"]))
    flags = m[[f"genre_{i}" for i in range(19)]].to_numpy()
    movies = movies_frame(m["movie_id"], m["title"], years, _flag_genres(flags))
    u = read_table(read_bytes(users_path), ML100K_USERS, users_path, fmt)
    codes = {int(a): vocab.age_bucket(int(a)) for a in u["age"].unique()}
    users = users_frame(u["user_id"], u["gender"], u["age"].map(codes), u["occupation"])
    r = read_table(read_bytes(ratings_path), ML100K_RATINGS, ratings_path, fmt)
    return Tables(
        movies,
        users,
        ratings_frame(r),
        (1.0, 5.0),
        True,
        {"movies": movies_path, "users": users_path, "ratings": ratings_path},
    )
