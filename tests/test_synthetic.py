"""The one synthetic-data builder: what it plants, and its writers for every file format."""

from __future__ import annotations

import warnings
from dataclasses import replace
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from recsys.data import synthetic
from recsys.data.dataset import load_dataset
from recsys.data.synthetic import (
    HEAT_1986,
    HEAT_1995,
    MATRIX,
    NAMED_MOVIES,
    UNDATED,
    UNRATED,
    WRITERS,
    planted_genres,
    synthetic_dataset,
)
from recsys.data.vocab import GENRES


@pytest.fixture(scope="module")
def dataset():
    return synthetic_dataset()


def test_sizes_and_the_named_movies(dataset) -> None:
    movies, ratings = dataset.movies.set_index("movie_id"), dataset.ratings
    assert len(movies) == 90 and len(dataset.users) == 60
    assert abs(len(ratings) - 1_500) < 150
    for movie_id, (title, genres) in NAMED_MOVIES.items():
        assert movies.loc[movie_id, "title"] == title
        assert movies.loc[movie_id, "genres"] == genres
    assert movies.loc[[HEAT_1986, HEAT_1995, MATRIX], "year"].tolist() == [1986, 1995, 1999]
    # Nobody rates the only Documentary; the one movie without a year is rated as any other.
    assert UNRATED not in set(ratings["movie_id"])
    assert movies.index[movies["genres"].map(lambda g: "Documentary" in g)].tolist() == [UNRATED]
    assert movies.index[movies["year"].isna()].tolist() == [UNDATED]
    assert all(
        set(g) <= set(GENRES) and list(g) == sorted(g, key=GENRES.index) for g in movies["genres"]
    )


def test_ratings_are_clean(dataset) -> None:
    ratings = dataset.ratings
    assert not ratings.duplicated(["user_id", "movie_id"]).any()
    assert set(ratings["rating"].unique()) <= {1.0, 2.0, 3.0, 4.0, 5.0}
    counts = ratings.groupby("user_id").size()
    assert counts.index.tolist() == dataset.users["user_id"].tolist() and counts.min() >= 5
    # Each user's ratings are in time order, as the files list them.
    assert (ratings.groupby("user_id")["timestamp"].diff().dropna() >= 0).all()


def test_demographics_plant_the_liked_genres(dataset) -> None:
    ratings = dataset.ratings.merge(dataset.users, on="user_id")
    genres = dataset.movies.set_index("movie_id")["genres"]
    liked = ratings[ratings["rating"] >= 4]
    planted = [
        bool(set(genres[m]) & set(planted_genres(g, a)))
        for m, g, a in zip(liked["movie_id"], liked["gender"], liked["age"], strict=True)
    ]
    # A planted pair covers about a fifth of the catalogue; most likes fall in it.
    assert np.mean(planted) > 0.6
    disliked = ratings[ratings["rating"] <= 2]
    off = [
        not set(genres[m]) & set(planted_genres(g, a))
        for m, g, a in zip(disliked["movie_id"], disliked["gender"], disliked["age"], strict=True)
    ]
    assert np.mean(off) > 0.8


def test_a_seed_gives_the_same_dataset(dataset) -> None:
    again = synthetic_dataset()
    for name in ("movies", "users", "ratings"):
        pd.testing.assert_frame_equal(getattr(again, name), getattr(dataset, name))
    other = synthetic_dataset(seed=1)
    assert not other.ratings.equals(dataset.ratings)
    assert other.movies.loc[: len(NAMED_MOVIES) - 1].equals(
        dataset.movies.loc[: len(NAMED_MOVIES) - 1]
    )


def test_without_demographics_the_same_users_rate_the_same_movies(dataset) -> None:
    plain = synthetic_dataset(demographics=False)
    assert not plain.has_demographics and plain.format == "csv"
    pd.testing.assert_frame_equal(plain.ratings, dataset.ratings)
    users = plain.users
    assert users["user_id"].tolist() == dataset.users["user_id"].tolist()
    assert users[["gender", "age", "occupation"]].isna().all().all()


@pytest.mark.parametrize("fmt", list(WRITERS))
def test_every_writer_loads_back_to_the_same_dataset(dataset, fmt, tmp_path: Path) -> None:
    root = synthetic.write(dataset, tmp_path / fmt, fmt)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # nothing dropped, nothing re-read
        loaded = load_dataset(root)
    assert loaded.format == fmt
    pd.testing.assert_frame_equal(loaded.movies, dataset.movies)
    pd.testing.assert_frame_equal(loaded.ratings, dataset.ratings)
    if fmt == "csv":  # no users file: users come from the ratings, without demographics
        assert not loaded.has_demographics
        assert loaded.users["user_id"].tolist() == dataset.users["user_id"].tolist()
    else:
        assert loaded.has_demographics
        pd.testing.assert_frame_equal(loaded.users, dataset.users)
    # Written again over itself: replaced whole, nothing left beside it.
    synthetic.write(dataset, root, fmt)
    assert [p.name for p in tmp_path.iterdir()] == [fmt]


def test_writers_refuse_what_their_format_cannot_hold(dataset, tmp_path: Path) -> None:
    plain = synthetic_dataset(demographics=False)
    for fmt in ("ml-1m", "ml-100k"):
        with pytest.raises(ValueError, match="gender, age and occupation"):
            synthetic.write(plain, tmp_path / fmt, fmt)
        halves = replace(dataset, ratings=dataset.ratings.assign(rating=np.float32(3.5)))
        with pytest.raises(ValueError, match="whole stars"):
            synthetic.write(halves, tmp_path / fmt, fmt)
    with pytest.raises(ValueError, match="unknown format"):
        synthetic.write(dataset, tmp_path / "x", "ml-20m")
    assert not any(tmp_path.iterdir())
    # The CSV layout holds half stars.
    halves = replace(dataset, ratings=dataset.ratings.assign(rating=np.float32(3.5)))
    assert set(load_dataset(synthetic.write_csv(halves, tmp_path / "csv")).ratings["rating"]) == {
        3.5
    }


def test_an_ml1m_shaped_dataset_has_the_sizes_asked_for() -> None:
    # bench/bench_train.py's synthetic-1m, scaled down tenfold in users and ratings.
    ds = synthetic_dataset(n_users=604, n_movies=3_706, n_ratings=100_000, seed=0)
    assert len(ds.movies) == 3_706 and len(ds.users) == 604
    assert abs(len(ds.ratings) - 100_000) < 2_000
