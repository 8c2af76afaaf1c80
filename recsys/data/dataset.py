"""The normalised in-memory dataset every MovieLens format is loaded into.

Schema (all frames have a fresh RangeIndex):

movies   movie_id int64 (the dataset's MovieLens id, unique, sorted),
         title str (as in the source, e.g. "Matrix, The (1999)"),
         year Int64 (nullable; parsed from the title, else from a release date),
         genres object (tuple[str, ...] of canonical names from `recsys.data.vocab.GENRES`,
                 in vocabulary order; empty tuple = no genre listed)
users    user_id int64 (unique, sorted; every user who rated is present),
         gender object ("M" / "F" / None),
         age Int64 (ML-1M age code from `vocab.AGE_BUCKETS`, nullable),
         occupation object (readable name, e.g. "programmer", or None)
ratings  user_id int64, movie_id int64, rating float32, timestamp int64

Loading (`load_dataset`) detects the format from the files present:

ml-1m    ratings.dat, users.dat, movies.dat   ('::'-separated, latin-1)
ml-100k  u.data, u.item, u.user               (tab / '|'-separated, latin-1)
csv      ratings.csv, movies.csv              (ml-latest-small, ml-latest,
                                               ML-20M/25M/32M; UTF-8; no demographics)

Cleaning rules, the same for every format:
- ratings of movies (or, with a users file, users) the other files do not
  list are dropped with a `DataWarning` and counted in `dropped_ratings`;
  `strict=True` makes them an error.
- a (user, movie) pair rated more than once keeps its latest rating (by
  timestamp; on a tie the later line); the others are dropped with a
  warning and counted in `duplicate_ratings`; `strict=True` makes them an error.
- a genre name outside `recsys.data.vocab.GENRES` (after aliases such as "Children's")
  is ignored with a warning; `strict=True` makes it an error.
- a movie or user id listed twice in its own file is always an error.
- ratings keep their file order; movies and users are sorted by id.
- encodings: CSV bytes that are not UTF-8 are an error naming the line.
  latin-1 accepts every byte, so the .dat/u.* files cannot fail that way;
  a movies.dat/u.item that is valid UTF-8 with non-ASCII text was re-saved
  as UTF-8 and is read as such, with a warning, rather than garbled.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from recsys.data import csv_family, ml1m, ml100k
from recsys.data.errors import DataError, DataWarning
from recsys.data.parsing import Tables, users_from_ratings
from recsys.data.paths import default_dataset_path


@dataclass(frozen=True)
class Dataset:
    name: str
    format: str  # "ml-1m" | "ml-100k" | "csv"
    path: Path | None
    movies: pd.DataFrame
    users: pd.DataFrame
    ratings: pd.DataFrame
    has_demographics: bool
    rating_scale: tuple[float, float]
    dropped_ratings: int = 0  # ratings dropped for unknown users or movies
    duplicate_ratings: int = 0  # repeated (user, movie) ratings dropped, the latest kept
    # movie_id, imdb_id, tmdb_id (nullable Int64) where the format ships them (CSV links.csv)
    links: pd.DataFrame | None = None


# The files each format needs, in the order they are reported.
FORMAT_FILES: dict[str, tuple[str, ...]] = {
    "ml-1m": ("ratings.dat", "users.dat", "movies.dat"),
    "ml-100k": ("u.data", "u.item", "u.user"),
    "csv": ("ratings.csv", "movies.csv"),
}
READERS: dict[str, Callable[[Path, bool], Tables]] = {
    "ml-1m": ml1m.read,
    "ml-100k": ml100k.read,
    "csv": csv_family.read,
}
FORMAT_NAMES: dict[str, str] = {
    "ml-1m": "ML-1M",
    "ml-100k": "ML-100K",
    "csv": "MovieLens CSV (ml-latest-small, ml-latest, ML-20M/25M/32M)",
}


def _needs() -> str:
    return "; ".join(f"{FORMAT_NAMES[f]} needs {', '.join(n)}" for f, n in FORMAT_FILES.items())


def detect_format(root: Path) -> str:
    """The format key of the MovieLens directory `root`; DataError if there is none."""
    if not root.exists():
        raise DataError(
            f"{root} does not exist. Pass the directory holding the MovieLens files, "
            f"e.g. {default_dataset_path()}."
        )
    if not root.is_dir():
        known = {n for names in FORMAT_FILES.values() for n in names}
        hint = (
            f"pass the directory that holds it, {root.parent}"
            if root.name in known
            else "pass the directory holding the MovieLens files"
        )
        raise DataError(f"{root} is not a directory; {hint}.")
    present = {p.name for p in root.iterdir() if p.is_file()}
    complete = [f for f, names in FORMAT_FILES.items() if all(n in present for n in names)]
    if len(complete) > 1:
        found = ", ".join(FORMAT_NAMES[f] for f in complete)
        raise DataError(
            f"{root} holds files of several formats ({found}); "
            "put each dataset in its own directory."
        )
    if complete:
        return complete[0]
    partial = [
        (sum(n in present for n in names), f)
        for f, names in FORMAT_FILES.items()
        if any(n in present for n in names)
    ]
    if partial:
        _, fmt = max(partial)
        missing = [n for n in FORMAT_FILES[fmt] if n not in present]
        note = ""
        if fmt == "ml-1m" and missing == ["users.dat"]:
            note = (
                " (the '::' releases without users.dat, ML-10M and ML-20M's .dat files, "
                "are not supported: use their CSV release instead)"
            )
        raise DataError(
            f"{root} looks like {FORMAT_NAMES[fmt]} but is missing {', '.join(missing)}{note}. "
            f"{FORMAT_NAMES[fmt]} needs {', '.join(FORMAT_FILES[fmt])}; restore the missing "
            "file(s) from the original MovieLens download."
        )
    subdirs = sorted(
        p.name
        for p in root.iterdir()
        if p.is_dir() and any((p / names[0]).is_file() for names in FORMAT_FILES.values())
    )
    hint = ""
    if subdirs:
        hint = f" Did you mean {' or '.join(str(root / d) for d in subdirs[:4])}?"
    listing = ", ".join(sorted(present)[:8]) or "no files"
    raise DataError(
        f"{root} is not a MovieLens dataset directory (it has {listing}). {_needs()}.{hint}"
    )


def load_dataset(path: str | Path, *, strict: bool = False, name: str | None = None) -> Dataset:
    """Load the MovieLens dataset in directory `path`, whatever its format.

    Raises DataError, naming the file (and line) and the fix, for anything
    unreadable; nothing is returned half-loaded. See the module docstring for
    the cleaning rules `strict` tightens.
    """
    root = Path(path).expanduser()
    fmt = detect_format(root)
    tables = READERS[fmt](root, strict)
    files = tables.files
    movies = _sorted_unique(tables.movies, "movie_id", "movie", files["movies"])
    users = None
    if tables.users is not None:
        users = _sorted_unique(tables.users, "user_id", "user", files["users"])
    ratings, dropped = _drop_unknown(tables.ratings, movies, users, files, strict)
    ratings, duplicates = _drop_duplicates(ratings, files["ratings"], strict)
    if not len(ratings):
        raise DataError(
            f"{files['ratings']}: none of its ratings refer to a listed movie and user; "
            f"check that {files['movies'].name} belongs to the same dataset."
        )
    if users is None:
        users = users_from_ratings(ratings)
    return Dataset(
        name=name or root.resolve().name,
        format=fmt,
        path=root.resolve(),
        movies=movies,
        users=users,
        ratings=ratings,
        has_demographics=tables.has_demographics,
        rating_scale=tables.rating_scale,
        dropped_ratings=dropped,
        duplicate_ratings=duplicates,
        links=tables.links,
    )


def _sorted_unique(frame: pd.DataFrame, key: str, what: str, path: Path) -> pd.DataFrame:
    repeated = frame[key][frame[key].duplicated()]
    if len(repeated):
        ids = ", ".join(str(i) for i in repeated.unique()[:5])
        raise DataError(
            f"{path}: {what} id(s) {ids} appear on more than one line; keep one line per {what}."
        )
    if frame[key].is_monotonic_increasing:
        return frame
    return frame.sort_values(key, kind="stable").reset_index(drop=True)


def _drop_unknown(
    ratings: pd.DataFrame,
    movies: pd.DataFrame,
    users: pd.DataFrame | None,
    files: dict[str, Path],
    strict: bool,
) -> tuple[pd.DataFrame, int]:
    unknown_movie = ~ratings["movie_id"].isin(movies["movie_id"])
    unknown = [(unknown_movie, "movie_id", files["movies"])]
    bad = unknown_movie
    if users is not None:
        unknown_user = ~ratings["user_id"].isin(users["user_id"])
        unknown.append((unknown_user, "user_id", files["users"]))
        bad = unknown_movie | unknown_user
    count = int(bad.sum())
    if not count:
        return ratings, 0
    parts = []
    for mask, column, source in unknown:
        if mask.any():
            ids = sorted(ratings.loc[mask, column].unique().tolist())
            shown = ", ".join(str(i) for i in ids[:5]) + (", ..." if len(ids) > 5 else "")
            noun = column.split("_")[0]
            parts.append(
                f"{int(mask.sum())} rate {len(ids)} {noun}(s) not in {source.name} "
                f"({noun} ids {shown})"
            )
    detail = (
        f"{files['ratings']}: {count} of {len(ratings)} ratings refer to unknown ids: "
        + "; ".join(parts)
    )
    if strict:
        raise DataError(
            f"{detail}. Add the missing entries, or load with strict=False to drop those ratings."
        )
    warnings.warn(f"{detail}. Those ratings were dropped.", DataWarning, stacklevel=3)
    return ratings[~bad].reset_index(drop=True), count


def _pair_keys(ratings: pd.DataFrame) -> np.ndarray:
    """One int64 per (user, movie) pair, equal exactly when the pairs are."""
    users = ratings["user_id"].to_numpy()
    movies = ratings["movie_id"].to_numpy()
    span = int(movies.max()) + 1
    if int(users.max()) < (2**62) // span:
        keys: np.ndarray = users * span + movies
        return keys
    return ratings.groupby(["user_id", "movie_id"], sort=False).ngroup().to_numpy()


def _drop_duplicates(ratings: pd.DataFrame, path: Path, strict: bool) -> tuple[pd.DataFrame, int]:
    if not len(ratings):
        return ratings, 0
    keys = _pair_keys(ratings)
    # Files are grouped by user, so this user-major key is nearly sorted: a stable
    # (merge) sort of it is several times faster than a hash-based duplicated().
    ordered_keys = np.sort(keys, kind="stable")
    if not (ordered_keys[1:] == ordered_keys[:-1]).any():
        return ratings, 0
    key = pd.Series(keys)
    repeated = key.duplicated(keep=False)
    group = ratings[repeated.to_numpy()]
    # Stable sort by time: the last row per pair is the latest, file order breaking ties.
    ordered = group.sort_values("timestamp", kind="stable")
    drop = ordered.index[key[ordered.index].duplicated(keep="last").to_numpy()]
    count = len(drop)
    first = ratings.loc[drop[0]]
    detail = (
        f"{path}: {count} repeated rating(s) of the same (user, movie) pair, e.g. user "
        f"{int(first['user_id'])} and movie {int(first['movie_id'])}"
    )
    if strict:
        raise DataError(
            f"{detail}. Keep one rating per pair, or load with strict=False to keep the latest."
        )
    warnings.warn(f"{detail}. The latest of each was kept.", DataWarning, stacklevel=3)
    keep = np.ones(len(ratings), dtype=bool)
    keep[drop.to_numpy()] = False  # the index is a RangeIndex: labels are positions
    return ratings[keep].reset_index(drop=True), count


def summarize(ds: Dataset) -> dict[str, object]:
    """Headline numbers of a dataset, JSON-ready."""
    ratings = ds.ratings["rating"]
    return {
        "name": ds.name,
        "format": ds.format,
        "users": len(ds.users),
        "movies": len(ds.movies),
        "rated_movies": int(ds.ratings["movie_id"].nunique()),
        "ratings": len(ds.ratings),
        "rating_min": float(ratings.min()) if len(ratings) else None,
        "rating_max": float(ratings.max()) if len(ratings) else None,
        "genres": sorted({g for genres in ds.movies["genres"] for g in genres}),
        "has_demographics": ds.has_demographics,
        "dropped_ratings": ds.dropped_ratings,
    }
