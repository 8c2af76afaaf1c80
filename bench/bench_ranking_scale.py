"""The ranking artifacts at the catalogue sizes of the large MovieLens releases: each movie's
stored neighbours (`build_neighbours`) and the like index behind reasons (`build_likes`).

    .venv/bin/python bench/bench_ranking_scale.py                          # ML-32M's size
    .venv/bin/python bench/bench_ranking_scale.py --users 6040 --movies 3706 --ratings 1000000

The ratings are synthetic, shaped like MovieLens: user activity log-normal (at least 20
ratings each, a heavy tail), movie popularity Zipf-like, stars by movie and user; they go
through `Dataset` and `build_feature_space` as a real dataset does. The trained tower's
directions are random unit vectors (the artifacts' cost does not depend on them). Reported:
seconds and peak RSS of each step, the stored size, and the co-rating pairs counted
(sum over users of their ratings squared, what the co-rating part costs).
Writes <out>.json and <out>.md (default bench/results/ranking_scale).
"""

from __future__ import annotations

import argparse
import io
import resource
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from benchlib import ROOT, command_line, write_report

from recsys.data.dataset import Dataset
from recsys.data.vocab import GENRES
from recsys.features.space import build_feature_space
from recsys.model.artifacts import RankingArtifacts, save_artifacts
from recsys.ranking.colikes import build_likes
from recsys.ranking.facts import catalogue_facts
from recsys.ranking.neighbours import Content, build_neighbours
from recsys.training.calibrate import FALLBACK


def synthetic_ratings(users: int, movies: int, ratings: int, seed: int) -> Dataset:
    rng = np.random.default_rng(seed)
    activity = np.maximum(20, rng.lognormal(np.log(60), 1.2, users))
    per_user = np.minimum(movies, np.round(activity * ratings / activity.sum())).astype(np.int64)
    per_user = np.maximum(per_user, 20)
    weight = 1.0 / np.arange(1, movies + 1) ** 0.9
    weight /= weight.sum()
    order = rng.permutation(movies)  # popular movies anywhere in the id range
    # Drawn twice over, then each user's first distinct movies up to their count.
    user = np.repeat(np.arange(1, users + 1), 2 * per_user)
    movie = order[rng.choice(movies, size=len(user), p=weight)] + 1
    frame = pd.DataFrame({"user_id": user, "movie_id": movie}).drop_duplicates()
    keep = frame.groupby("user_id").cumcount().to_numpy() < per_user[frame["user_id"] - 1]
    frame = frame[keep]
    n = len(frame)
    quality = rng.normal(0.0, 0.6, movies + 1)
    stars = np.clip(
        np.round(2 * (3.5 + quality[frame["movie_id"]] + rng.normal(0, 0.8, n))) / 2, 0.5, 5.0
    )
    frame["rating"] = stars.astype(np.float32)
    frame["timestamp"] = rng.integers(1_000_000_000, 1_600_000_000, n)
    genre_sets = [
        tuple(sorted({GENRES[g] for g in rng.integers(0, len(GENRES), 1 + rng.integers(0, 3))}))
        for _ in range(movies)
    ]
    years = rng.integers(1920, 2024, movies)
    movie_frame = pd.DataFrame(
        {
            "movie_id": np.arange(1, movies + 1, dtype=np.int64),
            "title": [f"Movie {i} ({y})" for i, y in enumerate(years, start=1)],
            "year": pd.array(years, dtype="Int64"),
            "genres": genre_sets,
        }
    )
    user_frame = pd.DataFrame(
        {
            "user_id": np.arange(1, users + 1, dtype=np.int64),
            "gender": pd.Series([None] * users, dtype=object),
            "age": pd.array([None] * users, dtype="Int64"),
            "occupation": pd.Series([None] * users, dtype=object),
        }
    )
    return Dataset(
        name="synthetic-scale",
        format="csv",
        path=None,
        movies=movie_frame,
        users=user_frame,
        ratings=frame.reset_index(drop=True),
        has_demographics=False,
        rating_scale=(0.5, 5.0),
    )


def peak_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def timed(label: str, step: Any) -> tuple[Any, dict[str, float]]:
    t0 = time.perf_counter()
    out = step()
    took = {"seconds": round(time.perf_counter() - t0, 1), "peak_rss_mb": round(peak_mb())}
    print(f"{label}: {took}", flush=True)
    return out, took


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--users", type=int, default=200_948)
    p.add_argument("--movies", type=int, default=87_585)
    p.add_argument("--ratings", type=int, default=32_000_204)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--out", type=Path, default=ROOT / "bench" / "results" / "ranking_scale")
    args = p.parse_args()
    data, made = timed(
        "synthetic ratings",
        lambda: synthetic_ratings(args.users, args.movies, args.ratings, args.seed),
    )
    fs, featured = timed("feature space", lambda: build_feature_space(data))
    per_user = np.diff(fs.user_indptr).astype(np.float64)
    titles = data.movies["title"].tolist()
    facts = catalogue_facts(fs, titles, data.movies["year"].to_numpy(dtype=object))
    rng = np.random.default_rng(args.seed)
    directions = rng.normal(size=(fs.n_movies, 64)).astype(np.float32)
    directions /= np.linalg.norm(directions, axis=1, keepdims=True)
    content = Content.of(facts, directions)
    neighbours, neighboured = timed("neighbours", lambda: build_neighbours(fs, content))
    likes, liked = timed("likes", lambda: build_likes(fs))
    with tempfile.TemporaryDirectory() as tmp:
        files = save_artifacts(RankingArtifacts(neighbours, likes, FALLBACK), Path(tmp))
        stored_mb = round(sum((Path(tmp) / f).stat().st_size for f in files) / 2**20, 1)
    report = {
        "command": command_line(),
        "users": int(fs.n_users),
        "movies": int(fs.n_movies),
        "ratings": int(len(fs.user_items)),
        "likes": int((fs.user_ratings >= fs.like_threshold).sum()),
        "ratings_per_user": {
            "median": float(np.median(per_user)),
            "max": int(per_user.max()),
        },
        "co_rating_pairs": float((per_user**2).sum()),
        "like_index_form": "exact rows" if likes.users.size else "partners per movie",
        "steps": {
            "synthetic ratings": made,
            "feature space": featured,
            "neighbours (top 50 per movie)": neighboured,
            "like index": liked,
        },
        "stored_mb": stored_mb,
    }
    write_report(args.out, report, markdown(report))
    return 0


def markdown(r: dict[str, Any]) -> str:
    out = io.StringIO()
    out.write("# The ranking artifacts at scale\n\n")
    out.write(f"Command: `{r['command']}`  \n")
    out.write(
        f"Synthetic MovieLens-shaped ratings: {r['users']:,} users, {r['movies']:,} movies, "
        f"{r['ratings']:,} ratings ({r['likes']:,} likes); ratings per user median "
        f"{r['ratings_per_user']['median']:g}, max {r['ratings_per_user']['max']:,}; "
        f"co-rating pairs {r['co_rating_pairs']:.3g}. Like index: {r['like_index_form']}.\n\n"
    )
    out.write("| step | seconds | peak RSS (MB, the process so far) |\n|---|---:|---:|\n")
    for step, t in r["steps"].items():
        out.write(f"| {step} | {t['seconds']} | {t['peak_rss_mb']} |\n")
    out.write(f"\nStored (neighbours.npz + likes.npz): {r['stored_mb']} MB.\n")
    return out.getvalue()


if __name__ == "__main__":
    raise SystemExit(main())
