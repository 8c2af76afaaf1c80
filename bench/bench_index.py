"""Annoy vs exact search: recall@10 and latency, to choose n_trees and search_k.

For each model (a bundle directory, or ML-100K trained here on the fly) it
builds indexes over a grid of n_trees and search_k_per_item and measures,
against the exact numpy top-10:

  movies  every movie's own embedding as the query
  users   the user-tower vectors of known users (up to --max-users)
  mixed   synthetic user-like vectors: a few random liked movies averaged, plus noise
  unseen  user vectors excluding the movies that user rated (the for_user path)
  genre   user vectors with a one-genre filter (the over-fetch + fallback path)

Latency is per single query through `MovieIndex.query` (Annoy candidates plus
exact cosine re-scoring), next to `MovieIndex.exact_query` (one numpy pass).

With --recommender, each bundle is also loaded as a `Recommender` (default
index settings) and every public call is timed end to end (no MCP).

  .venv/bin/python bench/bench_index.py --bundle models/default \
      --ml100k /work/shared/data/ml-100k --out bench/results/index.md
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from tqdm import tqdm

from recsys.bundle.index import MovieIndex, build_index

K = 10


@dataclass(frozen=True)
class Model:
    name: str
    movie_emb: np.ndarray
    user_emb: np.ndarray
    unseen_masks: list[np.ndarray]  # per user vector: movies that user has not rated
    genre_masks: list[np.ndarray]


def _user_vectors(model, max_users: int, seed: int) -> tuple[np.ndarray, list[np.ndarray]]:
    rng = np.random.default_rng(seed)
    ids = model.features.user_ids
    pick = rng.choice(ids, size=min(max_users, len(ids)), replace=False)
    queries = [model.known_user_query(int(u)) for u in pick]
    out = [model.embed_queries(queries[i : i + 256]) for i in range(0, len(queries), 256)]
    unseen = []
    for u in pick:
        mask = np.ones(model.features.n_movies, dtype=bool)
        mask[model.user_history(int(u))[0]] = False
        unseen.append(mask)
    return np.concatenate(out), unseen


def _genre_masks(model) -> list[np.ndarray]:
    genres = np.asarray(model.features.movie_genres) > 0
    return [genres[:, j] for j in range(genres.shape[1]) if genres[:, j].sum() >= K]


def from_bundle(path: Path, max_users: int, seed: int) -> Model:
    from recsys.bundle.load import load_bundle

    b = load_bundle(path)
    users, unseen = _user_vectors(b.model, max_users, seed)
    return Model(
        f"{b.dataset_name} (bundle {path})",
        b.model.movie_embeddings,
        users,
        unseen,
        _genre_masks(b.model),
    )


def from_training(data: Path, epochs: int, max_users: int, seed: int) -> Model:
    from recsys.data.dataset import load_dataset
    from recsys.training import process
    from recsys.training.config import TrainConfig
    from recsys.training.fit import fit

    process.configure()  # what `movierec train` sets: two threads, deterministic kernels
    dataset = load_dataset(data)
    t0 = time.perf_counter()
    model = fit(dataset, TrainConfig().with_values(epochs=epochs, seed=seed))
    print(f"trained {dataset.name} in {time.perf_counter() - t0:.0f} s", file=sys.stderr)
    users, unseen = _user_vectors(model, max_users, seed)
    return Model(
        f"{dataset.name} (trained here, {epochs} epochs max)",
        model.movie_embeddings,
        users,
        unseen,
        _genre_masks(model),
    )


def mixed_vectors(emb: np.ndarray, n: int, seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    out = np.empty((n, emb.shape[1]), dtype=np.float32)
    for i in range(n):
        liked = rng.choice(len(emb), size=int(rng.integers(1, 8)), replace=False)
        v = emb[liked].mean(0) + 0.05 * rng.normal(size=emb.shape[1])
        out[i] = v / np.linalg.norm(v)
    return out


def measure(
    index: MovieIndex, queries: np.ndarray, masks: list[np.ndarray] | None, k: int = K
) -> dict:
    recalls, t_annoy, t_exact = [], [], []
    for qi, v in enumerate(queries):
        mask = None if masks is None else masks[qi % len(masks)]
        t = time.perf_counter()
        # Unfiltered sets pin search_k so Annoy itself is measured (by default a
        # catalogue smaller than the candidate pool is scored exactly instead).
        search_k = index.search_k(k) if mask is None else None
        got, _ = index.query(v, k, allowed=mask, search_k=search_k)
        t_annoy.append(time.perf_counter() - t)
        t = time.perf_counter()
        want, _ = index.exact_query(v, k, allowed=mask)
        t_exact.append(time.perf_counter() - t)
        recalls.append(len(set(got.tolist()) & set(want.tolist())) / max(1, len(want)))
    ta, te = np.asarray(t_annoy) * 1e3, np.asarray(t_exact) * 1e3
    return {
        "recall": float(np.mean(recalls)),
        "min_recall": float(np.min(recalls)),
        "p50_ms": float(np.percentile(ta, 50)),
        "p99_ms": float(np.percentile(ta, 99)),
        "exact_p50_ms": float(np.percentile(te, 50)),
    }


def bench_model(model: Model, grid: list[tuple[int, int]], seed: int, max_movies: int) -> list:
    rows = []
    rng = np.random.default_rng(seed)
    movies = model.movie_emb
    if len(movies) > max_movies:
        movie_q = movies[rng.choice(len(movies), max_movies, replace=False)]
    else:
        movie_q = movies
    sets = {
        "movies": (movie_q, None),
        "users": (model.user_emb, None),
        "mixed": (mixed_vectors(movies, len(model.user_emb), seed), None),
        "unseen": (model.user_emb, model.unseen_masks),
        "genre": (model.user_emb, model.genre_masks),
    }
    with tempfile.TemporaryDirectory() as tmp:
        for n_trees, per_item in tqdm(grid, desc=model.name[:30], file=sys.stderr):
            path = Path(tmp) / f"i{n_trees}-{per_item}.ann"
            t0 = time.perf_counter()
            info = build_index(movies, path, n_trees=n_trees, search_k_per_item=per_item)
            build_s = time.perf_counter() - t0
            index = MovieIndex.open(path)
            # A few neighbours ask Annoy for fewer candidates (search_k scales
            # with k down to MIN_SEARCH_K): the serving path for k < 10.
            runs = [(name, queries, masks, K) for name, (queries, masks) in sets.items()]
            runs += [
                (f"{name} k = {k}", sets[name][0], None, k)
                for name in ("movies", "users")
                for k in (1, 3)
            ]
            for set_name, queries, masks, k in runs:
                r = measure(index, queries, masks, k)
                rows.append(
                    {
                        "model": model.name,
                        "n_trees": n_trees,
                        "search_k_per_item": per_item,
                        "set": set_name,
                        "n_queries": len(queries),
                        "index_mb": info.file_bytes / 1e6,
                        "build_s": build_s,
                        **r,
                    }
                )
            index.close()
    return rows


def to_markdown(rows: list[dict], header: str) -> str:
    lines = [header, ""]
    models = list(dict.fromkeys(r["model"] for r in rows))
    for name in models:
        sub = [r for r in rows if r["model"] == name]
        n_movies = sub[0].get("n_movies", "")
        lines += [f"### {name} {n_movies}", ""]
        lines.append(
            "| n_trees | search_k/item | index MB | build s | set | queries "
            "| recall@k (k = 10 unless the set says) | min recall "
            "| p50 ms | p99 ms | exact p50 ms |"
        )
        lines.append("|---:|---:|---:|---:|---|---:|---:|---:|---:|---:|---:|")
        for r in sub:
            lines.append(
                f"| {r['n_trees']} | {r['search_k_per_item']} | {r['index_mb']:.1f} "
                f"| {r['build_s']:.2f} | {r['set']} | {r['n_queries']} | {r['recall']:.4f} "
                f"| {r['min_recall']:.1f} | {r['p50_ms']:.3f} | {r['p99_ms']:.3f} "
                f"| {r['exact_p50_ms']:.3f} |"
            )
        lines.append("")
    return "\n".join(lines)


def bench_recommender(path: Path, n: int = 300) -> str:
    from recsys.serving.filters import Filters
    from recsys.serving.recommender import Recommender

    t0 = time.perf_counter()
    rec = Recommender.load(path)
    load_s = time.perf_counter() - t0
    users = rec.bundle.model.features.user_ids
    movie_ids = rec.bundle.movies["movie_id"].to_numpy()
    popular = rec.bundle.movies.sort_values("n_ratings", ascending=False)["title"].tolist()[:50]
    queries = ["the matrix", "godfather 2", "shawshenk redemption", "star wars", "heat 1995"]
    calls = {
        "for_user": lambda i: rec.for_user(int(users[i % len(users)])),
        "for_user, genre filter": lambda i: rec.for_user(
            int(users[i % len(users)]), filters=Filters(genres=("Horror",))
        ),
        "for_preferences, genres + demographics": lambda i: rec.for_preferences(
            ["Comedy", "Romance"], age=30, occupation="engineer", gender="F"
        ),
        "for_preferences, 2 liked titles": lambda i: rec.for_preferences(
            ["Sci-Fi"], liked_movies=[popular[i % 50], popular[(i + 7) % 50]]
        ),
        "similar_movies by id": lambda i: rec.similar_movies(int(movie_ids[i % len(movie_ids)])),
        "similar_movies, year filter": lambda i: rec.similar_movies(
            int(movie_ids[i % len(movie_ids)]), filters=Filters(year_min=1990, year_max=1999)
        ),
        "search (title)": lambda i: rec.search(queries[i % len(queries)]),
    }
    lines = [
        f"### Recommender calls on {rec.bundle.dataset_name} (bundle {path})",
        "",
        f"Recommender.load: {load_s:.2f} s (verify checksums, load model, build title index).",
        "",
        "| call | n | p50 ms | p99 ms |",
        "|---|---:|---:|---:|",
    ]
    for name, call in calls.items():
        times = []
        for i in range(n):
            t = time.perf_counter()
            call(i)
            times.append(time.perf_counter() - t)
        ms = np.asarray(times) * 1e3
        lines.append(
            f"| {name} | {n} | {np.percentile(ms, 50):.2f} | {np.percentile(ms, 99):.2f} |"
        )
    return "\n".join(lines + [""])


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("--bundle", type=Path, action="append", default=[], help="bundle directory")
    p.add_argument("--ml100k", type=Path, default=None, help="train on this ML-100K directory")
    p.add_argument("--epochs", type=int, default=200, help="epoch cap when training (early stop)")
    p.add_argument("--trees", default="5,10,20", help="n_trees values")
    p.add_argument("--per-item", default="200,400,600", help="search_k_per_item values")
    p.add_argument("--max-users", type=int, default=500)
    p.add_argument("--max-movies", type=int, default=20000, help="cap on movie queries")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--recommender", action="store_true", help="also time Recommender calls")
    p.add_argument("--out", type=Path, default=None, help="write markdown here (else stdout)")
    args = p.parse_args(argv)
    grid = [(int(t), int(s)) for t in args.trees.split(",") for s in args.per_item.split(",")]
    models = [from_bundle(b, args.max_users, args.seed) for b in args.bundle]
    if args.ml100k is not None:
        models.append(from_training(args.ml100k, args.epochs, args.max_users, args.seed))
    if not models:
        p.error("give --bundle and/or --ml100k")
    rows = []
    for m in models:
        for r in bench_model(m, grid, args.seed, args.max_movies):
            r["n_movies"] = f"({len(m.movie_emb)} movies, dim {m.movie_emb.shape[1]})"
            rows.append(r)
    text = to_markdown(rows, "## Measurements")
    if args.recommender:
        text += "\n" + "\n".join(bench_recommender(b) for b in args.bundle)
    if args.out:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(text + "\n", encoding="utf-8")
        print(f"wrote {args.out}", file=sys.stderr)
    else:
        print(text)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
