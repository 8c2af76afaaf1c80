"""The validation search that chose the preference score's weight table and head caps
(`recsys.ranking.weights`), reproduced end to end.

    .venv/bin/python bench/choose_ranking.py
    .venv/bin/python bench/choose_ranking.py --datasets ml-100k --seeds 0 --out /tmp/try

For each dataset (default ML-100K and ml-latest-small, from ../shared/data or a
path) and training seed (default 0, 1, 2), the model is trained on protocol C's
training part (split seed 0) exactly as `movierec evaluate` trains it, up to the
point where `fit` holds its validation network and its cold validation users
(where it fits the calibrations); training stops there. Those users only are
ranked, for N = 0, 1, 3, 5 liked movies, over the grid of
`recsys.evaluation.weight_search`; EASE fold-in (λ tuned on the training part as
`movierec evaluate` tunes it) is fitted without them. One configuration is
chosen for both datasets. Writes <out>.json and <out>.md (default
bench/results/choose_ranking) and says whether the choice is the shipped table.
"""

from __future__ import annotations

import argparse
import time
from dataclasses import asdict
from pathlib import Path
from typing import Any

from benchlib import ROOT, command_line, dataset_path, write_report

from recsys.data.dataset import Dataset, load_dataset
from recsys.evaluation import baselines, weight_search
from recsys.evaluation.runner import tune_ease_lambda
from recsys.evaluation.splits import cold_split
from recsys.model.query_model import QueryModel
from recsys.ranking.facts import CatalogueFacts
from recsys.ranking.weights import BY_LIKED
from recsys.training import fit as fitting
from recsys.training import process
from recsys.training.config import TrainConfig
from recsys.training.validation import Validation, split_validation


class _Validated(Exception):
    """Carries fit's validation network out of it; the rest of the training is not needed."""

    def __init__(self, model: QueryModel, facts: CatalogueFacts, validation: Validation) -> None:
        super().__init__("validation network captured")
        self.model, self.facts, self.validation = model, facts, validation


def validation_stage(train: Dataset, config: TrainConfig) -> _Validated:
    """Run `fit` until it calibrates on its validation users, and take what it calibrates with."""
    original = fitting.fit_calibrations

    def capture(model: QueryModel, facts: CatalogueFacts, likes: object, val: Validation) -> Any:
        raise _Validated(model, facts, val)

    fitting.fit_calibrations = capture  # a probe in fit's own namespace, restored below
    try:
        fitting.fit(train, config, progress=False)
    except _Validated as got:
        return got
    finally:
        fitting.fit_calibrations = original
    raise SystemExit("fit never reached its validation users (val_share 0 or too few users?)")


def prepare(name: str, seeds: list[int]) -> tuple[dict[int, list[weight_search.Users]], dict]:
    ds = load_dataset(dataset_path(name))
    split = cold_split(ds, seed=0)
    lam, _ = tune_ease_lambda(split.train)
    by_n: dict[int, list[weight_search.Users]] = {n: [] for n in weight_search.LIKED_SIZES}
    info: dict[str, Any] = {"ease_lambda": lam, "seeds": {}}
    for seed in seeds:
        t0 = time.perf_counter()
        cfg = TrainConfig().with_values(seed=seed)
        got = validation_stage(split.train, cfg)
        fit_ds, _, _ = split_validation(split.train, cfg.loop.val_share, seed)
        ease = baselines.fit_ease(baselines.train_data(fit_ds), lam)
        users = weight_search.from_validation(got.model, got.facts, got.validation, ease)
        for n, u in users.items():
            by_n[n].append(u)
        info["seeds"][seed] = {
            "validation_users": {n: len(u.relevant) for n, u in users.items()},
            "ease_tail": {n: u.ease_tail for n, u in users.items() if n},
            "seconds": round(time.perf_counter() - t0, 1),
        }
        print(f"{name} seed {seed}: {info['seeds'][seed]}", flush=True)
    return by_n, info


def markdown(choices: list[weight_search.Choice], report: dict[str, Any]) -> str:
    lines = [
        "# The preference score's weights, chosen on validation users",
        "",
        f"Command: `{report['command']}`  ",
        f"Datasets: {', '.join(report['datasets'])}; training seeds {report['seeds']} "
        "(protocol C's training part, split seed 0); the training's own cold validation "
        "users, ranked by its validation network. score = a z0 + 1.5 zt + b gfrac + c lpop.",
        "",
        "| N liked | a (z0) | zt | b (gfrac) | c (lpop) | head cap | "
        + " | ".join(f"{d} NDCG / F-tail / EASE F-tail" for d in report["datasets"])
        + " | tail ≥ EASE | shipped |",
        "|---:|---:|---:|---:|---:|---:|" + "---|" * len(report["datasets"]) + "---|---|",
    ]
    for c in choices:
        a, zt, b, lpop = c.setting.weights
        vals = " | ".join(f"{v[0]:.4f} / {v[1]:.4f} / {v[2]:.4f}" for v in c.validation.values())
        same = report["matches_shipped"][str(c.n_liked)]
        lines.append(
            f"| {c.n_liked} | {a} | {zt} | {b} | {lpop} | {c.setting.head_cap or '-'} | {vals} "
            f"| {'yes' if c.tail_constraint_met else 'no'} | {'same' if same else 'differs'} |"
        )
    lines += [
        "",
        "N = 0 has no F-tail (no liked movies, no head cap). Serving maps 2-3 liked movies to "
        "the N = 3 row and 4 or more to N = 5 (`recsys/ranking/weights.py`).",
    ]
    return "\n".join(lines) + "\n"


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--datasets", default="ml-100k,ml-latest-small")
    p.add_argument("--seeds", default="0,1,2")
    p.add_argument("--out", type=Path, default=ROOT / "bench" / "results" / "choose_ranking")
    args = p.parse_args()
    names = [d.strip() for d in args.datasets.split(",") if d.strip()]
    seeds = [int(s) for s in args.seeds.split(",") if s.strip()]
    process.configure()  # what `movierec evaluate` sets: two threads, deterministic kernels
    data, info = {}, {}
    for name in names:
        data[name], info[name] = prepare(name, seeds)
    t0 = time.perf_counter()
    choices = weight_search.choose(data)
    shipped = {
        str(n): tuple(asdict(BY_LIKED[n]).values()) == (*c.setting.weights, c.setting.head_cap)
        for n, c in zip(weight_search.LIKED_SIZES, choices, strict=True)
    }
    report = {
        "command": command_line(),
        "datasets": names,
        "seeds": seeds,
        "grid": {
            "z0": weight_search.Z0,
            "zt": weight_search.ZT,
            "gfrac": weight_search.GFRAC,
            "lpop": weight_search.LPOP,
            "head_caps": weight_search.HEAD_CAPS,
        },
        "choices": [
            {
                "n_liked": c.n_liked,
                "weights": dict(zip(("z0", "zt", "gfrac", "lpop"), c.setting.weights, strict=True)),
                "head_cap": c.setting.head_cap,
                "validation": {
                    d: dict(zip(("ndcg", "tail_ndcg", "ease_tail_ndcg"), v, strict=True))
                    for d, v in c.validation.items()
                },
                "tail_constraint_met": c.tail_constraint_met,
            }
            for c in choices
        ],
        "matches_shipped": shipped,
        "data": info,
        "search_seconds": round(time.perf_counter() - t0, 1),
    }
    write_report(args.out, report, markdown(choices, report))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
