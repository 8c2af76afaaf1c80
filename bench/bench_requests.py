"""Request adherence: do recommendations from stated preferences honour what was asked?

    .venv/bin/python bench/bench_requests.py                       # shipped model and ML-100K
    .venv/bin/python bench/bench_requests.py --models shipped --out /tmp/requests

For each model (`shipped`: models/default on the embedded ml-latest-small;
`ml-100k`: a bundle trained by `movierec train --dataset ../shared/data/ml-100k`
into --ml100k-bundle, trained there first when missing, never inside the
project), every genre stated alone and every persona of bench/personas.json
(32 requests written before any tuning, kept unchanged) is ranked by the model's
`PreferenceRanker`, as the server ranks them. Reported: in-genre share of the top
10, median rating count of each list's movies, share among the 100 most-rated
movies, the title in most lists, distinct titles, the most of one franchise per
list, liked / disliked / excluded movies listed; and every "because you liked X"
re-checked against a co-like lift counted here from the dataset's raw ratings
(`recsys.evaluation.colikes`), with the share of reasons citing a liked movie
when liked movies are given. Writes <out>.json and <out>.md (default
bench/results/requests).
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from benchlib import ROOT, SHARED, command_line, write_report

from recsys.bundle.load import load_bundle
from recsys.bundle.manifest import dataset_fingerprint
from recsys.data.dataset import Dataset, load_dataset
from recsys.data.paths import default_dataset_path, default_model_path
from recsys.evaluation.adherence import (
    FRANCHISE_CAP,
    Answered,
    Asked,
    Facts,
    list_facts,
    reason_check,
    variety,
)
from recsys.evaluation.colikes import LIFT_MIN, SUPPORT_MIN, CoLikes
from recsys.evaluation.personas import (
    Catalogue,
    answer,
    load_personas,
    persona_request,
    single_genre_requests,
)
from recsys.ranking.facts import catalogue_facts
from recsys.ranking.preferences import PreferenceRanker

PERSONAS = ROOT / "bench" / "personas.json"
ML100K_BUNDLE = Path("/tmp/movierec-bench/ml-100k")


def bundle_and_data(name: str, ml100k_bundle: Path) -> tuple[Path, Dataset]:
    if name == "shipped":
        return default_model_path(), load_dataset(default_dataset_path())
    if name != "ml-100k":
        raise SystemExit(f"unknown model {name!r}: shipped or ml-100k")
    data = SHARED / "ml-100k"
    if not (ml100k_bundle / "manifest.json").exists():
        print(f"training the ML-100K model into {ml100k_bundle}", flush=True)
        movierec = Path(sys.executable).parent / "movierec"
        cmd = [str(movierec), "train", "--dataset", str(data), "--out", str(ml100k_bundle)]
        subprocess.run([*cmd, "--no-progress"], check=True)
    return ml100k_bundle, load_dataset(data)


def facts_of(dataset: Dataset, catalogue: Catalogue) -> Facts:
    """The report's own view of the catalogue: rating counts counted from the raw ratings."""
    ids = pd.Index(dataset.movies["movie_id"].to_numpy(dtype=np.int64))
    idx = ids.get_indexer(dataset.ratings["movie_id"].to_numpy(dtype=np.int64))
    return Facts(
        titles=catalogue.titles,
        genre_names=catalogue.facts.genres,
        genres=catalogue.facts.genre_matrix,
        ratings=np.bincount(idx[idx >= 0], minlength=len(ids)),
        franchises=catalogue.facts.franchises,
    )


def measure_model(name: str, ml100k_bundle: Path) -> dict[str, Any]:
    t0 = time.perf_counter()
    path, dataset = bundle_and_data(name, ml100k_bundle)
    bundle = load_bundle(path)
    model = bundle.model
    if bundle.manifest["dataset"]["fingerprint"] != dataset_fingerprint(dataset):
        raise SystemExit(f"{path} was not trained on {dataset.name} as loaded here")
    if model.ranking is None:
        raise SystemExit(f"{path} has no ranking artifacts; retrain it with movierec train")
    titles = [str(t) for t in dataset.movies["title"]]
    if not np.array_equal(dataset.movies["movie_id"].to_numpy(), model.features.movie_ids):
        raise SystemExit("the dataset's movies are not the model's, in its order")
    facts = catalogue_facts(model.features, titles, dataset.movies["year"].to_numpy(dtype=object))
    ranker = PreferenceRanker(model, model.ranking, facts)
    catalogue = Catalogue(
        facts, titles, tuple(model.features.occupations), bool(model.features.has_demographics)
    )
    report_facts = facts_of(dataset, catalogue)
    colikes = CoLikes.of(dataset)

    single: list[tuple[Asked, Answered]] = []
    for asked, request in single_genre_requests(catalogue):
        single.append((asked, answer(ranker, request)))
    personas: list[tuple[Asked, Answered]] = []
    skipped = {}
    for persona in load_personas(PERSONAS):
        built = persona_request(persona, catalogue)
        if isinstance(built, str):
            skipped[persona["id"]] = built
            continue
        personas.append((built[0], answer(ranker, built[1])))

    single_rows = []
    for asked, got in single:
        row = list_facts(asked, got, report_facts)
        row["movies_in_genre"] = catalogue.carried(asked.genres[0])
        single_rows.append(row)
    persona_rows = [list_facts(a, g, report_facts) for a, g in personas]
    for row, (asked, got) in zip(persona_rows, personas, strict=True):
        row["liked_given"] = len(asked.liked)
        row["reasons_citing_liked"] = sum(c is not None for c in got.cited)
    full = [r for r in single_rows if r["movies_in_genre"] >= 10]
    items = sum(r["n"] for r in persona_rows)
    plain = [r for r in persona_rows if not r["exception"]]
    reasons = reason_check(
        [a for a, _ in personas] + [a for a, _ in single],
        [g for _, g in personas] + [g for _, g in single],
        colikes,
        report_facts,
    )
    return {
        "model": name,
        "bundle": str(path.relative_to(ROOT)) if path.is_relative_to(ROOT) else str(path),
        "dataset": dataset.name,
        "single_genre": {
            "lists": single_rows,
            "summary": {
                "genres": len(single_rows),
                "with_10_movies": len(full),
                "below_9_in_genre": [r["name"] for r in full if r["in_genre"] < 9],
                "min_in_genre": min(r["in_genre"] for r in full),
                "min_median_ratings": min(r["median_ratings"] for r in single_rows),
                "max_unnamed_franchise": max(r["max_unnamed_franchise"] for r in single_rows),
                **variety([g for _, g in single], report_facts),
            },
        },
        "personas": {
            "lists": persona_rows,
            "skipped": skipped,
            "summary": {
                "personas": len(persona_rows),
                "in_stated_genre_share": sum(r["in_genre"] for r in persona_rows) / max(items, 1),
                "in_stated_genre_share_without_exception": sum(r["in_genre"] for r in plain)
                / max(sum(r["n"] for r in plain), 1),
                "exceptions": [r["name"] for r in persona_rows if r["exception"]],
                "exceptions_without_liked": [
                    r["name"] for r in persona_rows if r["exception"] and not r["liked_given"]
                ],
                "max_unnamed_franchise": max(r["max_unnamed_franchise"] for r in persona_rows),
                "listed_liked_disliked_or_excluded": sum(
                    len(r["listed_liked"]) + len(r["listed_disliked"]) + len(r["listed_excluded"])
                    for r in persona_rows
                ),
                **variety([g for _, g in personas], report_facts),
            },
        },
        "reasons": reasons,
        "seconds": round(time.perf_counter() - t0, 1),
    }


def _met(ok: bool) -> str:
    return "met" if ok else "**not met**"


def markdown(report: dict[str, Any]) -> str:
    lines = [
        "# Request adherence: genres, fame, variety, franchises, true reasons",
        "",
        f"Command: `{report['command']}`  ",
        "Requests: every genre stated alone, and the 32 personas of `bench/personas.json` "
        "(written before tuning, unchanged), ranked by each model's `PreferenceRanker`. "
        f"Reasons re-checked on co-like lift ≥ {LIFT_MIN} with ≥ {SUPPORT_MIN} co-likers, "
        "counted here from the raw ratings.",
    ]
    for m in report["models"]:
        s, p, r = m["single_genre"]["summary"], m["personas"]["summary"], m["reasons"]
        share = r["share_citing_liked_when_liked_given"]
        lines += [
            "",
            f"## {m['model']} ({m['dataset']}, `{m['bundle']}`)",
            "",
            "| target | measured | |",
            "|---|---|---|",
            f"| one genre stated alone: ≥ 9 of 10 in it (genres with 10+ movies) | lowest "
            f"{s['min_in_genre']}/10 over {s['with_10_movies']} genres; below 9: "
            f"{', '.join(s['below_9_in_genre']) or 'none'} | {_met(not s['below_9_in_genre'])} |",
            f"| well known: each list's median movie ≥ 10 ratings | lowest median "
            f"{s['min_median_ratings']:g} | {_met(s['min_median_ratings'] >= 10)} |",
            f"| personas: ≥ 85% in a stated genre | {p['in_stated_genre_share']:.1%} "
            f"({p['in_stated_genre_share_without_exception']:.1%} without the exception lists "
            f"{', '.join(p['exceptions']) or '-'}) | {_met(p['in_stated_genre_share'] >= 0.85)} |",
            f"| the exception never without liked movies | "
            f"{', '.join(p['exceptions_without_liked']) or 'never'} | "
            f"{_met(not p['exceptions_without_liked'])} |",
            f"| no title in more than a quarter of the one-genre lists | "
            f"{s['most_frequent_title']} in {s['most_frequent_lists']} of {s['lists']} "
            f"(limit {s['quarter_of_lists']:g}) | "
            f"{_met(s['most_frequent_lists'] <= s['quarter_of_lists'])} |",
            f"| at most {FRANCHISE_CAP} of one franchise per list (not named by the request) | "
            f"one-genre {s['max_unnamed_franchise']}, personas {p['max_unnamed_franchise']} | "
            f"{_met(max(s['max_unnamed_franchise'], p['max_unnamed_franchise']) <= FRANCHISE_CAP)}"
            " |",
            f"| liked, disliked, excluded never listed | {p['listed_liked_disliked_or_excluded']} "
            f"listed | {_met(p['listed_liked_disliked_or_excluded'] == 0)} |",
            f"| every 'because you liked X' true | {r['reasons_citing_a_liked_movie']} cited, "
            f"{len(r['violations'])} false | {_met(not r['violations'])} |",
            f"| with liked movies, ≥ 50% of reasons cite one | "
            f"{'-' if share is None else f'{share:.1%}'} | "
            f"{_met(share is not None and share >= 0.5)} |",
            "",
            f"Top-100 most-rated share: one-genre lists {s['most_rated_share']:.2f}, personas "
            f"{p['most_rated_share']:.2f}. Distinct titles: one-genre {s['distinct_titles']} "
            f"over {s['lists']} lists, personas {p['distinct_titles']} over {p['lists']}; "
            f"the persona title in most lists: {p['most_frequent_title']} "
            f"({p['most_frequent_lists']}).",
        ]
        if m["personas"]["skipped"]:
            skipped = "; ".join(f"{k}: {v}" for k, v in m["personas"]["skipped"].items())
            lines.append(f"Skipped here: {skipped}.")
        lines += [
            "",
            "| genre | in genre | movies in genre | median ratings | top-100 share | "
            "first titles |",
            "|---|---:|---:|---:|---:|---|",
        ]
        for row in m["single_genre"]["lists"]:
            lines.append(
                f"| {row['name']} | {row['in_genre']}/{row['n']} | {row['movies_in_genre']} | "
                f"{row['median_ratings']:g} | {row['most_rated_share']:.1f} | "
                f"{'; '.join(row['titles'][:3])} |"
            )
        lines += [
            "",
            "| persona | genres | liked | in genre | reasons citing liked | exception | "
            "first titles |",
            "|---|---|---:|---:|---:|---|---|",
        ]
        for row in m["personas"]["lists"]:
            lines.append(
                f"| {row['name']} | {', '.join(row['genres'])} | {row['liked_given']} | "
                f"{row['in_genre']}/{row['n']} | {row['reasons_citing_liked']} | "
                f"{row['note'] or '-'} | {'; '.join(row['titles'][:3])} |"
            )
    return "\n".join(lines) + "\n"


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--models", default="shipped,ml-100k")
    p.add_argument("--ml100k-bundle", type=Path, default=ML100K_BUNDLE)
    p.add_argument("--out", type=Path, default=ROOT / "bench" / "results" / "requests")
    args = p.parse_args()
    names = [m.strip() for m in args.models.split(",") if m.strip()]
    report = {
        "command": command_line(),
        "models": [measure_model(name, args.ml100k_bundle) for name in names],
    }
    write_report(args.out, report, markdown(report))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
