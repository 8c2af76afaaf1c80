"""Time `recsys.data.load_dataset` on real MovieLens data; write bench/results/load.md.

    .venv/bin/python bench/bench_load.py                 # ml-100k + ml-latest-small
    .venv/bin/python bench/bench_load.py --runs 9
    .venv/bin/python bench/bench_load.py --synthetic 25000000   # + an ML-25M-sized CSV

Goals: ML-100K and ml-latest-small each load in under 2 s; an ML-25M-sized
CSV dataset loads in tens of seconds. `--synthetic N` writes N random
half-star ratings over the ml-latest-small movies to a temporary directory
(deleted afterwards) and times one load of it, as ML-25M itself is not
shipped.
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import sys
import tempfile
import time
import warnings
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import pandas as pd

from recsys.data.dataset import load_dataset
from recsys.data.errors import DataWarning
from recsys.data.paths import default_dataset_path

REPO = Path(__file__).resolve().parents[1]
SHARED = REPO.parent / "shared" / "data"
RESULTS = REPO / "bench" / "results" / "load.md"


@dataclass(frozen=True)
class Timing:
    dataset: str
    ratings: int
    runs: int
    best_s: float
    median_s: float


def time_load(path: Path, runs: int) -> Timing:
    times = []
    ds = None
    for _ in range(runs):
        start = time.perf_counter()
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", DataWarning)
            ds = load_dataset(path)
        times.append(time.perf_counter() - start)
    assert ds is not None
    return Timing(ds.name, len(ds.ratings), runs, min(times), statistics.median(times))


def write_synthetic(root: Path, n_ratings: int, seed: int = 0) -> Path:
    """An ML-25M-sized CSV dataset: real movies.csv, random ratings.csv."""
    source = default_dataset_path()
    root.mkdir(parents=True, exist_ok=True)
    (root / "movies.csv").write_bytes((source / "movies.csv").read_bytes())
    movie_ids = pd.read_csv(source / "movies.csv", usecols=["movieId"])["movieId"].to_numpy()
    rng = np.random.default_rng(seed)
    n_users = max(n_ratings // 150, 1)  # ML-25M: ~162k users for 25M ratings
    chunk = 2_000_000
    with (root / "ratings.csv").open("w") as fh:
        fh.write("userId,movieId,rating,timestamp\n")
        for start in range(0, n_ratings, chunk):
            n = min(chunk, n_ratings - start)
            frame = pd.DataFrame(
                {
                    "userId": np.sort(rng.integers(1, n_users + 1, n)),
                    "movieId": rng.choice(movie_ids, n),
                    "rating": rng.integers(1, 11, n) / 2,
                    "timestamp": rng.integers(789_652_009, 1_574_327_703, n),
                }
            )
            frame.to_csv(fh, header=False, index=False, float_format="%.1f")
    return root


def machine() -> str:
    # Other jobs share these cores; the load average says how contended the numbers are.
    load = ", ".join(f"{x:.1f}" for x in os.getloadavg())
    return (
        f"{platform.processor() or platform.machine()}, {os.cpu_count()} cores "
        f"(shared with other jobs; load average {load} when written), "
        f"Python {platform.python_version()}, pandas {pd.__version__}"
    )


def render(timings: list[Timing], command: str) -> str:
    lines = [
        "# Dataset loading time",
        "",
        f"Measured {datetime.now(UTC):%Y-%m-%d %H:%M} UTC on {machine()}.",
        "",
        "Reproduce with:",
        "",
        "```",
        command,
        "```",
        "",
        "Goal: ML-100K and ml-latest-small under 2 s each; an ML-25M-sized CSV in tens of seconds.",
        "Times are wall-clock for the whole `load_dataset` call (parse, validate, normalise).",
        "",
        "| dataset | ratings | runs | best (s) | median (s) |",
        "|---|---:|---:|---:|---:|",
    ]
    for t in timings:
        lines.append(
            f"| {t.dataset} | {t.ratings:,} | {t.runs} | {t.best_s:.3f} | {t.median_s:.3f} |"
        )
    if any(t.dataset.startswith("synthetic-") for t in timings):
        lines += [
            "",
            "synthetic-N: N random half-star ratings by N/150 users over ml-latest-small's",
            "movies, written to a temporary directory (ML-25M itself is not shipped). Random",
            "pairs repeat, so the load also removes duplicates; the ratings column shows what",
            "was left. One run only: it is minutes of work on shared cores.",
        ]
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=7, help="timed loads per dataset")
    parser.add_argument(
        "--synthetic",
        type=int,
        default=0,
        metavar="N",
        help="also time one load of a synthetic CSV dataset with N ratings",
    )
    parser.add_argument("--out", type=Path, default=RESULTS, help="markdown file to write")
    args = parser.parse_args(argv)

    targets = [("ml-100k", SHARED / "ml-100k"), ("ml-latest-small", default_dataset_path())]
    timings = []
    for label, path in targets:
        if not path.is_dir():
            print(f"skipping {label}: {path} not found", file=sys.stderr)
            continue
        timings.append(time_load(path, args.runs))
    if args.synthetic:
        with tempfile.TemporaryDirectory() as tmp:
            print(f"writing {args.synthetic:,} synthetic ratings...", file=sys.stderr)
            root = write_synthetic(Path(tmp) / f"synthetic-{args.synthetic}", args.synthetic)
            timings.append(time_load(root, 1))

    header = f"{'dataset':<28}{'ratings':>12}{'runs':>6}{'best s':>10}{'median s':>10}"
    print(header)
    for t in timings:
        print(f"{t.dataset:<28}{t.ratings:>12,}{t.runs:>6}{t.best_s:>10.3f}{t.median_s:>10.3f}")

    command = (
        ".venv/bin/python bench/bench_load.py"
        + (" " + " ".join(argv if argv is not None else sys.argv[1:])).rstrip()
    )
    args.out.parent.mkdir(parents=True, exist_ok=True)
    tmp_out = args.out.with_suffix(".md.tmp")
    tmp_out.write_text(render(timings, command))
    tmp_out.replace(args.out)
    print(f"wrote {args.out}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
