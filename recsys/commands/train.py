"""`movierec train`: load a dataset, train the model and write a bundle, failing early.

The destination and the evaluation report are checked before training, so a
mistake costs seconds, not a training run.
"""

from __future__ import annotations

import json
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from recsys.bundle.manifest import BundleError
from recsys.bundle.write import check_destination, write_bundle
from recsys.data.dataset import load_dataset
from recsys.data.download import resolve_dataset
from recsys.data.errors import DataError
from recsys.training.config import TrainConfig
from recsys.training.fit import fit


@dataclass(frozen=True)
class TrainCommand:
    dataset: str  # "default", a known name, or a directory
    out: Path
    train: TrainConfig = field(default_factory=TrainConfig)
    evaluation: Path | None = None  # a `movierec evaluate` report for the model card
    progress: bool = True


def evaluation_summary(report_path: Path | None) -> dict[str, Any]:
    """The per-protocol metrics of every method from an evaluation report, if given."""
    if report_path is None:
        return {}
    report = json.loads(Path(report_path).read_text(encoding="utf-8"))
    return {
        "dataset": report["dataset"],
        "command": report.get("command", ""),
        "protocols": report["metrics"],
    }


def run(command: TrainCommand) -> int:
    """Exit status: 0 written, 2 a mistake in the request (said on stderr)."""
    try:
        command.train.check()
        check_destination(command.out)
        dataset = load_dataset(resolve_dataset(command.dataset))
    except (BundleError, DataError, FileNotFoundError, ValueError) as exc:
        print(f"movierec train: {exc}", file=sys.stderr)
        return 2
    try:
        evaluation = evaluation_summary(command.evaluation)
    except (OSError, ValueError, KeyError) as exc:
        print(
            f"movierec train: cannot read --evaluation {command.evaluation}: {exc}",
            file=sys.stderr,
        )
        return 2
    try:
        model = fit(dataset, command.train, progress=command.progress)
    except ValueError as exc:
        print(f"movierec train: {exc}", file=sys.stderr)
        return 2
    val = model.curves.get("val_ndcg") or []
    evaluation["validation"] = {
        "ndcg@10": max(val) if val else None,
        "note": "mean of warm (last 10% of each user's ratings) and cold (10% of users held "
        "out, described by stated genres and demographics) NDCG@10 on the validation slice",
    }
    try:
        out = write_bundle(model, dataset, command.out, evaluation=evaluation)
    except BundleError as exc:
        print(f"movierec train: {exc}", file=sys.stderr)
        return 2
    secs = model.training["seconds"]
    print(f"trained on {dataset.name} in {secs:.1f} s; bundle written to {out}")
    return 0
