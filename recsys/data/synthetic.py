"""Synthetic MovieLens data with planted tastes: one builder, and a writer per file format.

`synthetic_dataset` builds an in-memory `Dataset` whose answers tests can
predict; the training benchmark asks it for an ML-1M-sized one (6,040 users,
3,706 movies, 1M ratings). What is planted:

- tastes that demographics carry: each (gender, age) group prefers the two
  genres `planted_genres` names, and each occupation one more genre;
- genre groups: every other movie belongs to one group of `GENRE_GROUPS`
  (the four planted pairs, then genres nobody was planted to like);
- named movies with fixed ids, first in the catalogue (`NAMED_MOVIES`): an
  ambiguous title ("Heat (1986)" and "Heat (1995)"), "Matrix, The (1999)",
  titles with accents and a parenthesised alternative, a movie nobody rated
  (the only Documentary) and one without a year;
- with `franchises` > 0, that many series of numbered sequels at the end of
  the catalogue ("Aldebaran (1990)", "Aldebaran 2 (1992)", ...; the first has
  five films, the others three), sharing their genres, released close
  together, and co-rated: whoever rated one film of a series rates each of
  the others with chance `SEQUEL_CO_RATE` (`franchise_members` lists them).

`write_ml1m`, `write_ml100k` and `write_csv` put any `Dataset` on disk in
that format's own layout (`write` picks one by format key), so loading the
files with `recsys.data.dataset.load_dataset` gives the same movies, users
and ratings back (the CSV layout has no users file, so no demographics).
"""

from __future__ import annotations

import csv
import os
import shutil
import tempfile
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pandas as pd

from recsys.data.dataset import Dataset
from recsys.data.ml100k import ML100K_GENRE_ORDER
from recsys.data.vocab import AGE_BUCKETS, GENRES, ML1M_OCCUPATIONS

# The named movies' ids.
MATRIX, HEAT_1995, HEAT_1986, MISERABLES, LOST_CHILDREN, TOY_STORY, UNRATED, UNDATED = range(1, 9)
NAMED_MOVIES: dict[int, tuple[str, tuple[str, ...]]] = {
    MATRIX: ("Matrix, The (1999)", ("Action", "Sci-Fi", "Thriller")),
    HEAT_1995: ("Heat (1995)", ("Action", "Crime", "Thriller")),
    HEAT_1986: ("Heat (1986)", ("Action", "Drama")),
    MISERABLES: ("Misérables, Les (1995)", ("Drama", "Musical")),
    LOST_CHILDREN: (
        "City of Lost Children, The (Cité des enfants perdus, La) (1995)",
        ("Adventure", "Sci-Fi"),
    ),
    TOY_STORY: ("Toy Story (1995)", ("Animation", "Children", "Comedy")),
    # Nobody rates it, and no other movie is a Documentary.
    UNRATED: ("Lonely Unrated Documentary (2001)", ("Documentary",)),
    UNDATED: ("Undated Home Movie", ("Comedy",)),
}
# The two genres each (gender, aged 25-34 or younger) group prefers.
PLANTED: dict[tuple[str, bool], tuple[str, str]] = {
    ("F", True): ("Romance", "Musical"),
    ("F", False): ("Drama", "Mystery"),
    ("M", True): ("Action", "Sci-Fi"),
    ("M", False): ("War", "Western"),
}
# The last group: each occupation likes one of these genres too.
OCCUPATION_GENRES = ("Comedy", "Crime", "Horror")
GENRE_GROUPS: tuple[tuple[str, ...], ...] = (*PLANTED.values(), OCCUPATION_GENRES)
# Genres a movie of any group may also carry (one in four does); nobody likes them more.
EXTRA_GENRES = ("Adventure", "Animation", "Children", "Fantasy", "Film-Noir", "Thriller")
PLANTED_WEIGHT, OCCUPATION_WEIGHT = 2.5, 2.0
# People also watch outside their taste: a movie is picked with probability
# proportional to exp(EXPOSURE * affinity), and rated by the whole affinity.
EXPOSURE = 0.6
FIRST_TIMESTAMP = 956_703_932  # ML-1M's first rating
# Planted series (`franchises`): their names, sizes and how surely their fans see them all.
FRANCHISE_NAMES = (
    "Aldebaran", "Brightwater", "Cinderfall", "Duskmoor", "Emberline",
    "Frostvale", "Glimmerdeep", "Hollowmere", "Ironbark", "Jadecrest",
)  # fmt: skip
FIRST_FRANCHISE_SIZE, FRANCHISE_SIZE = 5, 3
SEQUEL_CO_RATE = 0.8


def planted_genres(gender: str, age: int) -> tuple[str, str]:
    """The two genres a synthetic user of this gender and ML-1M age code prefers."""
    return PLANTED[gender, age <= 25]


def occupation_genre(occupation: str) -> str:
    """The extra genre a synthetic user with this ML-1M occupation likes."""
    code = {name: c for c, name in ML1M_OCCUPATIONS.items()}[occupation]
    return OCCUPATION_GENRES[code % len(OCCUPATION_GENRES)]


def franchise_members(n_movies: int, franchises: int) -> list[list[int]]:
    """The movie ids of each planted series of `synthetic_dataset(n_movies=n_movies,
    franchises=franchises)`, in release order."""
    sizes = [FIRST_FRANCHISE_SIZE] + [FRANCHISE_SIZE] * (franchises - 1) if franchises else []
    first = n_movies - sum(sizes) + 1
    out = []
    for size in sizes:
        out.append(list(range(first, first + size)))
        first += size
    return out


def synthetic_dataset(
    n_users: int = 60,
    n_movies: int = 90,
    n_ratings: int = 1_500,
    seed: int = 0,
    demographics: bool = True,
    franchises: int = 0,
) -> Dataset:
    """Users rate movies by planted taste (see the module docstring); `n_movies` counts the
    named movies too, and `n_ratings` is met roughly (at least 5 ratings per user).

    With `demographics=False` the users are the same but their gender, age and
    occupation are unknown, as the CSV layout gives them; their tastes stay planted.
    With `franchises` > 0 the last movies form planted series (and their fans rate more);
    with none, the data is the same as ever.
    """
    n_generic = n_movies - len(NAMED_MOVIES)
    if n_generic < len(GENRE_GROUPS) or n_users < 1:
        raise ValueError(f"need at least {len(NAMED_MOVIES) + len(GENRE_GROUPS)} movies and a user")
    series = franchise_members(n_movies, min(franchises, len(FRANCHISE_NAMES)))
    if franchises > len(FRANCHISE_NAMES) or sum(map(len, series)) > n_generic - len(GENRE_GROUPS):
        raise ValueError(f"too many franchises ({franchises}) for {n_movies} movies")
    rng = np.random.default_rng(seed)
    col = {g: j for j, g in enumerate(GENRES)}

    # Movies: the named ones, then one genre group each in turn (one to three of its
    # genres, perhaps an extra one), a year and a latent popularity.
    titles = [title for title, _ in NAMED_MOVIES.values()]
    genre_sets = [set(genres) for _, genres in NAMED_MOVIES.values()]
    years: list[int | None] = [_title_year(t) for t in titles]
    for j in range(n_generic):
        group = GENRE_GROUPS[j % len(GENRE_GROUPS)]
        size = min(len(group), 1 + int(rng.random() < 0.5) + int(rng.random() < 0.2))
        genres = {group[i] for i in rng.choice(len(group), size, replace=False)}
        if rng.random() < 0.25:
            genres.add(EXTRA_GENRES[int(rng.integers(len(EXTRA_GENRES)))])
        genre_sets.append(genres)
        years.append(int(rng.integers(1940, 2015)))
        titles.append(f"Synthetic Movie {len(titles) + 1} ({years[-1]})")
    _plant_series(series, titles, genre_sets, years)
    movie_genres = np.zeros((n_movies, len(GENRES)), dtype=np.float32)
    for i, genres in enumerate(genre_sets):
        movie_genres[i, [col[g] for g in genres]] = 1.0
    popularity = 0.8 * rng.normal(0.0, 1.0, n_movies)

    genders = rng.choice(["F", "M"], n_users)
    ages = rng.choice(list(AGE_BUCKETS), n_users)
    occupations = [
        ML1M_OCCUPATIONS[int(o)] for o in rng.integers(0, len(ML1M_OCCUPATIONS), n_users)
    ]
    taste = np.zeros((n_users, len(GENRES)), dtype=np.float32)
    for u in range(n_users):
        for g in planted_genres(str(genders[u]), int(ages[u])):
            taste[u, col[g]] += PLANTED_WEIGHT
        taste[u, col[occupation_genre(occupations[u])]] += OCCUPATION_WEIGHT

    rated = np.array([m != UNRATED - 1 for m in range(n_movies)])
    counts = np.maximum(5, rng.poisson(n_ratings / n_users, n_users))
    counts = np.clip(np.round(counts * n_ratings / counts.sum()), 5, rated.sum()).astype(int)
    users, movies, stars, times = [], [], [], []
    for u in range(n_users):
        affinity = movie_genres @ taste[u] + popularity
        p = np.where(rated, np.exp(EXPOSURE * (affinity - affinity.max())), 0.0)
        picked = rng.choice(n_movies, size=counts[u], replace=False, p=p / p.sum())
        noise = rng.normal(0.0, 0.7, counts[u])
        users.append(np.full(counts[u], u + 1))
        movies.append(picked + 1)
        stars.append(np.clip(np.round(2.6 + 0.7 * affinity[picked] + noise), 1, 5))
        times.append(FIRST_TIMESTAMP + np.sort(rng.integers(0, 3_000_000, counts[u])))
    if series:
        # Fans of a series see its other films too; a stream of its own leaves the
        # data without series as it always was.
        extra = np.random.default_rng([seed, 1])
        for u in range(n_users):
            affinity = movie_genres @ taste[u] + popularity
            seen = set(movies[u].tolist())
            more = [
                m
                for members in series
                if seen.intersection(members)
                for m in members
                if m not in seen and extra.random() < SEQUEL_CO_RATE
            ]
            if more:
                picked = np.asarray(more, dtype=np.int64) - 1
                noise = extra.normal(0.0, 0.7, len(picked))
                users[u] = np.append(users[u], np.full(len(picked), u + 1))
                movies[u] = np.append(movies[u], picked + 1)
                stars[u] = np.append(
                    stars[u], np.clip(np.round(2.6 + 0.7 * affinity[picked] + noise), 1, 5)
                )
                late = times[u][-1] + 1 + np.sort(extra.integers(0, 1_000_000, len(picked)))
                times[u] = np.append(times[u], late)

    movie_frame = pd.DataFrame(
        {
            "movie_id": np.arange(1, n_movies + 1, dtype=np.int64),
            "title": titles,
            "year": pd.array(years, dtype="Int64"),
            "genres": [tuple(g for g in GENRES if g in s) for s in genre_sets],
        }
    )
    known = demographics
    user_frame = pd.DataFrame(
        {
            "user_id": np.arange(1, n_users + 1, dtype=np.int64),
            "gender": pd.Series([str(g) if known else None for g in genders], dtype=object),
            "age": pd.array([int(a) if known else None for a in ages], dtype="Int64"),
            "occupation": pd.Series([o if known else None for o in occupations], dtype=object),
        }
    )
    ratings = pd.DataFrame(
        {
            "user_id": np.concatenate(users).astype(np.int64),
            "movie_id": np.concatenate(movies).astype(np.int64),
            "rating": np.concatenate(stars).astype(np.float32),
            "timestamp": np.concatenate(times).astype(np.int64),
        }
    )
    return Dataset(
        name="synthetic" if demographics else "synthetic-nodemo",
        format="ml-1m" if demographics else "csv",
        path=None,
        movies=movie_frame,
        users=user_frame,
        ratings=ratings,
        has_demographics=demographics,
        rating_scale=(1.0, 5.0),
    )


def _plant_series(
    series: list[list[int]],
    titles: list[str],
    genre_sets: list[set[str]],
    years: list[int | None],
) -> None:
    """Turn the last movies into numbered series: the first film's genres for all, a film
    every two years, titled "Name (year)", "Name 2 (year)", ..."""
    for name, members in zip(FRANCHISE_NAMES, series, strict=False):
        first = members[0] - 1
        start = years[first] or 1990
        for n, m in enumerate(members):
            year = start + 2 * n
            years[m - 1] = year
            genre_sets[m - 1] = set(genre_sets[first])
            titles[m - 1] = f"{name} ({year})" if n == 0 else f"{name} {n + 1} ({year})"


def _title_year(title: str) -> int | None:
    tail = title.rstrip()
    if tail.endswith(")") and tail[-5:-1].isdigit():
        return int(tail[-5:-1])
    return None


# --------------------------------------------------------------------------- writers

# ML-1M and ML-100K spell this genre the old way; the loaders normalise it.
_OLD_SPELLING = {"Children": "Children's"}
# ML-100K's u.user holds ages in years: one inside each ML-1M age bucket.
AGE_YEARS = {1: 16, 18: 20, 25: 30, 35: 40, 45: 47, 50: 52, 56: 60}


def write_ml1m(dataset: Dataset, path: str | Path) -> Path:
    """`movies.dat`, `users.dat` and `ratings.dat` ('::'-separated, latin-1) under `path`."""
    _need_demographics(dataset, "ML-1M")
    _need_whole_stars(dataset, "ML-1M")
    codes = {name: code for code, name in ML1M_OCCUPATIONS.items()}

    def files(root: Path) -> None:
        lines = [
            f"{m}::{title}::{'|'.join(_OLD_SPELLING.get(g, g) for g in genres)}\n"
            for m, title, genres in _movie_rows(dataset)
        ]
        _write_latin1(root / "movies.dat", lines)
        lines = [f"{u}::{g}::{a}::{codes[o]}::{10_000 + u}\n" for u, g, a, o in _user_rows(dataset)]
        _write_latin1(root / "users.dat", lines)
        lines = [f"{u}::{m}::{r}::{t}\n" for u, m, r, t in _rating_rows(dataset)]
        _write_latin1(root / "ratings.dat", lines)

    return _write_atomically(Path(path), files)


def write_ml100k(dataset: Dataset, path: str | Path) -> Path:
    """`u.item`, `u.user` ('|'-separated), `u.data` (tabs) and `u.genre` under `path`."""
    _need_demographics(dataset, "ML-100K")
    _need_whole_stars(dataset, "ML-100K")
    flag_names = [_OLD_SPELLING.get(g, g) for g in GENRES]

    def files(root: Path) -> None:
        lines = []
        for (m, title, genres), year in zip(
            _movie_rows(dataset), dataset.movies["year"], strict=True
        ):
            names = {flag_names[GENRES.index(g)] for g in genres}
            flags = [int(g in names) for g in ML100K_GENRE_ORDER]
            flags[0] = int(not genres)  # "unknown"
            date = "" if pd.isna(year) else f"01-Jan-{int(year)}"
            url = f"http://us.imdb.com/M/title-exact?{m}"
            lines.append("|".join([str(m), title, date, "", url, *map(str, flags)]) + "\n")
        _write_latin1(root / "u.item", lines)
        lines = [f"{u}|{AGE_YEARS[a]}|{g}|{o}|{10_000 + u}\n" for u, g, a, o in _user_rows(dataset)]
        _write_latin1(root / "u.user", lines)
        lines = [f"{u}\t{m}\t{r}\t{t}\n" for u, m, r, t in _rating_rows(dataset)]
        _write_latin1(root / "u.data", lines)
        _write_latin1(root / "u.genre", [f"{g}|{i}\n" for i, g in enumerate(ML100K_GENRE_ORDER)])

    return _write_atomically(Path(path), files)


def write_csv(dataset: Dataset, path: str | Path) -> Path:
    """`movies.csv` and `ratings.csv` (UTF-8, as ml-latest-small and ML-25M/32M) under `path`;
    this layout has no users file, so demographics are not written."""

    def files(root: Path) -> None:
        with open(root / "movies.csv", "w", encoding="utf-8", newline="") as fh:
            out = csv.writer(fh, lineterminator="\n")
            out.writerow(["movieId", "title", "genres"])
            for m, title, genres in _movie_rows(dataset):
                out.writerow([m, title, "|".join(genres) or "(no genres listed)"])
        with open(root / "ratings.csv", "w", encoding="utf-8", newline="") as fh:
            fh.write("userId,movieId,rating,timestamp\n")
            r = dataset.ratings
            fh.writelines(
                f"{u},{m},{v:.1f},{t}\n"
                for u, m, v, t in zip(
                    r["user_id"], r["movie_id"], r["rating"], r["timestamp"], strict=True
                )
            )

    return _write_atomically(Path(path), files)


WRITERS: dict[str, Callable[[Dataset, str | Path], Path]] = {
    "ml-1m": write_ml1m,
    "ml-100k": write_ml100k,
    "csv": write_csv,
}


def write(dataset: Dataset, path: str | Path, fmt: str) -> Path:
    """Write `dataset` under `path` in format `fmt` ("ml-1m", "ml-100k" or "csv")."""
    if fmt not in WRITERS:
        raise ValueError(f"unknown format {fmt!r}; choose from {', '.join(WRITERS)}")
    return WRITERS[fmt](dataset, path)


def _movie_rows(dataset: Dataset) -> list[tuple[int, str, tuple[str, ...]]]:
    movies = dataset.movies
    return list(zip(movies["movie_id"].tolist(), movies["title"], movies["genres"], strict=True))


def _user_rows(dataset: Dataset) -> list[tuple[int, str, int, str]]:
    users = dataset.users
    return list(
        zip(
            users["user_id"].tolist(),
            users["gender"],
            users["age"].astype(int).tolist(),
            users["occupation"],
            strict=True,
        )
    )


def _rating_rows(dataset: Dataset) -> list[tuple[int, int, int, int]]:
    r = dataset.ratings
    return list(
        zip(
            r["user_id"].tolist(),
            r["movie_id"].tolist(),
            r["rating"].astype(int).tolist(),
            r["timestamp"].tolist(),
            strict=True,
        )
    )


def _need_demographics(dataset: Dataset, fmt: str) -> None:
    users = dataset.users
    if not dataset.has_demographics or users[["gender", "age", "occupation"]].isna().any().any():
        raise ValueError(
            f"{fmt} lists every user's gender, age and occupation; this dataset lacks some"
        )


def _need_whole_stars(dataset: Dataset, fmt: str) -> None:
    r = dataset.ratings["rating"]
    if ((r % 1) != 0).any() or r.min() < 1 or r.max() > 5:
        raise ValueError(f"{fmt} ratings are whole stars from 1 to 5")


def _write_latin1(path: Path, lines: list[str]) -> None:
    with open(path, "w", encoding="latin-1", newline="\n") as fh:
        fh.writelines(lines)


def _write_atomically(path: Path, files: Callable[[Path], None]) -> Path:
    """Write the files into a temporary sibling folder, then rename it to `path` (replacing it)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{path.name}-", dir=path.parent))
    try:
        files(tmp)
        if path.exists():
            shutil.rmtree(path)
        os.replace(tmp, path)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return path
