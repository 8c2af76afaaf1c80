"""A bundle's manifest: its layout, checksums and the dataset fingerprint, read and verified.

Layout (all names relative to the bundle directory):

  manifest.json         format version, dataset name and fingerprint, vocabularies,
                        evaluation numbers, created_at (UTC), and the size and
                        sha256 of every other file
  weights.pt, user_tower.npz, model.json, features.npz, features.json
                        the trained model (`recsys.model.towers.save_model`): the
                        movie tower's torch state dict, and the user tower as plain
                        arrays, so the server answers without torch; model.json
                        also holds the calibrations
  neighbours.npz, likes.npz
                        what the rankers read (`recsys.model.artifacts`): each
                        movie's top similar movies, and who liked what (for
                        co-like lifts)
  index.ann, index.json the Annoy index over the movie embeddings, and its sidecar;
                        the index stores each vector as float32 unchanged, so it is
                        where the bundle keeps the embeddings
  movies.csv            the catalogue in dense movie order: movie_id, title, year,
                        genres ("|"-joined), n_ratings, mean_rating
  users.csv             known users: user_id, gender, age (bucket label), occupation,
                        n_ratings, favourite_genres ("|"-joined)
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path, PurePosixPath
from typing import Any

import pandas as pd

from recsys.data.dataset import Dataset

FORMAT_VERSION = 2
MANIFEST = "manifest.json"
INDEX_FILE = "index.ann"
MOVIES_FILE = "movies.csv"
USERS_FILE = "users.csv"
_HASH_CHUNK = 1 << 20


class BundleError(ValueError):
    """A bundle is missing, corrupt or inconsistent; the message says what to run."""


def retrain_hint(out_dir: Path, dataset: str = "default") -> str:
    return f"run `movierec train --dataset {dataset} --out {out_dir}` to (re)build it"


def file_sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        while chunk := fh.read(_HASH_CHUNK):
            digest.update(chunk)
    return digest.hexdigest()


def dataset_fingerprint(dataset: Dataset) -> dict[str, Any]:
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


def file_entries(directory: Path) -> dict[str, dict[str, Any]]:
    entries: dict[str, dict[str, Any]] = {}
    for p in sorted(directory.rglob("*")):
        if p.is_file() and p.name != MANIFEST:
            name = p.relative_to(directory).as_posix()
            entries[name] = {"bytes": p.stat().st_size, "sha256": file_sha256(p)}
    return entries


def read_manifest(path: Path) -> dict[str, Any]:
    path = Path(path)
    if not path.is_dir():
        raise BundleError(f"no model bundle at {path}; {retrain_hint(path)}")
    manifest_path = path / MANIFEST
    try:
        manifest = json.loads(manifest_path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise BundleError(
            f"{manifest_path} is missing, so {path} is not a complete bundle; {retrain_hint(path)}"
        ) from None
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise BundleError(f"{manifest_path} is unreadable ({exc}); {retrain_hint(path)}") from None
    if not isinstance(manifest, dict):
        raise BundleError(f"{manifest_path} is not a JSON object; {retrain_hint(path)}")
    version = manifest.get("format_version")
    if version != FORMAT_VERSION:
        raise BundleError(
            f"bundle {path} has format version {version!r} but this movierec reads version "
            f"{FORMAT_VERSION}; {retrain_hint(path, dataset_of(manifest))}"
        )
    check_manifest(path, manifest)
    return manifest


def check_manifest(path: Path, manifest: dict[str, Any]) -> None:
    """The whole manifest has the shape load and the model card rely on, before any file is read.

    Every file entry must be a plain file name inside the bundle (we write no
    subdirectories): no `..`, no absolute path, no separator.
    """
    where = path / MANIFEST
    hint = retrain_hint(path, dataset_of(manifest))
    dataset = manifest.get("dataset")
    if not isinstance(dataset, dict) or not isinstance(dataset.get("name"), str):
        raise BundleError(f"{where} has no dataset name (its 'dataset' entry); {hint}")
    for key in ("features", "model", "index", "files"):
        if not isinstance(manifest.get(key), dict):
            raise BundleError(f"{where} lacks its {key!r} entry (an object); {hint}")
    if not isinstance(manifest.get("evaluation", {}), dict):
        raise BundleError(f"{where}: 'evaluation' is not an object; {hint}")
    files = manifest["files"]
    if not files:
        raise BundleError(f"{where} lists no files; {hint}")
    for name, entry in files.items():
        if not is_plain_name(name):
            raise BundleError(
                f"{where} lists {name[:80]!r}, which is not a plain file name inside the "
                f"bundle; the manifest was tampered with; {hint}"
            )
        if not (
            isinstance(entry, dict)
            and isinstance(entry.get("bytes"), int)
            and isinstance(entry.get("sha256"), str)
        ):
            raise BundleError(f"{where}: the entry for {name} lacks its bytes or sha256; {hint}")


def is_plain_name(name: object) -> bool:
    """A file name with no directory part: not '', '.', '..', hidden, or holding a separator."""
    return (
        isinstance(name, str)
        and bool(name)
        and not name.startswith(".")
        and not any(c in name for c in "/\\\0:")
        and PurePosixPath(name).name == name
    )


def dataset_of(manifest: dict[str, Any]) -> str:
    try:
        return str(manifest["dataset"]["name"])
    except (KeyError, TypeError):
        return "default"


def verify_files(path: Path, manifest: dict[str, Any]) -> None:
    """Every file the manifest lists exists with its recorded size and sha256."""
    hint = retrain_hint(path, dataset_of(manifest))
    files = manifest.get("files")
    if not isinstance(files, dict) or not files:
        raise BundleError(f"{path / MANIFEST} lists no files; {hint}")
    for name, entry in files.items():
        if not is_plain_name(name):  # also checked at read; never stat a path outside the bundle
            raise BundleError(f"{path / MANIFEST} lists a name outside the bundle; {hint}")
        p = path / name
        if p.is_symlink():
            raise BundleError(f"bundle file {name} in {path} is a symbolic link; {hint}")
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
