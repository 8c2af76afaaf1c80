"""How much the model's NDCG@10 moves with the training seed, and with settings.

    .venv/bin/python bench/bench_seeds.py --dataset ml-100k --protocols WC --seeds 0,1,2
    .venv/bin/python bench/bench_seeds.py --dataset ml-latest-small --protocols W \
        --set temporal_share=1.0

`movierec evaluate` trains once, with seed 0. The targets of issue #3 sit within
a seed's swing of our numbers, so this trains the default model (or the
default with `--set name=value` overrides) once per seed on the same
evaluation splits (split seed 0) and prints each run and the mean. Datasets
come from ../shared/data unless a path is given. With `--out FILE` the table
is appended to FILE as Markdown.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SHARED = ROOT.parent / "shared" / "data"


def _settings(specs: list[str]) -> dict[str, str]:
    settings = {}
    for spec in specs:
        name, sep, raw = spec.partition("=")
        if not sep:
            raise SystemExit(
                f"--set expects NAME=VALUE (names in recsys/training/config.py); got {spec}"
            )
        settings[name.strip()] = raw
    return settings


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--dataset", required=True, help="a name under ../shared/data, or a path")
    p.add_argument("--protocols", default="WC", help="W, C or WC")
    p.add_argument("--seeds", default="0,1,2", help="training seeds, comma-separated")
    p.add_argument("--set", action="append", default=[], metavar="NAME=VALUE")
    p.add_argument("--out", type=Path, default=None, help="append the table to this file")
    args = p.parse_args()

    sys.path.insert(0, str(ROOT))
    from recsys.data.dataset import load_dataset
    from recsys.evaluation.answers import ModelScorer, rank_split
    from recsys.evaluation.splits import make_split
    from recsys.metrics.ranking import ranking_metrics
    from recsys.training import process
    from recsys.training.config import TrainConfig
    from recsys.training.fit import fit

    path = Path(args.dataset) if Path(args.dataset).exists() else SHARED / args.dataset
    if not path.exists():
        raise SystemExit(f"no dataset at {path}; give a path or put it under {SHARED}")
    overrides = _settings(args.set)
    try:
        base = TrainConfig().with_settings(overrides)
        base.check()
    except ValueError as exc:
        raise SystemExit(f"--set: {exc}") from None
    seeds = [int(s) for s in args.seeds.split(",") if s.strip()]
    process.configure()  # what `movierec evaluate` sets: two threads, deterministic kernels
    ds = load_dataset(path)
    splits = {proto: make_split(ds, proto, seed=0) for proto in args.protocols}
    rows = []
    for seed in seeds:
        cfg = base.with_values(seed=seed)
        row = {"seed": seed}
        for proto, split in splits.items():
            t0 = time.perf_counter()
            model = fit(split.train, cfg, progress=False)
            top = rank_split(ModelScorer(model, split.catalogue), split)
            row[proto] = ranking_metrics(top, split.relevant, len(split.catalogue))["ndcg@10"]
            row[f"{proto} s"] = time.perf_counter() - t0
        rows.append(row)
        print(
            "  ".join(
                f"{k}={v:.4f}" if isinstance(v, float) else f"{k}={v}" for k, v in row.items()
            )
        )
    means = {proto: sum(r[proto] for r in rows) / len(rows) for proto in splits}
    print("mean  " + "  ".join(f"{proto}={m:.4f}" for proto, m in means.items()))
    if args.out is not None:
        label = ", ".join(f"{k}={v}" for k, v in overrides.items()) or "defaults"
        cols = list(splits)
        lines = [
            f"\n{path.name}, {label}: NDCG@10 per training seed (splits with seed 0)\n",
            "| seed | " + " | ".join(cols) + " |",
            "|---:|" + "---:|" * len(cols),
            *(f"| {r['seed']} | " + " | ".join(f"{r[c]:.4f}" for c in cols) + " |" for r in rows),
            "| mean | " + " | ".join(f"{means[c]:.4f}" for c in cols) + " |",
        ]
        if not args.out.exists():
            lines = [
                "# Seed spread",
                "",
                "Command: `.venv/bin/python bench/bench_seeds.py --dataset NAME --protocols P "
                "--seeds 0,1,2 [--set name=value] --out bench/results/seeds.md`  ",
                "Each table: one dataset and setting, the model trained once per seed on the "
                "evaluation splits of `movierec evaluate` (split seed 0).",
                *lines,
            ]
        with open(args.out, "a", encoding="utf-8") as f:
            f.write("\n".join(lines) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
