"""Training time and peak memory of the default model.

    .venv/bin/python bench/bench_train.py [--datasets ml-100k,ml-latest-small,synthetic-1m]

ml-100k and ml-latest-small come from ../shared/data; synthetic-1m is an
ML-1M-sized set in the ML-1M file format (6,040 users, 3,706 movies, 1M
ratings, with demographics) built and written by `recsys.data.synthetic`. Each dataset is
trained in its own process so peak RSS is that training's alone. Results go
to bench/results/train.md.
"""

from __future__ import annotations

import argparse
import json
import platform
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SHARED = ROOT.parent / "shared" / "data"


def _one(spec: str) -> dict:
    from recsys.data.dataset import load_dataset
    from recsys.training import process
    from recsys.training.config import TrainConfig
    from recsys.training.fit import fit

    process.configure()  # what `movierec train` sets: two threads, deterministic kernels
    with tempfile.TemporaryDirectory() as tmp:
        if spec == "synthetic-1m":
            from recsys.data.synthetic import synthetic_dataset, write_ml1m

            synthetic = synthetic_dataset(6040, 3706, 1_000_000, seed=0)
            path = write_ml1m(synthetic, Path(tmp) / "synthetic-1m")
        else:
            path = SHARED / spec
        ds = load_dataset(path)
        t0 = time.perf_counter()
        model = fit(ds, TrainConfig(), progress=False)
        seconds = time.perf_counter() - t0
    peak_kb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return {
        "dataset": spec,
        "ratings": len(ds.ratings),
        "seconds": round(seconds, 1),
        "epochs": model.training["epochs_run"],
        "peak_rss_mb": round(peak_kb / 1024),
    }


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--datasets", default="ml-100k,ml-latest-small,synthetic-1m")
    p.add_argument("--one", help=argparse.SUPPRESS)
    p.add_argument("--out", type=Path, default=ROOT / "bench" / "results" / "train.md")
    args = p.parse_args()
    if args.one:
        print(json.dumps(_one(args.one)))
        return 0
    rows = []
    for spec in args.datasets.split(","):
        if spec != "synthetic-1m" and not (SHARED / spec).is_dir():
            print(f"skipping {spec}: {SHARED / spec} is absent", file=sys.stderr)
            continue
        print(f"training on {spec} ...", file=sys.stderr)
        out = subprocess.run(
            [sys.executable, __file__, "--one", spec], capture_output=True, text=True, check=True
        )
        rows.append(json.loads(out.stdout.strip().splitlines()[-1]))
        print(rows[-1], file=sys.stderr)
    lines = [
        "# Training benchmark",
        "",
        f"Command: `.venv/bin/python bench/bench_train.py --datasets {args.datasets}`  ",
        f"Machine: {platform.machine()}, 2 cores; default `TrainConfig` "
        "(validation run with early stopping, then training continues on all ratings "
        "for 70% of the chosen epochs; the epochs column is the chosen count).",
        "",
        "| dataset | ratings | epochs | train time (s) | peak RSS (MB) |",
        "|---|---:|---:|---:|---:|",
    ]
    for r in rows:
        lines.append(
            f"| {r['dataset']} | {r['ratings']:,} | {r['epochs']} | {r['seconds']} "
            f"| {r['peak_rss_mb']} |"
        )
    args.out.write_text("\n".join(lines) + "\n", encoding="utf-8")
    print("\n".join(lines))
    return 0


if __name__ == "__main__":
    sys.exit(main())
