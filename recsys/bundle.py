"""The model bundle: everything the Recommender serves from, in one directory.

Layout (all names relative to the bundle directory):

  manifest.json         format version, dataset name and fingerprint, vocabularies,
                        model/train config, evaluation numbers, created_at (UTC),
                        and the size and sha256 of every other file
  weights.pt, user_tower.npz, model.json, features.npz, features.json
                        the trained model (`recsys.model.save_model`): the movie
                        tower's torch state dict, and the user tower as plain
                        arrays, so the server answers without torch (`recsys.tower`)
  index.ann, index.json the Annoy index over the movie embeddings, and its sidecar.
                        The index stores each vector as float32 unchanged, so it
                        is where the bundle keeps the embeddings; format 1 bundles
                        also had them in movie_embeddings.npy (5 MB for 10k movies)
  movies.csv            the catalogue in dense movie order: movie_id, title, year,
                        genres ("|"-joined), n_ratings, mean_rating
  users.csv             known users: user_id, gender, age (bucket label), occupation,
                        n_ratings, favourite_genres ("|"-joined)

A bundle is written into a temporary sibling directory and renamed into
place, so readers only ever see a complete bundle. `load_bundle` verifies
every checksum, and the index against its sidecar, before serving.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import shutil
import uuid
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from recsys.data import Dataset
from recsys.features import N_STATED_GENRES
from recsys.index import (
    DEFAULT_N_TREES,
    DEFAULT_SEED,
    IndexFileError,
    MovieIndex,
    build_index,
    sidecar_path,
)
from recsys.taste import catalogue_genre_share, stated_genres
from recsys.tower import (
    EMBEDDINGS_FILE,
    ModelError,
    QueryModel,
    has_user_tower,
    load_serving_model,
)
from recsys.vocab import AGE_BUCKETS

if TYPE_CHECKING:
    from recsys.model import TrainedModel

log = logging.getLogger(__name__)

FORMAT_VERSION = 2
# 1: the movie embeddings also in movie_embeddings.npy (checked against the index).
READABLE_VERSIONS = (1, 2)
MANIFEST = "manifest.json"
INDEX_FILE = "index.ann"
MOVIES_FILE = "movies.csv"
USERS_FILE = "users.csv"
_HASH_CHUNK = 1 << 20


class BundleError(ValueError):
    """A bundle is missing, corrupt or inconsistent; the message says what to run."""


@dataclass(frozen=True)
class Bundle:
    path: Path
    manifest: dict
    model: QueryModel  # a ServingModel (numpy), or a torch TrainedModel for older bundles
    index: MovieIndex
    movies: pd.DataFrame  # row i = dense movie index i
    users: pd.DataFrame  # one row per known user, sorted by user_id

    @property
    def dataset_name(self) -> str:
        return str(self.manifest["dataset"]["name"])


def _retrain_hint(out_dir: Path, dataset: str = "default") -> str:
    return f"run `movierec train --dataset {dataset} --out {out_dir}` to (re)build it"


def file_sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        while chunk := fh.read(_HASH_CHUNK):
            digest.update(chunk)
    return digest.hexdigest()


def dataset_fingerprint(dataset: Dataset) -> dict:
    """sha256 over the dataset's source files (name, size, hash), or its ratings if in memory."""
    if dataset.path is None:
        hashed = pd.util.hash_pandas_object(
            dataset.ratings[["user_id", "movie_id", "rating", "timestamp"]], index=False
        )
        digest = hashlib.sha256(hashed.to_numpy().tobytes()).hexdigest()
        return {"sha256": digest, "source": "ratings frame", "files": []}
    root = Path(dataset.path)
    if root.is_file():
        paths = [root]
    else:  # hidden files (editor or OS litter) are not part of a MovieLens release
        paths = sorted(
            p
            for p in root.rglob("*")
            if p.is_file() and not any(part.startswith(".") for part in p.relative_to(root).parts)
        )
    files = []
    outer = hashlib.sha256()
    for p in paths:
        name = p.name if p == root else p.relative_to(root).as_posix()
        entry = {"name": name, "bytes": p.stat().st_size, "sha256": file_sha256(p)}
        files.append(entry)
        outer.update(f"{name}\0{entry['bytes']}\0{entry['sha256']}\n".encode())
    return {"sha256": outer.hexdigest(), "source": "files", "files": files}


# --------------------------------------------------------------------------- writing


def _movies_table(model: QueryModel, dataset: Dataset) -> pd.DataFrame:
    fs = model.features
    movies = dataset.movies.set_index("movie_id").reindex(fs.movie_ids)
    if movies["title"].isna().any():
        missing = fs.movie_ids[movies["title"].isna().to_numpy()][:5].tolist()
        raise BundleError(
            f"the model knows movie ids the dataset lacks (e.g. {missing}); "
            "the model was trained on another dataset"
        )
    ratings = dataset.ratings
    counts = ratings.groupby("movie_id")["rating"].agg(["size", "mean"]).reindex(fs.movie_ids)
    return pd.DataFrame(
        {
            "movie_id": fs.movie_ids,
            "title": movies["title"].to_numpy(dtype=object),
            "year": movies["year"].astype("Int64").to_numpy(),
            "genres": ["|".join(g) for g in movies["genres"]],
            "n_ratings": counts["size"].fillna(0).astype(np.int64).to_numpy(),
            "mean_rating": counts["mean"].round(4).to_numpy(),
        }
    )


def _users_table(model: QueryModel) -> pd.DataFrame:
    """Readable profile of each known user, precomputed so loading stays fast."""
    fs = model.features
    share = catalogue_genre_share(fs.movie_genres)
    counts = np.diff(fs.user_indptr)
    favourites = []
    for u in range(fs.n_users):
        items, ratings = fs.history(u)
        liked = items[ratings >= fs.like_threshold]
        picked = stated_genres(
            fs.movie_genres,
            liked if len(liked) else items,
            fs.genres,
            n=N_STATED_GENRES,
            catalogue_share=share,
        )
        favourites.append("|".join(picked))

    def labels(codes: np.ndarray, vocab) -> list:
        return [vocab[int(c) - 1] if c > 0 else None for c in codes]

    ages = [AGE_BUCKETS[a] if a else None for a in labels(fs.user_age, list(AGE_BUCKETS))]
    return pd.DataFrame(
        {
            "user_id": fs.user_ids,
            "gender": labels(fs.user_gender, ("F", "M")),
            "age": ages,
            "occupation": labels(fs.user_occupation, fs.occupations),
            "n_ratings": counts.astype(np.int64),
            "favourite_genres": favourites,
        }
    )


def _file_entries(directory: Path) -> dict[str, dict]:
    entries = {}
    for p in sorted(directory.rglob("*")):
        if p.is_file() and p.name != MANIFEST:
            name = p.relative_to(directory).as_posix()
            entries[name] = {"bytes": p.stat().st_size, "sha256": file_sha256(p)}
    return entries


def write_bundle(
    model: TrainedModel,
    dataset: Dataset,
    out_dir: Path,
    *,
    evaluation: dict | None = None,
    n_trees: int = DEFAULT_N_TREES,
    seed: int = DEFAULT_SEED,
) -> Path:
    """Write a complete bundle to `out_dir`, atomically replacing any bundle already there."""
    out_dir = Path(out_dir)
    if out_dir.exists() and not out_dir.is_dir():
        raise BundleError(f"{out_dir} exists and is not a directory; choose another --out")
    if out_dir.is_dir() and any(out_dir.iterdir()) and not (out_dir / MANIFEST).is_file():
        raise BundleError(
            f"{out_dir} is a non-empty directory that is not a model bundle; "
            "refusing to replace it. Choose an empty or new --out directory."
        )
    out_dir.parent.mkdir(parents=True, exist_ok=True)
    tag = uuid.uuid4().hex[:8]
    tmp = out_dir.parent / f".{out_dir.name}.tmp-{tag}"
    from recsys.model import save_model  # torch: only needed when writing

    tmp.mkdir()
    try:
        model_files = save_model(model, tmp, embeddings=False)
        reserved = {MANIFEST, INDEX_FILE, sidecar_path(Path(INDEX_FILE)).name, MOVIES_FILE}
        clash = (reserved | {USERS_FILE}).intersection(model_files)
        if clash:
            raise BundleError(f"save_model wrote files the bundle reserves: {sorted(clash)}")
        info = build_index(model.movie_embeddings, tmp / INDEX_FILE, n_trees=n_trees, seed=seed)
        _movies_table(model, dataset).to_csv(tmp / MOVIES_FILE, index=False)
        _users_table(model).to_csv(tmp / USERS_FILE, index=False)
        fs = model.features
        manifest = {
            "format_version": FORMAT_VERSION,
            "created_at": datetime.now(UTC).isoformat(timespec="seconds"),
            "dataset": {
                "name": dataset.name,
                "format": dataset.format,
                "fingerprint": dataset_fingerprint(dataset),
                "n_movies": int(fs.n_movies),
                "n_users": int(fs.n_users),
                "n_ratings": int(len(dataset.ratings)),
                "rating_scale": list(dataset.rating_scale),
            },
            "features": {
                "genres": list(fs.genres),
                "occupations": list(fs.occupations),
                "has_demographics": bool(fs.has_demographics),
            },
            "model": {
                "dimension": int(model.movie_embeddings.shape[1]),
                "temperature": float(model.temperature),
                "files": sorted(model_files),
            },
            "model_config": model.model_config,
            "train_config": model.train_config,
            "evaluation": evaluation or {},
            "index": asdict(info),
            "files": _file_entries(tmp),
        }
        (tmp / MANIFEST).write_text(json.dumps(manifest, indent=2) + "\n", encoding="utf-8")
        _swap_into_place(tmp, out_dir, tag)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    log.info("bundle written to %s", out_dir)
    return out_dir


def _swap_into_place(new: Path, out_dir: Path, tag: str) -> None:
    """Rename old aside, new in, then delete old; restore old if the second rename fails."""
    if not out_dir.exists():
        os.replace(new, out_dir)
        return
    old = out_dir.parent / f".{out_dir.name}.old-{tag}"
    os.replace(out_dir, old)
    try:
        os.replace(new, out_dir)
    except BaseException:
        os.replace(old, out_dir)
        raise
    shutil.rmtree(old, ignore_errors=True)


# --------------------------------------------------------------------------- loading


def read_manifest(path: Path) -> dict:
    path = Path(path)
    if not path.is_dir():
        raise BundleError(f"no model bundle at {path}; {_retrain_hint(path)}")
    manifest_path = path / MANIFEST
    try:
        manifest = json.loads(manifest_path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise BundleError(
            f"{manifest_path} is missing, so {path} is not a complete bundle; {_retrain_hint(path)}"
        ) from None
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise BundleError(f"{manifest_path} is unreadable ({exc}); {_retrain_hint(path)}") from None
    if not isinstance(manifest, dict):
        raise BundleError(f"{manifest_path} is not a JSON object; {_retrain_hint(path)}")
    version = manifest.get("format_version")
    if version not in READABLE_VERSIONS:
        readable = " and ".join(map(str, READABLE_VERSIONS))
        raise BundleError(
            f"bundle {path} has format version {version!r} but this movierec reads versions "
            f"{readable}; {_retrain_hint(path, _dataset_of(manifest))}"
        )
    return manifest


def _dataset_of(manifest: dict) -> str:
    try:
        return str(manifest["dataset"]["name"])
    except (KeyError, TypeError):
        return "default"


def verify_files(path: Path, manifest: dict) -> None:
    """Every file the manifest lists exists with its recorded size and sha256."""
    hint = _retrain_hint(path, _dataset_of(manifest))
    files = manifest.get("files")
    if not isinstance(files, dict) or not files:
        raise BundleError(f"{path / MANIFEST} lists no files; {hint}")
    for name, entry in files.items():
        p = path / name
        if not p.is_file():
            raise BundleError(f"bundle file {name} is missing from {path}; {hint}")
        size = p.stat().st_size
        if size != entry.get("bytes"):
            raise BundleError(
                f"bundle file {name} in {path} has {size} bytes, the manifest says "
                f"{entry.get('bytes')}: it is truncated or was changed; {hint}"
            )
        if file_sha256(p) != entry.get("sha256"):
            raise BundleError(
                f"bundle file {name} in {path} fails its sha256 check (corrupt or modified); {hint}"
            )


def load_bundle(path: Path) -> Bundle:
    """Load and verify a bundle; raises BundleError saying what is wrong and what to run."""
    path = Path(path)
    manifest = read_manifest(path)
    verify_files(path, manifest)
    hint = _retrain_hint(path, _dataset_of(manifest))
    # Format 1 kept the embeddings in their own file too; from 2 the index holds them.
    stored = None
    if manifest["format_version"] == 1:
        try:
            stored = np.load(path / EMBEDDINGS_FILE, allow_pickle=False)
        except (OSError, ValueError) as exc:
            msg = f"{EMBEDDINGS_FILE} in {path} is unreadable ({exc}); {hint}"
            raise BundleError(msg) from None
    try:
        index = MovieIndex.open(path / INDEX_FILE, stored)
    except IndexFileError as exc:
        raise BundleError(f"the index in bundle {path} is unusable: {exc}; {hint}") from None
    try:
        return _load_with_index(path, manifest, index, hint)
    except BaseException:
        index.close()
        raise


def _load_with_index(path: Path, manifest: dict, index: MovieIndex, hint: str) -> Bundle:
    try:
        if has_user_tower(path):
            model = load_serving_model(path, index.vectors)
        else:
            # Bundles written before user_tower.npz existed need torch.
            from recsys.model import load_model

            model = load_model(path, index.vectors)
    except ModelError as exc:
        raise BundleError(f"the model in bundle {path} cannot be loaded: {exc}") from None
    if asdict(index.info) != manifest.get("index"):
        raise BundleError(f"the index sidecar in {path} differs from the manifest; {hint}")
    movies = _read_movies(path / MOVIES_FILE)
    if not np.array_equal(movies["movie_id"].to_numpy(), model.features.movie_ids):
        raise BundleError(f"{MOVIES_FILE} in {path} does not list the model's movies; {hint}")
    users = _read_users(path / USERS_FILE)
    if not np.array_equal(users["user_id"].to_numpy(), model.features.user_ids):
        raise BundleError(f"{USERS_FILE} in {path} does not list the model's users; {hint}")
    return Bundle(
        path=path, manifest=manifest, model=model, index=index, movies=movies, users=users
    )


def _read_movies(p: Path) -> pd.DataFrame:
    movies = pd.read_csv(
        p,
        dtype={"movie_id": "int64", "title": "str", "year": "Int64", "genres": "str"},
        keep_default_na=False,
        na_values={"year": [""], "mean_rating": [""]},
    )
    movies["genres"] = [tuple(g.split("|")) if g else () for g in movies["genres"]]
    return movies


def _read_users(p: Path) -> pd.DataFrame:
    users = pd.read_csv(
        p,
        dtype={"user_id": "int64", "gender": "str", "age": "str", "occupation": "str"},
        keep_default_na=False,
    )
    for col in ("gender", "age", "occupation"):
        users[col] = [v if v else None for v in users[col]]
    users["favourite_genres"] = [
        tuple(g.split("|")) if g else () for g in users["favourite_genres"].astype(str)
    ]
    return users
