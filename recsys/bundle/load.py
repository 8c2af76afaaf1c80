"""Loading a bundle: every checksum, the index and the tables verified before anything serves."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from recsys.bundle.index import IndexFileError, MovieIndex
from recsys.bundle.manifest import (
    INDEX_FILE,
    MOVIES_FILE,
    USERS_FILE,
    BundleError,
    dataset_of,
    read_manifest,
    retrain_hint,
    verify_files,
)
from recsys.bundle.tables import read_movies, read_users
from recsys.model.files import ModelError
from recsys.model.query_model import ServingModel, load_serving_model


@dataclass(frozen=True)
class Bundle:
    path: Path
    manifest: dict[str, Any]
    model: ServingModel
    index: MovieIndex
    movies: pd.DataFrame  # row i = dense movie index i
    users: pd.DataFrame  # one row per known user, sorted by user_id

    @property
    def dataset_name(self) -> str:
        return str(self.manifest["dataset"]["name"])


def load_bundle(path: Path) -> Bundle:
    """Load and verify a bundle; raises BundleError saying what is wrong and what to run."""
    path = Path(path)
    manifest = read_manifest(path)
    verify_files(path, manifest)
    hint = retrain_hint(path, dataset_of(manifest))
    try:
        index = MovieIndex.open(path / INDEX_FILE)
    except IndexFileError as exc:
        raise BundleError(f"the index in bundle {path} is unusable: {exc}; {hint}") from None
    try:
        return _load_with_index(path, manifest, index, hint)
    except BaseException:
        index.close()
        raise


def _load_with_index(path: Path, manifest: dict[str, Any], index: MovieIndex, hint: str) -> Bundle:
    try:
        model = load_serving_model(path, index.vectors)
    except ModelError as exc:
        raise BundleError(f"the model in bundle {path} cannot be loaded: {exc}") from None
    if asdict(index.info) != manifest.get("index"):
        raise BundleError(f"the index sidecar in {path} differs from the manifest; {hint}")
    movies = read_movies(path / MOVIES_FILE)
    if not np.array_equal(movies["movie_id"].to_numpy(), model.features.movie_ids):
        raise BundleError(f"{MOVIES_FILE} in {path} does not list the model's movies; {hint}")
    users = read_users(path / USERS_FILE)
    if not np.array_equal(users["user_id"].to_numpy(), model.features.user_ids):
        raise BundleError(f"{USERS_FILE} in {path} does not list the model's users; {hint}")
    return Bundle(
        path=path, manifest=manifest, model=model, index=index, movies=movies, users=users
    )
