"""The CSV family (ml-latest-small, ml-latest, ML-20M/25M/32M): `ratings.csv` and
`movies.csv`, UTF-8, no demographics; `links.csv` (IMDb and TMDB ids) when present."""

from __future__ import annotations

import warnings
from pathlib import Path

import pandas as pd

from recsys.data.errors import DataError, DataWarning
from recsys.data.parsing import (
    Field,
    FileSpec,
    Tables,
    decode_strict,
    genre_tuples,
    movies_frame,
    rating_field,
    ratings_frame,
    read_bytes,
    read_head,
    read_table,
    title_years,
)

CSV_RATINGS = FileSpec(
    "ratings.csv",
    ",",
    "','",
    (
        Field("user_id", "id"),
        Field("movie_id", "id"),
        rating_field(0.5, 5.0, 0.5),
        Field("timestamp", "int"),
    ),
    "utf-8",
    "1,1,4.0,964982703",
    header=("userId", "movieId", "rating", "timestamp"),
    quoted=True,
)
CSV_MOVIES = FileSpec(
    "movies.csv",
    ",",
    "','",
    # Genres are always present in this format: "(no genres listed)" marks none.
    (Field("movie_id", "id"), Field("title", "text"), Field("genres", "text")),
    "utf-8",
    '11,"American President, The (1995)",Comedy|Drama|Romance',
    header=("movieId", "title", "genres"),
    quoted=True,
)


CSV_LINKS = FileSpec(
    "links.csv",
    ",",
    "','",
    (
        Field("movie_id", "id"),
        Field("imdb_id", "int", required=False),
        Field("tmdb_id", "int", required=False),
    ),
    "utf-8",
    "1,0114709,862",
    header=("movieId", "imdbId", "tmdbId"),
    quoted=True,
)


def read_links(path: Path, strict: bool) -> pd.DataFrame | None:
    """movie_id, imdb_id, tmdb_id (nullable): only links, so a broken file is left out with a
    warning unless `strict`."""
    if not path.is_file():
        return None
    try:
        frame = read_table(path, CSV_LINKS, path, "MovieLens CSV")
    except DataError as exc:
        if strict:
            raise
        warnings.warn(f"{exc} The links were left out.", DataWarning, stacklevel=3)
        return None
    return pd.DataFrame(
        {
            "movie_id": frame["movie_id"].astype("int64"),
            "imdb_id": frame["imdb_id"].astype("Int64"),
            "tmdb_id": frame["tmdb_id"].astype("Int64"),
        }
    ).drop_duplicates("movie_id", keep="last")


def read(root: Path, strict: bool) -> Tables:
    fmt = "MovieLens CSV"
    movies_path, ratings_path = root / "movies.csv", root / "ratings.csv"
    raw_movies = read_bytes(movies_path)
    decode_strict(raw_movies, movies_path, "utf-8")
    if raw_movies.startswith(b"\xef\xbb\xbf"):
        raw_movies = raw_movies[3:]
    m = read_table(raw_movies, CSV_MOVIES, movies_path, fmt)
    movies = movies_frame(
        m["movie_id"],
        m["title"],
        title_years(m["title"]),
        genre_tuples(m["genres"], movies_path, strict),
    )
    read_head(ratings_path)  # empty-file check before pandas sees it
    ratings = ratings_frame(read_table(ratings_path, CSV_RATINGS, ratings_path, fmt))
    return Tables(
        movies,
        None,
        ratings,
        (0.5, 5.0),
        False,
        {"movies": movies_path, "ratings": ratings_path},
        links=read_links(root / "links.csv", strict),
    )
