"""ML-1M: `ratings.dat`, `users.dat` and `movies.dat`, '::'-separated, latin-1."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

from recsys.data import vocab
from recsys.data.parsing import (
    Field,
    FileSpec,
    Tables,
    genre_tuples,
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

ML1M_RATINGS = FileSpec(
    "ratings.dat",
    "::",
    "'::'",
    (
        Field("user_id", "id"),
        Field("movie_id", "id"),
        rating_field(1, 5, 1),
        Field("timestamp", "int"),
    ),
    "latin-1",
    "1::1193::5::978300760",
)
ML1M_USERS = FileSpec(
    "users.dat",
    "::",
    "'::'",
    (
        Field("user_id", "id"),
        Field("gender", "text", in_set({"M", "F"}), "is not M or F"),
        Field(
            "age",
            "int",
            in_set(set(vocab.AGE_BUCKETS)),
            f"is not an ML-1M age code ({', '.join(map(str, vocab.AGE_BUCKETS))})",
        ),
        Field(
            "occupation",
            "int",
            in_set(set(vocab.ML1M_OCCUPATIONS)),
            "is not an ML-1M occupation code (0-20)",
        ),
        Field("zip", "text", required=False),
    ),
    "latin-1",
    "1::F::1::10::48067",
)
ML1M_MOVIES = FileSpec(
    "movies.dat",
    "::",
    "'::'",
    (Field("movie_id", "id"), Field("title", "text"), Field("genres", "text", required=False)),
    "latin-1",
    "1::Toy Story (1995)::Animation|Children's|Comedy",
)


def read(root: Path, strict: bool) -> Tables:
    fmt = "ML-1M"
    movies_path, users_path, ratings_path = (
        root / n for n in ("movies.dat", "users.dat", "ratings.dat")
    )
    raw_movies = read_bytes(movies_path)
    movies_spec = replace(ML1M_MOVIES, encoding=title_file_encoding(raw_movies, movies_path))
    m = read_table(raw_movies, movies_spec, movies_path, fmt)
    movies = movies_frame(
        m["movie_id"],
        m["title"],
        title_years(m["title"]),
        genre_tuples(m["genres"], movies_path, strict),
    )
    u = read_table(read_bytes(users_path), ML1M_USERS, users_path, fmt)
    occupation = u["occupation"].map(vocab.ML1M_OCCUPATIONS).astype("str")
    users = users_frame(u["user_id"], u["gender"], u["age"], occupation)
    r = read_table(read_bytes(ratings_path), ML1M_RATINGS, ratings_path, fmt)
    return Tables(
        movies,
        users,
        ratings_frame(r),
        (1.0, 5.0),
        True,
        {"movies": movies_path, "users": users_path, "ratings": ratings_path},
    )
