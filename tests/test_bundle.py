"""Model bundles: round trip, verification, and atomic replacement.

`synthetic_dataset` and `trained_model` also serve tests/test_recommender.py:
a small catalogue where each user likes one genre group, fitted for real
with `recsys.train.fit` in a few seconds (cached per process).
"""

from __future__ import annotations

import functools
import json
import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from recsys import bundle as bundle_mod
from recsys.bundle import (
    FORMAT_VERSION,
    MANIFEST,
    BundleError,
    dataset_fingerprint,
    file_sha256,
    load_bundle,
    write_bundle,
)
from recsys.data import Dataset, load_dataset
from recsys.model import TrainedModel
from recsys.train import TrainConfig, fit
from recsys.vocab import GENRES, ML1M_OCCUPATIONS

NAMED_MOVIES = [
    ("Matrix, The (1999)", ("Action", "Sci-Fi", "Thriller")),
    ("Heat (1995)", ("Action", "Crime", "Thriller")),
    ("Heat (1972)", ("Drama",)),
    ("Misérables, Les (1995)", ("Drama", "War")),
    ("City of Lost Children, The (Cité des enfants perdus, La) (1995)", ("Fantasy", "Sci-Fi")),
    ("Toy Story (1995)", ("Animation", "Children", "Comedy")),
]
GENRE_GROUPS = [
    ("Action", "Thriller"),
    ("Comedy", "Romance"),
    ("Horror",),
    ("Drama", "War"),
    ("Animation", "Children"),
]
N_MOVIES, N_USERS = 60, 40


def synthetic_dataset(demographics: bool = True, seed: int = 0) -> Dataset:
    """Users in five taste groups; each mostly rates (and likes) its group's genres."""
    rng = np.random.default_rng(seed)
    movies = []
    for i in range(N_MOVIES):
        if i < len(NAMED_MOVIES):
            title, genres = NAMED_MOVIES[i]
        else:
            genres = GENRE_GROUPS[i % len(GENRE_GROUPS)]
            title = f"Movie {i} ({1960 + i})"
        year = int(title.rsplit("(", 1)[1][:4])
        movies.append((i + 1, title, year, tuple(g for g in GENRES if g in genres)))
    # Two movies nobody rated: the catalogue includes them, with no ratings; one has no year.
    movies.append((N_MOVIES + 1, "Unrated Western (2001)", 2001, ("Western",)))
    movies.append((N_MOVIES + 2, "Undated Documentary", None, ("Documentary",)))
    movie_frame = pd.DataFrame(movies, columns=["movie_id", "title", "year", "genres"])
    movie_frame["year"] = movie_frame["year"].astype("Int64")
    occupations = list(ML1M_OCCUPATIONS.values())
    users, ratings = [], []
    for u in range(1, N_USERS + 1):
        group = GENRE_GROUPS[u % len(GENRE_GROUPS)]
        users.append(
            (
                u,
                "MF"[u % 2] if demographics else None,
                [1, 18, 25, 35, 45, 50, 56][u % 7] if demographics else None,
                occupations[u % 6] if demographics else None,
            )
        )
        for m, (_, _, _, genres) in enumerate(movies[:N_MOVIES]):
            liked = any(g in group for g in genres)
            if rng.random() < (0.6 if liked else 0.1):
                rating = 5.0 if liked else float(rng.integers(1, 3))
                ratings.append((u, m + 1, rating, 1_000_000 + len(ratings)))
    user_frame = pd.DataFrame(users, columns=["user_id", "gender", "age", "occupation"])
    user_frame["age"] = user_frame["age"].astype("Int64")
    rating_frame = pd.DataFrame(ratings, columns=["user_id", "movie_id", "rating", "timestamp"])
    rating_frame["rating"] = rating_frame["rating"].astype("float32")
    return Dataset(
        name="synthetic" if demographics else "synthetic-nodemo",
        format="ml-1m" if demographics else "csv",
        path=None,
        movies=movie_frame,
        users=user_frame,
        ratings=rating_frame,
        has_demographics=demographics,
        rating_scale=(1.0, 5.0),
    )


TINY_TRAIN = TrainConfig(
    epochs=30, dim=16, hidden=32, batch_size=16, lr=1e-2, val_share=0.0, threads=1, seed=0
)


@functools.cache
def trained_model(demographics: bool = True) -> tuple[TrainedModel, Dataset]:
    dataset = synthetic_dataset(demographics)
    return fit(dataset, TINY_TRAIN, progress=False), dataset


def make_bundle(out: Path, demographics: bool = True, **kwargs) -> Path:
    model, dataset = trained_model(demographics)
    return write_bundle(model, dataset, out, n_trees=kwargs.pop("n_trees", 5), **kwargs)


@pytest.fixture
def bundle_dir(tmp_path: Path) -> Path:
    return make_bundle(tmp_path / "bundle", evaluation={"recall@10": 0.5})


def test_round_trip(bundle_dir: Path) -> None:
    model, dataset = trained_model()
    b = load_bundle(bundle_dir)
    np.testing.assert_array_equal(b.model.movie_embeddings, model.movie_embeddings)
    np.testing.assert_array_equal(b.index.embeddings.shape, model.movie_embeddings.shape)
    assert b.model.temperature == model.temperature
    m = b.manifest
    assert m["format_version"] == FORMAT_VERSION
    assert m["dataset"]["name"] == "synthetic"
    assert m["evaluation"] == {"recall@10": 0.5}
    assert m["features"]["has_demographics"] is True
    assert m["features"]["genres"] == list(GENRES)
    assert m["model_config"] == model.model_config
    assert m["created_at"].endswith("+00:00")
    on_disk = {p.name for p in bundle_dir.iterdir()} - {MANIFEST}
    assert set(m["files"]) == on_disk
    # The index holds the movie embeddings; the bundle keeps no second copy of them.
    assert "movie_embeddings.npy" not in on_disk
    for name, entry in m["files"].items():
        assert entry["sha256"] == file_sha256(bundle_dir / name)
    # The catalogue keeps titles exactly and counts ratings from the dataset.
    assert b.movies["title"].tolist() == dataset.movies["title"].tolist()
    heat = b.movies[b.movies["movie_id"] == 2].iloc[0]
    rated = dataset.ratings[dataset.ratings["movie_id"] == 2]["rating"]
    assert heat["n_ratings"] == len(rated)
    assert heat["mean_rating"] == pytest.approx(rated.mean(), abs=1e-3)
    assert heat["genres"] == ("Action", "Crime", "Thriller")
    unrated = b.movies.iloc[-2]
    assert unrated["n_ratings"] == 0 and pd.isna(unrated["mean_rating"])
    assert b.movies["year"].isna().tolist() == [False] * (N_MOVIES + 1) + [True]
    # Users: readable demographics and favourite genres.
    user1 = b.users.set_index("user_id").loc[1]
    assert user1["gender"] == "F" and user1["age"] == "18-24"
    assert user1["occupation"] == ML1M_OCCUPATIONS[1]
    assert user1["n_ratings"] == (dataset.ratings["user_id"] == 1).sum()
    assert set(user1["favourite_genres"]) <= set(GENRE_GROUPS[1])


def test_bundle_without_demographics(tmp_path: Path) -> None:
    b = load_bundle(make_bundle(tmp_path / "b", demographics=False))
    assert b.manifest["features"]["has_demographics"] is False
    assert b.manifest["features"]["occupations"] == []
    assert b.users["gender"].isna().all() and b.users["age"].isna().all()


def test_bundle_is_served_with_numpy_and_older_bundles_with_torch(bundle_dir: Path) -> None:
    from recsys.tower import ServingModel

    served = load_bundle(bundle_dir).model
    assert isinstance(served, ServingModel)
    query = served.preference_query(["Comedy"])
    want = served.embed_queries([query])
    # A bundle from before user_tower.npz: both towers in weights.pt, no such file,
    # and the manifest does not list it.
    import torch

    from recsys.bundle import file_sha256

    weights = bundle_dir / "weights.pt"
    state = torch.load(weights, weights_only=True)
    with np.load(bundle_dir / "user_tower.npz") as z:
        state.update({f"user_tower.{k}": torch.from_numpy(z[k]) for k in z.files})
    torch.save(state, weights)
    (bundle_dir / "user_tower.npz").unlink()
    manifest = json.loads((bundle_dir / "manifest.json").read_text(encoding="utf-8"))
    del manifest["files"]["user_tower.npz"]
    manifest["files"]["weights.pt"] = {
        "bytes": weights.stat().st_size,
        "sha256": file_sha256(weights),
    }
    (bundle_dir / "manifest.json").write_text(json.dumps(manifest), encoding="utf-8")
    old = load_bundle(bundle_dir).model
    assert isinstance(old, TrainedModel)
    np.testing.assert_allclose(old.embed_queries([query]), want, atol=2e-6)


@pytest.mark.parametrize(
    "name", ["index.ann", "weights.pt", "user_tower.npz", "movies.csv", "users.csv"]
)
def test_flipped_byte_is_named(bundle_dir: Path, name: str) -> None:
    path = bundle_dir / name
    data = bytearray(path.read_bytes())
    data[len(data) // 2] ^= 0x01
    path.write_bytes(bytes(data))
    with pytest.raises(BundleError, match=rf"{name}.*sha256.*movierec train"):
        load_bundle(bundle_dir)


def test_missing_file_is_named(bundle_dir: Path) -> None:
    (bundle_dir / "index.ann").unlink()
    with pytest.raises(BundleError, match="index.ann is missing"):
        load_bundle(bundle_dir)


def as_format_1(bundle_dir: Path, embeddings: np.ndarray) -> None:
    """Rewrite a bundle as format 1 wrote it: the embeddings also in movie_embeddings.npy."""
    path = bundle_dir / "movie_embeddings.npy"
    np.save(path, embeddings, allow_pickle=False)
    manifest = json.loads((bundle_dir / MANIFEST).read_text())
    manifest["format_version"] = 1
    manifest["files"][path.name] = {"bytes": path.stat().st_size, "sha256": file_sha256(path)}
    (bundle_dir / MANIFEST).write_text(json.dumps(manifest))


def test_format_1_bundle_loads_and_its_embeddings_file_is_checked(bundle_dir: Path) -> None:
    model, _ = trained_model()
    as_format_1(bundle_dir, model.movie_embeddings)
    b = load_bundle(bundle_dir)
    np.testing.assert_array_equal(b.model.movie_embeddings, model.movie_embeddings)
    query = b.model.preference_query(["Comedy"])
    fresh = load_bundle(make_bundle(bundle_dir.parent / "fresh")).model
    np.testing.assert_array_equal(b.model.embed_queries([query]), fresh.embed_queries([query]))
    # A format-1 file that (checksum and all) holds other vectors than the index.
    other = model.movie_embeddings[::-1].copy()
    as_format_1(bundle_dir, other)
    with pytest.raises(BundleError, match="built from other embeddings.*movierec train"):
        load_bundle(bundle_dir)
    # And one the manifest lists but that is gone.
    (bundle_dir / "movie_embeddings.npy").unlink()
    with pytest.raises(BundleError, match="movie_embeddings.npy is missing"):
        load_bundle(bundle_dir)


def test_missing_bundle_says_what_to_run(tmp_path: Path) -> None:
    with pytest.raises(BundleError, match=r"movierec train --dataset default --out"):
        load_bundle(tmp_path / "nowhere")
    (tmp_path / "empty").mkdir()
    with pytest.raises(BundleError, match="manifest.json is missing"):
        load_bundle(tmp_path / "empty")


def test_format_version_mismatch(bundle_dir: Path) -> None:
    manifest = json.loads((bundle_dir / MANIFEST).read_text())
    manifest["format_version"] = FORMAT_VERSION + 1
    (bundle_dir / MANIFEST).write_text(json.dumps(manifest))
    with pytest.raises(
        BundleError, match=rf"format version {FORMAT_VERSION + 1} .*--dataset synthetic"
    ):
        load_bundle(bundle_dir)


def test_sidecar_disagreeing_with_manifest_is_refused(bundle_dir: Path) -> None:
    # Rewrite the sidecar consistently (checksum updated) so only the cross-check can catch it.
    side = bundle_dir / "index.json"
    info = json.loads(side.read_text())
    side.write_text(json.dumps({**info, "seed": info["seed"] + 1}))
    manifest = json.loads((bundle_dir / MANIFEST).read_text())
    manifest["files"]["index.json"] = {"bytes": side.stat().st_size, "sha256": file_sha256(side)}
    (bundle_dir / MANIFEST).write_text(json.dumps(manifest))
    with pytest.raises(BundleError, match="sidecar .* differs from the manifest"):
        load_bundle(bundle_dir)


def test_failed_write_leaves_old_bundle(bundle_dir: Path, monkeypatch) -> None:
    before = (bundle_dir / MANIFEST).read_bytes()

    def broken(*args, **kwargs):
        raise RuntimeError("disk full")

    monkeypatch.setattr(bundle_mod, "build_index", broken)
    with pytest.raises(RuntimeError, match="disk full"):
        make_bundle(bundle_dir)
    assert (bundle_dir / MANIFEST).read_bytes() == before
    load_bundle(bundle_dir)
    assert [p.name for p in bundle_dir.parent.iterdir()] == [bundle_dir.name]


def test_rewrite_replaces_bundle_without_leftovers(bundle_dir: Path) -> None:
    old = json.loads((bundle_dir / MANIFEST).read_text())
    make_bundle(bundle_dir, evaluation={"recall@10": 0.9}, n_trees=7)
    new = load_bundle(bundle_dir).manifest
    assert new["evaluation"] == {"recall@10": 0.9} and new["index"]["n_trees"] == 7
    assert old["index"]["n_trees"] == 5
    assert [p.name for p in bundle_dir.parent.iterdir()] == [bundle_dir.name]


def test_refuses_to_replace_a_non_bundle_directory(tmp_path: Path) -> None:
    target = tmp_path / "docs"
    target.mkdir()
    (target / "notes.txt").write_text("keep me")
    with pytest.raises(BundleError, match="not a model bundle"):
        make_bundle(target)
    assert (target / "notes.txt").read_text() == "keep me"


def test_model_from_another_dataset_is_refused(tmp_path: Path) -> None:
    model, dataset = trained_model()
    other = Dataset(**{**dataset.__dict__, "movies": dataset.movies.iloc[:-5]})
    with pytest.raises(BundleError, match="another dataset"):
        write_bundle(model, other, tmp_path / "b")
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
    assert (
        a["sha256"] != dataset_fingerprint(Dataset(**{**b.__dict__, "ratings": changed}))["sha256"]
    )
