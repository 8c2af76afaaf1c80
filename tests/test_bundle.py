"""Model bundles: round trip, verification, and atomic replacement.

On the small model and bundle from tests/conftest.py (trained once per session);
tests that change a bundle work on a copy (`bundle_copy`).
"""

from __future__ import annotations

import json
import shutil
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from recsys.bundle import write as bundle_mod
from recsys.bundle.load import load_bundle
from recsys.bundle.manifest import (
    FORMAT_VERSION,
    MANIFEST,
    BundleError,
    dataset_fingerprint,
    file_sha256,
)
from recsys.bundle.write import check_destination, write_bundle
from recsys.data.dataset import Dataset, load_dataset
from recsys.data.synthetic import HEAT_1995, UNDATED, UNRATED, planted_genres, synthetic_dataset
from recsys.data.vocab import AGE_BUCKETS, GENRES
from recsys.model.query_model import ServingModel
from recsys.model.towers import TrainedModel


@pytest.mark.slow  # on the small model
def test_round_trip(small_bundle: Path, small_model: TrainedModel, small_dataset: Dataset) -> None:
    model, dataset = small_model, small_dataset
    b = load_bundle(small_bundle)
    np.testing.assert_array_equal(b.model.movie_embeddings, model.movie_embeddings)
    np.testing.assert_array_equal(b.index.embeddings.shape, model.movie_embeddings.shape)
    # The typed config comes back as it was trained, the training record as JSON keeps it.
    assert b.model.config == model.config
    assert b.model.training == json.loads(json.dumps(model.training))
    m = b.manifest
    assert m["format_version"] == FORMAT_VERSION
    assert m["dataset"]["name"] == "synthetic"
    assert m["evaluation"] == {"recall@10": 0.5}
    assert m["features"]["has_demographics"] is True
    assert m["features"]["genres"] == list(GENRES)
    # The model's settings live in its own model.json only, not again in the manifest.
    assert "model_config" not in m and "train_config" not in m
    assert m["created_at"].endswith("+00:00")
    on_disk = {p.name for p in small_bundle.iterdir()} - {MANIFEST}
    assert set(m["files"]) == on_disk
    # The index holds the movie embeddings; the bundle keeps no second copy of them.
    assert not [name for name in on_disk if name.endswith(".npy")]
    for name, entry in m["files"].items():
        assert entry["sha256"] == file_sha256(small_bundle / name)
    # The catalogue keeps titles exactly and counts ratings from the dataset.
    assert b.movies["title"].tolist() == dataset.movies["title"].tolist()
    heat = b.movies.set_index("movie_id").loc[HEAT_1995]
    rated = dataset.ratings[dataset.ratings["movie_id"] == HEAT_1995]["rating"]
    assert heat["n_ratings"] == len(rated) > 0
    assert heat["mean_rating"] == pytest.approx(rated.mean(), abs=1e-3)
    assert heat["genres"] == ("Action", "Crime", "Thriller")
    unrated = b.movies.set_index("movie_id").loc[UNRATED]
    assert unrated["n_ratings"] == 0 and pd.isna(unrated["mean_rating"])
    assert b.movies.loc[b.movies["year"].isna(), "movie_id"].tolist() == [UNDATED]
    # Users: readable demographics and favourite genres, the ones planted among them.
    users = b.users.set_index("user_id")
    planted = 0
    for user_id, want in dataset.users.set_index("user_id").iterrows():
        got = users.loc[user_id]
        assert (got["gender"], got["occupation"]) == (want["gender"], want["occupation"])
        assert got["age"] == AGE_BUCKETS[want["age"]]
        assert got["n_ratings"] == (dataset.ratings["user_id"] == user_id).sum()
        assert 1 <= len(got["favourite_genres"]) <= 3
        planted += bool(
            set(got["favourite_genres"]) & set(planted_genres(want["gender"], want["age"]))
        )
    assert planted >= 0.9 * len(users)


@pytest.mark.slow  # on the small model
def test_bundle_without_demographics(nodemo_bundle: Path) -> None:
    b = load_bundle(nodemo_bundle)
    assert b.manifest["features"]["has_demographics"] is False
    assert b.manifest["features"]["occupations"] == []
    assert b.users["gender"].isna().all() and b.users["age"].isna().all()


@pytest.mark.slow  # on the small model
def test_bundle_is_served_with_numpy(small_bundle: Path, small_model: TrainedModel) -> None:
    served = load_bundle(small_bundle).model
    assert isinstance(served, ServingModel)
    queries = [
        served.preference_query(["Comedy"], age=25, gender="F"),
        served.known_user_query(3),
    ]
    np.testing.assert_allclose(
        served.embed_queries(queries), small_model.embed_queries(queries), atol=2e-3
    )


@pytest.mark.slow  # on the small model
@pytest.mark.parametrize(
    "name",
    [
        "index.ann",
        "weights.pt",
        "user_tower.npz",
        "movies.csv",
        "users.csv",
        "neighbours.npz",
        "likes.npz",
    ],
)
def test_flipped_byte_is_named(bundle_copy: Path, name: str) -> None:
    path = bundle_copy / name
    data = bytearray(path.read_bytes())
    data[len(data) // 2] ^= 0x01
    path.write_bytes(bytes(data))
    with pytest.raises(BundleError, match=rf"{name}.*sha256.*movierec train"):
        load_bundle(bundle_copy)


@pytest.mark.slow  # on the small model
def test_missing_file_is_named(bundle_copy: Path) -> None:
    (bundle_copy / "index.ann").unlink()
    with pytest.raises(BundleError, match="index.ann is missing"):
        load_bundle(bundle_copy)


def test_missing_bundle_says_what_to_run(tmp_path: Path) -> None:
    with pytest.raises(BundleError, match=r"movierec train --dataset default --out"):
        load_bundle(tmp_path / "nowhere")
    (tmp_path / "empty").mkdir()
    with pytest.raises(BundleError, match="manifest.json is missing"):
        load_bundle(tmp_path / "empty")


@pytest.mark.slow  # on the small model
def test_format_version_mismatch(bundle_copy: Path) -> None:
    manifest = json.loads((bundle_copy / MANIFEST).read_text())
    manifest["format_version"] = FORMAT_VERSION + 1
    (bundle_copy / MANIFEST).write_text(json.dumps(manifest))
    with pytest.raises(
        BundleError, match=rf"format version {FORMAT_VERSION + 1} .*--dataset synthetic"
    ):
        load_bundle(bundle_copy)
    # The only other format there was, 1, is not read either.
    manifest["format_version"] = 1
    (bundle_copy / MANIFEST).write_text(json.dumps(manifest))
    with pytest.raises(BundleError, match="format version 1 but this movierec reads version"):
        load_bundle(bundle_copy)


@pytest.mark.slow  # on the small model
def rewrite_json(bundle: Path, name: str, change: Callable[[dict], None]) -> None:
    """Change a JSON file of a bundle and record its new size and checksum in the manifest,
    so only the checks behind the checksums can catch the change."""
    path = bundle / name
    data = json.loads(path.read_text())
    change(data)
    path.write_text(json.dumps(data))
    manifest = json.loads((bundle / MANIFEST).read_text())
    manifest["files"][name] = {"bytes": path.stat().st_size, "sha256": file_sha256(path)}
    (bundle / MANIFEST).write_text(json.dumps(manifest))


@pytest.mark.slow  # on the small model
def test_sidecar_disagreeing_with_manifest_is_refused(bundle_copy: Path) -> None:
    rewrite_json(bundle_copy, "index.json", lambda info: info.update(seed=info["seed"] + 1))
    with pytest.raises(BundleError, match="sidecar .* differs from the manifest"):
        load_bundle(bundle_copy)


@pytest.mark.slow  # on the small model
def test_a_model_config_from_another_version_is_refused(bundle_copy: Path) -> None:
    def add_a_removed_setting(meta: dict) -> None:
        meta["model_config"]["user_id_embedding"] = False

    rewrite_json(bundle_copy, "model.json", add_a_removed_setting)
    with pytest.raises(BundleError, match="unknown user_id_embedding.*another version"):
        load_bundle(bundle_copy)


@pytest.mark.slow  # on the small model
def test_a_model_config_missing_a_setting_is_refused(bundle_copy: Path) -> None:
    rewrite_json(bundle_copy, "model.json", lambda meta: meta["model_config"].pop("item_rank"))
    with pytest.raises(BundleError, match="missing item_rank.*another version"):
        load_bundle(bundle_copy)


@pytest.mark.slow  # on the small model
def test_ranking_artifacts_round_trip(small_bundle: Path, small_model: TrainedModel) -> None:
    served = load_bundle(small_bundle).model.ranking
    trained = small_model.ranking
    assert served is not None and trained is not None
    assert served.calibrations == trained.calibrations
    np.testing.assert_array_equal(served.neighbours.index, trained.neighbours.index)
    np.testing.assert_array_equal(served.neighbours.similarity, trained.neighbours.similarity)
    for name in ("likers", "indptr", "users", "partners", "partner_likes"):
        np.testing.assert_array_equal(getattr(served.likes, name), getattr(trained.likes, name))
    assert served.likes.n_users == trained.likes.n_users
    manifest = load_bundle(small_bundle).manifest
    assert {"neighbours.npz", "likes.npz"} <= set(manifest["files"])
    assert {"neighbours.npz", "likes.npz"} <= set(manifest["model"]["files"])


def rewrite_npz(bundle: Path, name: str, change: Callable[[dict], None]) -> None:
    """Change an array file of a bundle and re-record its checksum, as `rewrite_json` does."""
    path = bundle / name
    with np.load(path) as z:
        arrays = {k: z[k] for k in z.files}
    change(arrays)
    with open(path, "wb") as fh:
        np.savez(fh, **arrays)
    manifest = json.loads((bundle / MANIFEST).read_text())
    manifest["files"][name] = {"bytes": path.stat().st_size, "sha256": file_sha256(path)}
    (bundle / MANIFEST).write_text(json.dumps(manifest))


@pytest.mark.slow  # on the small model
@pytest.mark.parametrize(
    ("name", "change", "message"),
    [
        (
            "neighbours.npz",
            lambda a: a["index"].__setitem__((0, 0), 10**6),
            "outside the catalogue",
        ),
        ("neighbours.npz", lambda a: a.__setitem__("index", a["index"][:-1]), "expected"),
        ("neighbours.npz", lambda a: a["index"].__setitem__((3, 0), 3), "its own neighbour"),
        ("likes.npz", lambda a: a["likers"].__setitem__(0, a["likers"][0] + 1), "disagree"),
        ("likes.npz", lambda a: a.pop("partners"), "partners"),
    ],
)
def test_ranking_artifacts_that_do_not_fit_the_model_are_refused(
    bundle_copy: Path, name: str, change: Callable[[dict], None], message: str
) -> None:
    rewrite_npz(bundle_copy, name, change)
    with pytest.raises(BundleError, match=message):
        load_bundle(bundle_copy)


@pytest.mark.slow  # on the small model
@pytest.mark.parametrize(
    ("change", "message"),
    [
        (lambda meta: meta.pop("calibration"), "calibration must hold"),
        (lambda meta: meta["calibration"]["preferences"].pop("head"), "missing head"),
        (lambda meta: meta["calibration"]["similarity"].update(bias="high"), "must be a number"),
        (lambda meta: meta["calibration"]["known_users"].update(z=float("nan")), "finite"),
    ],
)
def test_calibrations_from_another_version_are_refused(
    bundle_copy: Path, change: Callable[[dict], None], message: str
) -> None:
    rewrite_json(bundle_copy, "model.json", change)
    with pytest.raises(BundleError, match=message):
        load_bundle(bundle_copy)


@pytest.mark.slow  # on the small model
def test_failed_write_leaves_old_bundle(
    bundle_copy: Path, small_model: TrainedModel, small_dataset: Dataset, monkeypatch
) -> None:
    before = (bundle_copy / MANIFEST).read_bytes()

    def broken(*args, **kwargs):
        raise RuntimeError("disk full")

    monkeypatch.setattr(bundle_mod, "build_index", broken)
    with pytest.raises(RuntimeError, match="disk full"):
        write_bundle(small_model, small_dataset, bundle_copy)
    assert (bundle_copy / MANIFEST).read_bytes() == before
    load_bundle(bundle_copy)
    assert [p.name for p in bundle_copy.parent.iterdir()] == [bundle_copy.name]


@pytest.mark.slow  # on the small model
def test_rewrite_replaces_bundle_without_leftovers(
    bundle_copy: Path, small_model: TrainedModel, small_dataset: Dataset
) -> None:
    old = json.loads((bundle_copy / MANIFEST).read_text())
    write_bundle(small_model, small_dataset, bundle_copy, evaluation={"recall@10": 0.9}, n_trees=7)
    new = load_bundle(bundle_copy).manifest
    assert new["evaluation"] == {"recall@10": 0.9} and new["index"]["n_trees"] == 7
    assert old["index"]["n_trees"] == 5
    assert [p.name for p in bundle_copy.parent.iterdir()] == [bundle_copy.name]


def test_destination_is_checked_before_any_work(tmp_path: Path) -> None:
    check_destination(tmp_path / "new")  # absent: fine
    (tmp_path / "empty").mkdir()
    check_destination(tmp_path / "empty")
    target = tmp_path / "docs"
    target.mkdir()
    (target / "notes.txt").write_text("keep me")
    with pytest.raises(BundleError, match="not a model bundle"):
        check_destination(target)
    (tmp_path / "file").write_text("x")
    with pytest.raises(BundleError, match="not a directory"):
        check_destination(tmp_path / "file")


@pytest.mark.slow  # on the small model
def test_refuses_to_replace_a_non_bundle_directory(
    tmp_path: Path, small_model: TrainedModel, small_dataset: Dataset
) -> None:
    target = tmp_path / "docs"
    target.mkdir()
    (target / "notes.txt").write_text("keep me")
    with pytest.raises(BundleError, match="not a model bundle"):
        write_bundle(small_model, small_dataset, target)
    assert [p.name for p in target.iterdir()] == ["notes.txt"]
    assert (target / "notes.txt").read_text() == "keep me"


@pytest.mark.slow  # on the small model
def test_model_from_another_dataset_is_refused(
    tmp_path: Path, small_model: TrainedModel, small_dataset: Dataset
) -> None:
    other = replace(small_dataset, movies=small_dataset.movies.iloc[:-5])
    with pytest.raises(BundleError, match="another dataset"):
        write_bundle(small_model, other, tmp_path / "b")
    assert not any(tmp_path.iterdir())


def test_fingerprint_hashes_source_files(tiny_dataset, tmp_path: Path) -> None:
    root = tiny_dataset("csv")
    first = dataset_fingerprint(load_dataset(root))
    assert {f["name"] for f in first["files"]} == {"movies.csv", "ratings.csv", "links.csv"}
    assert dataset_fingerprint(load_dataset(root)) == first
    copy = shutil.copytree(root, tmp_path / "copy")
    with open(copy / "ratings.csv", "a") as fh:
        fh.write("3,2,4.0,978300767\n")
    assert dataset_fingerprint(load_dataset(copy))["sha256"] != first["sha256"]


def test_fingerprint_of_in_memory_dataset_follows_ratings() -> None:
    a = dataset_fingerprint(synthetic_dataset())
    b = synthetic_dataset()
    changed = b.ratings.copy()
    changed.loc[0, "rating"] = 1.0 if changed.loc[0, "rating"] != 1.0 else 2.0
    assert a == dataset_fingerprint(b)
    assert a["sha256"] != dataset_fingerprint(replace(b, ratings=changed))["sha256"]
