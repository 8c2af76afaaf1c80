"""`movierec train` and `movierec evaluate` on every supported dataset format.

One synthetic dataset (with planted tastes and demographics) is written as
ML-1M `.dat` files, as ML-100K `u.*` files and as the CSV layout of
ml-latest-small / ML-25M / ML-32M. Each is trained into a bundle that must
load and answer, and evaluated by the same command the README documents.
"""

from __future__ import annotations

import csv
import json
from pathlib import Path

import pytest

from recsys.bundle import load_bundle
from recsys.recommender import Recommender
from recsys.synthetic import write_ml1m
from server.cli import main
from tests.conftest import ML100K_GENRES

FORMATS = ("ml-1m", "ml-100k", "csv")
# ML-1M age codes -> an age in years inside that bucket (u.user stores years).
AGE_YEARS = {1: 16, 18: 20, 25: 30, 35: 40, 45: 47, 50: 52, 56: 60}
ML100K_OCCUPATIONS = ("student", "programmer", "writer", "educator", "other", "none")


def _read_dat(path: Path) -> list[list[str]]:
    return [line.split("::") for line in path.read_text(encoding="latin-1").splitlines()]


def as_ml100k(src: Path, root: Path) -> Path:
    root.mkdir(parents=True)
    lines = []
    for movie_id, title, genres in _read_dat(src / "movies.dat"):
        names = genres.split("|")
        flags = [int(g in names) for g in ML100K_GENRES]
        year = title.rsplit("(", 1)[1][:4]
        lines.append("|".join([movie_id, title, f"01-Jan-{year}", "", "", *map(str, flags)]))
    (root / "u.item").write_text("\n".join(lines) + "\n", encoding="latin-1")
    users = []
    for user_id, gender, age, occ, zip_code in _read_dat(src / "users.dat"):
        job = ML100K_OCCUPATIONS[int(occ) % len(ML100K_OCCUPATIONS)]
        users.append(f"{user_id}|{AGE_YEARS[int(age)]}|{gender}|{job}|{zip_code}")
    (root / "u.user").write_text("\n".join(users) + "\n", encoding="latin-1")
    ratings = ["\t".join(row) for row in _read_dat(src / "ratings.dat")]
    (root / "u.data").write_text("\n".join(ratings) + "\n", encoding="latin-1")
    (root / "u.genre").write_text("".join(f"{g}|{i}\n" for i, g in enumerate(ML100K_GENRES)))
    return root


def as_csv(src: Path, root: Path) -> Path:
    root.mkdir(parents=True)
    with open(root / "movies.csv", "w", encoding="utf-8", newline="") as f:
        out = csv.writer(f, lineterminator="\n")
        out.writerow(["movieId", "title", "genres"])
        for movie_id, title, genres in _read_dat(src / "movies.dat"):
            out.writerow([movie_id, title, genres.replace("Children's", "Children")])
    with open(root / "ratings.csv", "w", encoding="utf-8", newline="") as f:
        out = csv.writer(f, lineterminator="\n")
        out.writerow(["userId", "movieId", "rating", "timestamp"])
        for user_id, movie_id, stars, ts in _read_dat(src / "ratings.dat"):
            out.writerow([user_id, movie_id, f"{float(stars):.1f}", ts])
    return root


@pytest.fixture(scope="module")
def datasets(tmp_path_factory) -> dict[str, Path]:
    base = tmp_path_factory.mktemp("formats")
    src = write_ml1m(base / "ml-1m", n_users=120, n_movies=150, n_ratings=5_000, seed=3)
    return {
        "ml-1m": src,
        "ml-100k": as_ml100k(src, base / "ml-100k"),
        "csv": as_csv(src, base / "csv"),
    }


@pytest.mark.slow  # trains a model per format
@pytest.mark.parametrize("fmt", FORMATS)
def test_train_then_serve_on_every_format(datasets, fmt, tmp_path, capsys) -> None:
    out = tmp_path / "bundle"
    rc = main(["train", "--dataset", str(datasets[fmt]), "--out", str(out), "--epochs", "5"])
    assert rc == 0, capsys.readouterr().err
    bundle = load_bundle(out)
    assert bundle.manifest["dataset"]["format"] == fmt
    assert bundle.manifest["dataset"]["n_movies"] == 150
    assert bundle.manifest["dataset"]["n_ratings"] == len(
        _read_dat(datasets["ml-1m"] / "ratings.dat")
    )
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
        "--no-plots",
    ]  # fmt: skip
    assert main(argv) == 0, capsys.readouterr().err
    (report,) = out.glob("*.json")
    saved = json.loads(report.read_text())
    assert saved["format"] == fmt
    assert set(saved["metrics"]["W"]) == {"popularity", "ease", "model"}
    assert set(saved["metrics"]["C"]) == {"popularity", "model"}
    for protocol in ("W", "C"):
        for scores in saved["metrics"][protocol].values():
            assert 0.0 <= scores["ndcg@10"] <= 1.0 and scores["users"] > 0
    # Planted tastes are learnable: the warm model ranks well above chance
    # (10 of 150 movies at random gives NDCG@10 near 0.07).
    assert saved["metrics"]["W"]["ease"]["ndcg@10"] > 0.1
