"""The CSV family (ml-latest-small, ml-latest, ML-20M/25M/32M): `ratings.csv` and
`movies.csv`, UTF-8, no demographics."""

from __future__ import annotations

from pathlib import Path

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
    )
