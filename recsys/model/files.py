"""A saved model's files, and reading back the parts that serve without torch.

A model directory (inside a bundle) holds `model.json` (the typed
`ModelConfig`, the calibrations, the training record and curves), the feature
arrays (`features.npz`, `features.json`), the user tower as plain arrays
(`user_tower.npz`, the only copy), the ranking artifacts
(`recsys.model.artifacts`: `neighbours.npz`, `likes.npz`) and the movie
tower's torch state dict (`weights.pt`, written and read by
`recsys.model.towers`). The movie
embeddings are not saved here: a bundle keeps them in its Annoy index and
hands them to the loaders.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from recsys.features.space import FeatureSpace
from recsys.model.artifacts import RankingArtifacts, read_artifacts, save_artifacts
from recsys.model.config import ModelConfig
from recsys.model.user_tower import ITEM_INPUT, REQUIRED, user_tower_arrays

USER_TOWER_FILE = "user_tower.npz"
CONFIG_FILE = "model.json"
WEIGHTS_FILE = "weights.pt"


class ModelError(ValueError):
    """A saved model could not be loaded; the message says what to run."""


@dataclass(frozen=True)
class SavedModel:
    """What every saved model holds besides its weights."""

    features: FeatureSpace
    movie_embeddings: np.ndarray  # float32 (n_movies, config.embedding_dim)
    dataset_name: str
    config: ModelConfig
    training: dict[str, Any] = field(default_factory=dict)  # the training record (JSON)
    curves: dict[str, list[float]] = field(default_factory=dict)
    # Neighbours, likes and calibrations for `recsys.ranking`; every saved model has them,
    # a model still being fitted (the validation network) may not.
    ranking: RankingArtifacts | None = None


def write_config(model: SavedModel, directory: Path) -> list[str]:
    """Write `model.json` and the ranking artifacts' arrays; a model without artifacts
    (not made by `recsys.training.fit`) cannot be saved, since it could not be served."""
    if model.ranking is None:
        raise ValueError("this model has no ranking artifacts; train it with recsys.training.fit")
    meta = {
        "dataset_name": model.dataset_name,
        "model_config": asdict(model.config),
        "calibration": asdict(model.ranking.calibrations),
        "training": model.training,
        "curves": model.curves,
    }
    (directory / CONFIG_FILE).write_text(json.dumps(meta, indent=2), encoding="utf-8")
    return [CONFIG_FILE, *save_artifacts(model.ranking, directory)]


def save_user_tower(state: dict[str, np.ndarray], directory: Path) -> str:
    """Write the user tower's arrays (from a numpy state dict); the torch weights leave them out."""
    # Compressed: float16 weights shrink by a tenth, and reading them back costs ~30 ms.
    # Plain arrays only (the loader refuses pickles too); the same bytes as the default.
    np.savez_compressed(
        Path(directory) / USER_TOWER_FILE, allow_pickle=False, **user_tower_arrays(state)
    )
    return USER_TOWER_FILE


def read_saved(directory: Path, movie_embeddings: np.ndarray) -> SavedModel:
    """The config, features and training record of the model in `directory`, with the
    movie embeddings its bundle keeps; raises ModelError when they do not fit together."""
    directory = Path(directory)
    try:
        meta = json.loads((directory / CONFIG_FILE).read_text(encoding="utf-8"))
        features = FeatureSpace.load(directory)
        saved = SavedModel(
            features=features,
            movie_embeddings=np.asarray(movie_embeddings, dtype=np.float32),
            dataset_name=str(meta["dataset_name"]),
            config=ModelConfig.from_stored(meta["model_config"]),
            training=dict(meta.get("training") or {}),
            curves=dict(meta.get("curves") or {}),
            ranking=read_artifacts(directory, meta.get("calibration"), features.n_movies),
        )
    except Exception as exc:  # noqa: BLE001 - any failure here means "this is not our model"
        raise model_error(directory, exc) from exc
    emb, n = saved.movie_embeddings, saved.features.n_movies
    if emb.shape != (n, saved.config.embedding_dim):
        raise ModelError(
            f"movie embeddings in {directory} have shape {emb.shape}, expected "
            f"({n}, {saved.config.embedding_dim}); retrain with `movierec train`."
        )
    return saved


def read_user_tower(directory: Path, saved: SavedModel) -> dict[str, np.ndarray]:
    """The user tower's arrays in float32, keys without the state-dict prefix, checked
    against the model's config."""
    try:
        with np.load(Path(directory) / USER_TOWER_FILE, allow_pickle=False) as z:
            tower = {k: z[k].astype(np.float32) for k in z.files}
        config = saved.config
        wanted = [*REQUIRED]
        if config.recent > 0:
            wanted.append("recent_mix.weight")
        if config.item_rank > 0:
            wanted.append(ITEM_INPUT)
        missing = [k for k in wanted if k not in tower]
        if missing:
            raise ValueError(f"{USER_TOWER_FILE} lacks {', '.join(missing)}")
        shape = (saved.features.n_movies, config.item_rank)
        if config.item_rank > 0 and tower[ITEM_INPUT].shape != shape:
            raise ValueError(
                f"{ITEM_INPUT} in {USER_TOWER_FILE} has shape {tower[ITEM_INPUT].shape}, "
                f"expected {shape}"
            )
    except Exception as exc:  # noqa: BLE001 - any failure here means "this is not our model"
        raise model_error(directory, exc) from exc
    return tower


def model_error(directory: Path, exc: Exception) -> ModelError:
    return ModelError(
        f"cannot load the model in {directory}: {exc}. Retrain it with "
        f"`movierec train --dataset NAME --out {directory}`."
    )
