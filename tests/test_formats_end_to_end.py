"""`movierec train` and `movierec evaluate` on every supported dataset format.

One synthetic dataset (`recsys.data.synthetic`, with planted tastes and
demographics) is written as ML-1M `.dat` files, as ML-100K `u.*` files and as
the CSV layout of ml-latest-small / ML-25M / ML-32M. Each is trained into a
bundle that must load and answer, and evaluated by the same command the
README documents.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from recsys.bundle.load import load_bundle
from recsys.data.dataset import Dataset
from recsys.data.synthetic import WRITERS, synthetic_dataset
from recsys.serving.recommender import Recommender
from server.cli import main

FORMATS = tuple(WRITERS)


@pytest.fixture(scope="module")
def dataset() -> Dataset:
    return synthetic_dataset(n_users=120, n_movies=150, n_ratings=5_000, seed=3)


@pytest.fixture(scope="module")
def datasets(dataset: Dataset, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    base = tmp_path_factory.mktemp("formats")
    return {fmt: write(dataset, base / fmt) for fmt, write in WRITERS.items()}


@pytest.mark.slow  # trains a model per format
@pytest.mark.parametrize("fmt", FORMATS)
def test_train_then_serve_on_every_format(dataset, datasets, fmt, tmp_path, capsys) -> None:
    out = tmp_path / "bundle"
    argv = ["train", "--dataset", str(datasets[fmt]), "--out", str(out), "--epochs", "5"]
    rc = main([*argv, "--threads", "1"])
    assert rc == 0, capsys.readouterr().err
    bundle = load_bundle(out)
    assert bundle.manifest["dataset"]["format"] == fmt
    assert bundle.manifest["dataset"]["n_movies"] == len(dataset.movies) == 150
    assert bundle.manifest["dataset"]["n_ratings"] == len(dataset.ratings)
    # The CSV layout carries no demographics; both GroupLens .dat/u.* layouts do.
    assert bundle.manifest["features"]["has_demographics"] is (fmt != "csv")
    rec = Recommender(bundle)
    known = rec.for_user(int(bundle.users["user_id"].iloc[0]), k=5)
    assert len(known.items) == 5
    prefs = rec.for_preferences(["Action"], age=30, occupation="programmer", k=5)
    assert len(prefs.items) == 5
    assert prefs.demographics_used is (fmt != "csv")
    similar = rec.similar_movies(int(bundle.movies["movie_id"].iloc[0]), k=5)
    assert len(similar.items) == 5


@pytest.mark.slow  # trains the model for two epochs per protocol
@pytest.mark.parametrize("fmt", FORMATS)
def test_evaluate_on_every_format(datasets, fmt, tmp_path, capsys) -> None:
    out = tmp_path / "eval"
    argv = [
        "evaluate", "--dataset", str(datasets[fmt]), "--out", str(out), "--quiet",
        "--models", "popularity,ease,model", "--epochs", "2", "--ease-lambda", "10",
        "--no-plots", "--threads", "1",
    ]  # fmt: skip
    assert main(argv) == 0, capsys.readouterr().err
    (report,) = out.glob("*.json")
    saved = json.loads(report.read_text())
    assert saved["format"] == fmt
    assert set(saved["metrics"]["W"]) == {"popularity", "ease", "model"}
    assert set(saved["metrics"]["C"]) == {"popularity", "model", "towers"}
    for protocol in ("W", "C"):
        for scores in saved["metrics"][protocol].values():
            assert 0.0 <= scores["ndcg@10"] <= 1.0 and scores["users"] > 0
    # Planted tastes are learnable: the warm model ranks well above chance
    # (10 of 150 movies at random gives NDCG@10 near 0.07).
    assert saved["metrics"]["W"]["ease"]["ndcg@10"] > 0.1
