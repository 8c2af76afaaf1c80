"""similar_movies, measured: franchise-partner recall@10, genre coherence, cold anchors and how
honest `similarity` is, for the model's `SimilarRanker` beside item-kNN cosine, EASE, the
towers' own similarity (before issue #13) and genre + year alone.

    .venv/bin/python bench/bench_similar.py
    .venv/bin/python bench/bench_similar.py --datasets ml-100k --out /tmp/similar

Per dataset (default ML-100K and ml-latest-small, from ../shared/data or a path):
the model is trained (seed 0) on protocol C's training part (split seed 0), and
every method's co-rating statistics come from that part. Anchors:
- franchise: every member of a franchise group (`recsys.features.franchises`, from
  titles; no method reads title text) with a training rating; recall over all of
  them, those with 10+ ratings, and the held-out half (groups with an odd index:
  the blend's weights were chosen on the even ones);
- coherence: 1,000 random anchors with 5+ ratings (genre Jaccard of the
  neighbours, share sharing a genre); cold: up to 500 with 1-5 ratings.
Reliability: every held-out C user and every movie they liked, paired with each
of its 10 neighbours; predicted = the `similarity` shown, observed = the user
liked the neighbour too; by anchor support and by predicted chance.
Writes <out>.json and <out>.md (default bench/results/similar).
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path
from typing import Any

import numpy as np
from benchlib import ROOT, command_line, dataset_path, write_report

from recsys.data.dataset import load_dataset
from recsys.evaluation import baselines
from recsys.evaluation.runner import tune_ease_lambda
from recsys.evaluation.similar_baselines import (
    ease_rows,
    genre_year,
    item_knn_cosine,
    rated_matrix,
)
from recsys.evaluation.similarity import (
    PREDICTED_BINS,
    SUPPORT_BINS,
    binned,
    calibration_error,
    franchise_recall,
    genre_coherence,
    liked_pairs,
    neighbour_lists,
)
from recsys.evaluation.splits import cold_split
from recsys.model.blend import similarity_directions
from recsys.ranking.facts import catalogue_facts
from recsys.ranking.similar import SimilarRanker
from recsys.training import process
from recsys.training.config import TrainConfig
from recsys.training.fit import fit

K = 10
EXAMPLES = ("Toy Story (1995)", "Star Wars (1977)", "Godfather, The (1972)", "Heat (1995)")


def measure_dataset(name: str, seed: int) -> dict[str, Any]:
    t0 = time.perf_counter()
    ds = load_dataset(dataset_path(name))
    split = cold_split(ds, seed=0)
    movies = split.train.movies
    model = fit(split.train, TrainConfig().with_values(seed=seed), progress=False)
    if not np.array_equal(model.features.movie_ids, movies["movie_id"].to_numpy()):
        raise SystemExit("the model's movies are not in the catalogue's order")
    assert model.ranking is not None and model.item_blend is not None
    titles = [str(t) for t in movies["title"]]
    facts = catalogue_facts(model.features, titles, movies["year"].to_numpy(dtype=object))
    ranker = SimilarRanker(model, model.ranking, facts)
    data = baselines.train_data(split.train)
    rated = rated_matrix(data)
    ratings = rated.sum(0)
    groups = facts.franchises
    rng = np.random.default_rng(0)
    franchise = np.flatnonzero((groups.group >= 0) & (ratings >= 1))
    warm = np.flatnonzero(ratings >= 5)
    cool = np.flatnonzero((ratings >= 1) & (ratings <= 5))
    coherent = np.sort(rng.choice(warm, size=min(1000, len(warm)), replace=False))
    cold = np.sort(rng.choice(cool, size=min(500, len(cool)), replace=False))
    anchors = np.unique(np.concatenate([franchise, coherent, cold]))
    row = {int(a): r for r, a in enumerate(anchors)}
    lam, _ = tune_ease_lambda(split.train)
    directions = similarity_directions(model.movie_embeddings, model.item_blend)
    lists = {
        "recipe (SimilarRanker)": np.stack(
            [_padded(ranker.rank(int(a), K).items) for a in anchors]
        ),
        "item-kNN cosine": neighbour_lists(item_knn_cosine(rated, anchors), anchors, K),
        f"EASE (λ {lam:g})": neighbour_lists(
            ease_rows(baselines.fit_ease(data, lam), anchors), anchors, K
        ),
        "towers before #13": neighbour_lists(directions[anchors] @ directions.T, anchors, K),
        "genre + year only": neighbour_lists(genre_year(data, anchors), anchors, K),
    }
    held_out = np.array([groups.group[a] % 2 == 1 for a in franchise])
    many = ratings[franchise] >= 10
    is_genre = facts.genre_matrix
    methods = {}
    for method, top in lists.items():
        fr = franchise_recall(top[[row[a] for a in franchise]], franchise, groups)
        jac, share = genre_coherence(top[[row[a] for a in coherent]], coherent, is_genre)
        cjac, cshare = genre_coherence(top[[row[a] for a in cold]], cold, is_genre)
        methods[method] = {
            "franchise_recall": float(fr.mean()),
            "franchise_recall_10_ratings": float(fr[many].mean()),
            "franchise_recall_held_out_half": float(fr[held_out].mean()),
            "genre_jaccard": float(jac.mean()),
            "share_sharing_a_genre": float(share.mean()),
            "cold_genre_jaccard": float(cjac.mean()),
            "cold_share_sharing_a_genre": float(cshare.mean()),
        }
        print(f"{name} {method}: {methods[method]}", flush=True)
    return {
        "dataset": ds.name,
        "groups": len(groups.members),
        "franchise_anchors": len(franchise),
        "franchise_anchors_10_ratings": int(many.sum()),
        "franchise_anchors_held_out_half": int(held_out.sum()),
        "coherence_anchors": len(coherent),
        "cold_anchors": len(cold),
        "methods": methods,
        "reliability": reliability(ranker, split, ratings),
        "examples": examples(ranker, movies, facts),
        "seconds": round(time.perf_counter() - t0, 1),
    }


def _padded(items: np.ndarray) -> np.ndarray:
    out = np.full(K, -1, dtype=np.int64)
    out[: len(items)] = items
    return out


def reliability(ranker: SimilarRanker, split: Any, ratings: np.ndarray) -> dict[str, Any]:
    """Predicted `similarity` against what held-out people did, by support and by prediction."""
    liked = list(split.relevant)
    anchors = np.unique(np.concatenate(liked))
    n = len(ratings)
    neighbours = np.full((n, K), -1, dtype=np.int64)
    values = np.zeros((n, K))
    for a in anchors.tolist():
        got = ranker.rank(a, K)
        neighbours[a, : len(got.items)] = got.items
        values[a, : len(got.items)] = got.similarity
    shown, hit, anchor = liked_pairs(neighbours, values, liked)
    observed = hit.astype(np.float64)
    by_support = binned(shown, observed, ratings[anchor], SUPPORT_BINS)
    by_predicted = binned(shown, observed, shown, PREDICTED_BINS)
    return {
        "pairs": int(len(shown)),
        "people": len(liked),
        "ece": calibration_error(by_predicted),
        "by_anchor_support": [b.as_dict() for b in by_support],
        "by_predicted": [b.as_dict() for b in by_predicted],
    }


def examples(ranker: SimilarRanker, movies: Any, facts: Any) -> dict[str, list[str]]:
    titles = [str(t) for t in movies["title"]]
    out = {}
    for title in EXAMPLES:
        if title in titles:
            got = ranker.rank(titles.index(title), 5)
            out[title] = [
                f"{titles[j]} ({s:.2f})" for j, s in zip(got.items, got.similarity, strict=True)
            ]
    return out


def markdown(report: dict[str, Any]) -> str:
    lines = [
        "# similar_movies: franchise partners, genre coherence, honest similarity",
        "",
        f"Command: `{report['command']}`  ",
        "Model: seed 0 on protocol C's training part (split seed 0); every method's "
        "co-rating statistics from that part; no method reads title text.",
    ]
    for d in report["datasets"]:
        lines += [
            "",
            f"## {d['dataset']}",
            "",
            f"{d['groups']} franchise groups; anchors: {d['franchise_anchors']} franchise "
            f"({d['franchise_anchors_10_ratings']} with 10+ ratings, "
            f"{d['franchise_anchors_held_out_half']} in the held-out half), "
            f"{d['coherence_anchors']} for coherence (5+ ratings), {d['cold_anchors']} cold "
            "(1-5 ratings).",
            "",
            "| method | franchise recall@10 (all / 10+ ratings / held-out half) | genre Jaccard "
            "| share sharing a genre | cold: Jaccard / share |",
            "|---|---|---:|---:|---|",
        ]
        for method, m in d["methods"].items():
            lines.append(
                f"| {method} | {m['franchise_recall']:.3f} / "
                f"{m['franchise_recall_10_ratings']:.3f} / "
                f"{m['franchise_recall_held_out_half']:.3f} | {m['genre_jaccard']:.3f} | "
                f"{m['share_sharing_a_genre']:.3f} | {m['cold_genre_jaccard']:.3f} / "
                f"{m['cold_share_sharing_a_genre']:.3f} |"
            )
        r = d["reliability"]
        lines += [
            "",
            f"Reliability of `similarity` ({r['pairs']:,} pairs from {r['people']} held-out "
            f"people; ECE {r['ece']:.3f}):",
            "",
            "| anchor ratings | pairs | mean predicted | observed |",
            "|---|---:|---:|---:|",
        ]
        for b in r["by_anchor_support"]:
            high = "+" if b["high"] == float("inf") else f"-{int(b['high']) - 1}"
            lines.append(
                f"| {int(b['low'])}{high} | {b['pairs']:,} | {b['predicted']:.3f} | "
                f"{b['observed']:.3f} |"
            )
        lines += ["", "| predicted | pairs | mean predicted | observed |", "|---|---:|---:|---:|"]
        for b in r["by_predicted"]:
            lines.append(
                f"| [{b['low']:.2f}, {min(b['high'], 1.0):.2f}) | {b['pairs']:,} | "
                f"{b['predicted']:.3f} | {b['observed']:.3f} |"
            )
        if d["examples"]:
            lines += ["", "Examples (top 5, similarity):", ""]
            lines += [f"- {t} → {'; '.join(v)}" for t, v in d["examples"].items()]
    return "\n".join(lines) + "\n"


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--datasets", default="ml-100k,ml-latest-small")
    p.add_argument("--seed", type=int, default=0, help="training seed (default 0)")
    p.add_argument("--out", type=Path, default=ROOT / "bench" / "results" / "similar")
    args = p.parse_args()
    process.configure()  # what `movierec evaluate` sets: two threads, deterministic kernels
    names = [d.strip() for d in args.datasets.split(",") if d.strip()]
    report = {
        "command": command_line(),
        "datasets": [measure_dataset(name, args.seed) for name in names],
    }
    write_report(args.out, report, markdown(report))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
