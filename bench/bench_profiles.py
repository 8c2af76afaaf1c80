"""Benchmark personal profiles through the server; write bench/results/profiles_server.md.

    .venv/bin/python bench/bench_profiles.py                       # both parts
    .venv/bin/python bench/bench_profiles.py --calls 200 --skip-w  # latency only (keeps W)

1. Latency at the wire (`server.launch.wire_session`: a `movierec serve` child over stdio,
   JSON-RPC lines written and answers parsed, as in bench_server.py), on the shipped model
   with a SQLite store in a temporary folder:
   - recommend_for_user(profile=...) for profiles of 500 ratings (goal p50 <= 5 ms);
   - rate_movies with 100 ratings given by id, each call a new profile (goal p50 <= 20 ms);
   - the same with the 100 movies given by title ('Heat (1995)'), measured, no goal;
   - get_profile of a 500-rating profile and recommend_for_group of two of them.
2. Protocol W through profiles (`--w-dataset`, default ../shared/data/ml-100k): the model
   trained on W's training part; every W user's training ratings are stored, in their time
   order, in a real SQLite profile (with their age, gender and occupation said as a thin
   profile's demographics would be), read back and recommended from; NDCG@10 of those lists
   against the same users asked by user id.
"""

from __future__ import annotations

import argparse
import os
import platform
import sqlite3
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from tqdm import tqdm

from server.commands import model_dir
from server.launch import WireClient, wire_session

REPO = Path(__file__).resolve().parents[1]
RESULTS = REPO / "bench" / "results" / "profiles_server.md"
SHARED = REPO.parent / "shared" / "data"
W_HEADING = "## Protocol W through stored profiles "
AGE_YEARS = {1: 16, 18: 20, 25: 30, 35: 40, 45: 47, 50: 52, 56: 60}  # a year inside each bucket


def pct(values: list[float], q: float) -> float:
    return float(np.percentile(np.asarray(values), q))


def timed(client: WireClient, tool: str, arguments: dict[str, Any]) -> float:
    t0 = time.perf_counter()
    result = client.call_tool(tool, arguments)
    ms = (time.perf_counter() - t0) * 1000
    if result.get("isError") or "structuredContent" not in result:
        raise RuntimeError(f"{tool} failed: {result['content'][0]['text'][:500]}")
    return ms


def _names_one(catalogue: Any, text: str, movie_id: int) -> bool:
    try:
        return bool(catalogue.movie_ids[catalogue.resolve(text)] == movie_id)
    except ValueError:  # an ambiguous or unknown title (RecommenderError)
        return False


def title(row: Any) -> str:
    """A movie as a person names it to the assistant: its title, with the year."""
    year = "" if pd.isna(row.year) or f"({int(row.year)})" in row.title else f" {row.year}"
    return f"{row.title}{year}"


def wire_latencies(model: Path, calls: int, store: Path) -> dict[str, list[float]]:
    from recsys.serving.recommender import Recommender

    catalogue = Recommender.load(model).catalogue
    movies = pd.read_csv(model / "movies.csv")
    popular = movies.sort_values("n_ratings", ascending=False).head(3000)
    # Titles that name one movie, so the by-title calls time resolving, not refusing.
    unique = [_names_one(catalogue, title(r), r.movie_id) for r in popular.itertuples()]
    popular = popular[unique]
    rng = np.random.default_rng(0)
    stars = np.arange(1, 11) / 2

    def some(n: int) -> pd.DataFrame:
        return popular.iloc[rng.choice(len(popular), size=n, replace=False)]

    out: dict[str, list[float]] = {}
    env = {**os.environ, "MOVIEREC_PROFILES": str(store)}
    with wire_session(model, env=env) as client:
        big = [f"big-{i}" for i in range(10)]
        for name in big:  # 500 ratings each, by id, in one call
            chosen = some(500)
            ratings = [
                {"movie": int(m), "rating": float(rng.choice(stars))} for m in chosen["movie_id"]
            ]
            timed(client, "rate_movies", {"profile": name, "ratings": ratings})
        plans: dict[str, Any] = {
            "recommend_for_user (profile of 500 ratings)": lambda i: (
                "recommend_for_user",
                {"profile": big[i % len(big)], "k": 10},
            ),
            "get_profile (500 ratings)": lambda i: ("get_profile", {"profile": big[i % len(big)]}),
            "recommend_for_group (two profiles of 500)": lambda i: (
                "recommend_for_group",
                {"profiles": [big[i % len(big)], big[(i + 1) % len(big)]], "k": 10},
            ),
        }
        by_id = [
            [{"movie": int(m), "rating": float(rng.choice(stars))} for m in some(100)["movie_id"]]
            for _ in range(calls + 20)
        ]
        by_title = [
            [
                {"movie": title(r), "rating": float(rng.choice(stars))}
                for r in some(100).itertuples()
            ]
            for _ in range(calls + 20)
        ]
        plans["rate_movies (100 ratings by id, new profile)"] = lambda i: (
            "rate_movies",
            {"profile": f"id-{i}", "ratings": by_id[i]},
        )
        plans["rate_movies (100 ratings by title, new profile)"] = lambda i: (
            "rate_movies",
            {"profile": f"title-{i}", "ratings": by_title[i]},
        )
        for label, plan in plans.items():
            for i in range(20):  # warm-up, not timed
                timed(client, *plan(calls + i))
            out[label] = [
                timed(client, *plan(i)) for i in tqdm(range(calls), desc=label, file=sys.stderr)
            ]
    return out


def w_through_profiles(dataset_dir: Path, work: Path) -> dict[str, Any]:
    """Protocol W's users asked by user id and through stored profiles: their NDCG@10."""
    from recsys.bundle.write import write_bundle
    from recsys.data.dataset import load_dataset
    from recsys.evaluation.splits import warm_split
    from recsys.metrics.ranking import hit_matrix, ndcg_at_k
    from recsys.profiles import Movie, Rating, open_store
    from recsys.serving.filters import NO_FILTERS
    from recsys.serving.recommender import Recommender
    from recsys.training import process
    from recsys.training.config import TrainConfig
    from recsys.training.fit import fit
    from server.profiles import ProfileService

    process.configure(2)
    split = warm_split(load_dataset(dataset_dir))
    t0 = time.perf_counter()
    model = fit(split.train, TrainConfig(), progress=False)
    trained = time.perf_counter() - t0
    rec = Recommender.load(write_bundle(model, split.train, work / "bundle"))
    store = open_store(work / "w.db")
    service = ProfileService(rec, store, {}, 100_000)
    train = split.train
    movies = train.movies.set_index("movie_id")
    users = train.users.set_index("user_id")
    ratings = train.ratings.sort_values(["user_id", "timestamp", "movie_id"], kind="stable")
    by_user = dict(tuple(ratings.groupby("user_id", sort=False)))
    top_user, top_profile = [], []
    same = 0
    for user in tqdm(split.users, desc="W through profiles", file=sys.stderr):
        rows = by_user[user.user_id]
        entries = [
            Rating(Movie(int(m), str(movies.loc[m, "title"]), _year(movies.loc[m, "year"])), r)
            for m, r in zip(rows["movie_id"], rows["rating"].astype(float), strict=True)
        ]
        name = f"user-{user.user_id}"
        for start in range(0, len(entries), 500):  # calls of at most 500, in order
            store.rate(
                "default",
                name,
                dataset=rec.dataset_fingerprint,
                ratings=entries[start : start + 500],
            )
        said: dict[str, Any] = {"age": None, "occupation": None, "gender": None}
        if train.has_demographics:
            u = users.loc[user.user_id]
            said = {
                "age": AGE_YEARS[int(u["age"])],
                "occupation": str(u["occupation"]),
                "gender": str(u["gender"]),
            }
        asked = service.recommend("default", name, 10, NO_FILTERS, True, (), **said)
        known = rec.for_user(user.user_id, k=10)
        a = [rec.catalogue.index_of(i.movie_id) for i in known.items]
        b = [rec.catalogue.index_of(i.movie_id) for i in asked.items]
        same += a == b
        top_user.append(a)
        top_profile.append(b)
    n_rel = np.array([len(r) for r in split.relevant])
    ndcg = {
        label: float(ndcg_at_k(hit_matrix(np.array(top), split.relevant), n_rel).mean())
        for label, top in (("by user id", top_user), ("through profiles", top_profile))
    }
    size = (work / "w.db").stat().st_size
    store.close()
    with sqlite3.connect(work / "w.db") as conn:
        stored = conn.execute("SELECT COUNT(*) FROM entries").fetchone()[0]
    return {
        "dataset": dataset_dir.name,
        "users": len(split.users),
        "identical": same,
        "ndcg": ndcg,
        "train_seconds": trained,
        "stored": stored,
        "bytes": size,
    }


def _year(value: Any) -> int | None:
    return None if pd.isna(value) else int(value)


def report(
    model: Path, calls: int, wire: dict[str, list[float]], w: dict[str, Any] | None, size: int
) -> str:
    load = os.getloadavg()
    shown = model.relative_to(REPO) if model.is_relative_to(REPO) else model
    goals = {
        "recommend_for_user (profile of 500 ratings)": 5.0,
        "rate_movies (100 ratings by id, new profile)": 20.0,
    }
    lines = [
        "# Personal profiles through the server",
        "",
        f"Measured {datetime.now(UTC):%Y-%m-%d %H:%M} UTC on {platform.machine()}, "
        f"{os.cpu_count()} cores shared with other jobs (load average {load[0]:.1f} / "
        f"{load[1]:.1f} / {load[2]:.1f} at the end), Python {platform.python_version()}, "
        f"SQLite {sqlite3.sqlite_version}; model bundle `{shown}`.",
        "",
        "Reproduce with `.venv/bin/python bench/bench_profiles.py`.",
        "",
        "## Latency at the wire (stdio)",
        "",
        f"A `movierec serve` child over stdio with a SQLite store (WAL, synchronous=FULL: every "
        f"write waits for the disk), {calls} sequential calls per row after 20 untimed ones; "
        "request line written to answer parsed (`server.launch.wire_session`). The profiles of "
        "500 ratings are ten profiles of 500 popular movies with random stars; each rate_movies "
        "call makes a new profile of 100 other random movies.",
        "",
        "| call | p50 (ms) | p90 | p99 | max | goal |",
        "|---|---:|---:|---:|---:|---|",
    ]
    for label, times in wire.items():
        goal = goals.get(label)
        verdict = "n/a" if goal is None else ("met" if pct(times, 50) <= goal else "**missed**")
        want = f"p50 <= {goal:g} ms: {verdict}" if goal else "measured"
        lines.append(
            f"| {label} | {pct(times, 50):.2f} | {pct(times, 90):.2f} | {pct(times, 99):.2f} | "
            f"{max(times):.2f} | {want} |"
        )
    lines += [
        "",
        f"The store after the run: {size / 1024:.0f} KiB. Database size per 1,000 ratings is "
        "measured by bench/bench_profiles_store.py ([profiles_store.md](profiles_store.md)): "
        "80 KiB on SQLite, 174 KiB on PostgreSQL.",
        "",
    ]
    if w is not None:
        n = w["users"]
        lines += [
            f"{W_HEADING}({w['dataset']})",
            "",
            f"The model trained on W's training part ({w['train_seconds']:.0f} s). Each of the "
            f"{n} evaluated users' training ratings was stored in their time order in a real "
            f"SQLite profile ({w['stored']:,} entries, calls of at most 500; the file "
            f"{w['bytes'] / 1024:.0f} KiB), read back through the server's profile path "
            "(`server.profiles.ProfileService.recommend`, with the user's age, gender and "
            "occupation said as a thin profile's), and recommended from; the same users were "
            "asked by user id.",
            "",
            "| asked | NDCG@10 |",
            "|---|---:|",
            *(f"| {label} | {value:.4f} |" for label, value in w["ndcg"].items()),
            "",
            f"Identical top-10 lists: {w['identical']} of {n} users.",
            "",
        ]
    return "\n".join(lines)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--model", default=None)
    parser.add_argument("--calls", type=int, default=200)
    parser.add_argument("--w-dataset", type=Path, default=SHARED / "ml-100k")
    parser.add_argument("--skip-w", action="store_true")
    args = parser.parse_args()
    model = model_dir(args.model)
    with tempfile.TemporaryDirectory() as tmp:
        store = Path(tmp) / "profiles.db"
        wire = wire_latencies(model, args.calls, store)
        size = store.stat().st_size
        w = None
        if not args.skip_w and args.w_dataset.is_dir():
            w = w_through_profiles(args.w_dataset, Path(tmp))
    text = report(model, args.calls, wire, w, size)
    if w is None and RESULTS.exists() and W_HEADING in RESULTS.read_text(encoding="utf-8"):
        kept = RESULTS.read_text(encoding="utf-8").split(W_HEADING, 1)[1]
        text += W_HEADING + kept.rstrip("\n")  # --skip-w keeps the W numbers already written
    RESULTS.write_text(text + "\n", encoding="utf-8")
    print(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
