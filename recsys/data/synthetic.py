"""Synthetic MovieLens data in the exact ML-1M file format, with planted tastes.

Used by tests (a tiny dataset whose answers we can predict) and by the
training benchmark (an ML-1M-sized set: 6,040 users, 3,706 movies, 1M
ratings). Tastes are planted so that demographics carry signal: each
(gender, age group) prefers two genres, and each occupation one more.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from pathlib import Path

import numpy as np

from recsys.data.vocab import AGE_BUCKETS, GENRES, ML1M_OCCUPATIONS

# ML-1M spells this genre the old way; the loader normalises it.
_ML1M_SPELLING = {"Children": "Children's"}
_ML1M_GENRES = [g for g in GENRES if g != "IMAX"]


def planted_genres(gender: str, age: int) -> tuple[str, str]:
    """The two genres a synthetic user of this gender and age code prefers."""
    young = age <= 25
    if gender == "F":
        return ("Romance", "Musical") if young else ("Drama", "Mystery")
    return ("Action", "Sci-Fi") if young else ("War", "Western")


def write_ml1m(
    path: str | Path,
    n_users: int = 200,
    n_movies: int = 300,
    n_ratings: int = 12_000,
    seed: int = 0,
) -> Path:
    """Write ratings.dat, users.dat and movies.dat under `path` (atomically)."""
    rng = np.random.default_rng(seed)
    path = Path(path)
    n_g = len(_ML1M_GENRES)
    g_idx = {g: i for i, g in enumerate(_ML1M_GENRES)}

    # Movies: one or two genres each, a release year, and a latent quality.
    movie_genres = np.zeros((n_movies, n_g), dtype=bool)
    primary = rng.integers(0, n_g, n_movies)
    movie_genres[np.arange(n_movies), primary] = True
    second = rng.random(n_movies) < 0.4
    movie_genres[np.flatnonzero(second), rng.integers(0, n_g, second.sum())] = True
    years = rng.integers(1940, 2001, n_movies)
    quality = rng.normal(0, 1, n_movies)

    genders = rng.choice(["F", "M"], n_users)
    ages = rng.choice(list(AGE_BUCKETS), n_users)
    occs = rng.integers(0, len(ML1M_OCCUPATIONS), n_users)
    occ_genre = {o: _ML1M_GENRES[(o * 7) % n_g] for o in ML1M_OCCUPATIONS}

    # Affinity of each user for each movie: planted genres + popularity + noise.
    pref = np.zeros((n_users, n_g), dtype=np.float32)
    for u in range(n_users):
        for g in planted_genres(genders[u], int(ages[u])):
            pref[u, g_idx[g]] = 2.5
        pref[u, g_idx[occ_genre[int(occs[u])]]] += 1.0
    per_user = np.maximum(5, rng.poisson(n_ratings / n_users, n_users))
    scale = n_ratings / per_user.sum()
    per_user = np.maximum(5, np.round(per_user * scale)).astype(int)
    per_user = np.minimum(per_user, n_movies)

    rows = []
    base_time = 956_703_932
    movie_pop = 0.8 * quality
    for u in range(n_users):
        affinity = movie_genres @ pref[u] + movie_pop
        p = np.exp(affinity - affinity.max())
        p /= p.sum()
        picked = rng.choice(n_movies, size=per_user[u], replace=False, p=p)
        stars = np.clip(np.round(2.6 + 0.7 * affinity[picked] + rng.normal(0, 0.7)), 1, 5)
        times = base_time + np.sort(rng.integers(0, 3_000_000, per_user[u]))
        rows.extend(zip([u + 1] * len(picked), picked + 1, stars.astype(int), times, strict=True))

    tmp = Path(
        tempfile.mkdtemp(prefix=".synthetic-", dir=path.parent if path.parent.exists() else None)
    )
    try:
        with open(tmp / "movies.dat", "w", encoding="latin-1", newline="\n") as f:
            for m in range(n_movies):
                names = [_ML1M_SPELLING.get(g, g) for g in np.array(_ML1M_GENRES)[movie_genres[m]]]
                f.write(f"{m + 1}::Synthetic Movie {m + 1} ({years[m]})::{'|'.join(names)}\n")
        with open(tmp / "users.dat", "w", encoding="latin-1", newline="\n") as f:
            for u in range(n_users):
                f.write(f"{u + 1}::{genders[u]}::{ages[u]}::{occs[u]}::{10000 + u}\n")
        with open(tmp / "ratings.dat", "w", encoding="latin-1", newline="\n") as f:
            f.writelines(f"{u}::{m}::{r}::{t}\n" for u, m, r, t in rows)
        if path.exists():
            shutil.rmtree(path)
        os.replace(tmp, path)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return path
