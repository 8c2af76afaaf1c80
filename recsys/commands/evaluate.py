"""`movierec evaluate`: fit the model and every baseline on one dataset's splits and report."""

from __future__ import annotations

import sys
from dataclasses import dataclass
from pathlib import Path

from recsys.data.dataset import load_dataset
from recsys.data.download import resolve_dataset
from recsys.data.errors import DataError
from recsys.evaluation.report import format_table, safe_name
from recsys.evaluation.runner import EvalConfig, evaluate_dataset


@dataclass(frozen=True)
class EvaluateCommand:
    dataset: str  # "default", a known name, or a directory
    config: EvalConfig


def run(command: EvaluateCommand) -> int:
    """Exit status: 0 measured, 2 a mistake in the request (said on stderr)."""
    config = command.config
    try:
        dataset = load_dataset(resolve_dataset(command.dataset))
        result = evaluate_dataset(dataset, config)
    except (DataError, FileNotFoundError, ValueError) as exc:
        print(f"movierec evaluate: {exc}", file=sys.stderr)
        return 2
    print(f"{dataset.name}: {len(dataset.ratings)} ratings, {len(dataset.movies)} movies")
    print(format_table(result))
    if config.out is not None:
        out = Path(config.out)
        print(f"wrote {out / (safe_name(dataset.name) + '.json')}", file=sys.stderr)
        for name in result["plots"]:
            print(f"wrote {out / name}", file=sys.stderr)
    return 0
