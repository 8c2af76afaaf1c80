"""Writing a bundle: everything the server needs, in one directory that appears whole or not at all.

A bundle is written into a temporary sibling directory and renamed into
place, so readers only ever see a complete bundle (layout and checksums:
`recsys.bundle.manifest`).
"""

from __future__ import annotations

import json
import logging
import os
import shutil
import uuid
from dataclasses import asdict
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from recsys.bundle.index import DEFAULT_N_TREES, DEFAULT_SEED, build_index, sidecar_path
from recsys.bundle.manifest import (
    FORMAT_VERSION,
    INDEX_FILE,
    MANIFEST,
    MOVIES_FILE,
    USERS_FILE,
    BundleError,
    dataset_fingerprint,
    file_entries,
)
from recsys.bundle.tables import movies_table, users_table
from recsys.data.dataset import Dataset

if TYPE_CHECKING:
    from recsys.model.towers import TrainedModel

log = logging.getLogger(__name__)


def check_destination(out_dir: Path) -> None:
    """Refuse, before any work is done, a destination a bundle may not replace."""
    out_dir = Path(out_dir)
    if out_dir.exists() and not out_dir.is_dir():
        raise BundleError(f"{out_dir} exists and is not a directory; choose another --out")
    if out_dir.is_dir() and any(out_dir.iterdir()) and not (out_dir / MANIFEST).is_file():
        raise BundleError(
            f"{out_dir} is a non-empty directory that is not a model bundle; "
            "refusing to replace it. Choose an empty or new --out directory."
        )


def write_bundle(
    model: TrainedModel,
    dataset: Dataset,
    out_dir: Path,
    *,
    evaluation: dict[str, Any] | None = None,
    n_trees: int = DEFAULT_N_TREES,
    seed: int = DEFAULT_SEED,
) -> Path:
    """Write a complete bundle to `out_dir`, atomically replacing any bundle already there."""
    from recsys.model.towers import save_model  # torch: only needed when writing

    out_dir = Path(out_dir)
    check_destination(out_dir)
    out_dir.parent.mkdir(parents=True, exist_ok=True)
    tag = uuid.uuid4().hex[:8]
    tmp = out_dir.parent / f".{out_dir.name}.tmp-{tag}"
    tmp.mkdir()
    try:
        model_files = save_model(model, tmp)
        reserved = {MANIFEST, INDEX_FILE, sidecar_path(Path(INDEX_FILE)).name, MOVIES_FILE}
        clash = (reserved | {USERS_FILE}).intersection(model_files)
        if clash:
            raise BundleError(f"save_model wrote files the bundle reserves: {sorted(clash)}")
        info = build_index(model.movie_embeddings, tmp / INDEX_FILE, n_trees=n_trees, seed=seed)
        movies_table(model, dataset).to_csv(tmp / MOVIES_FILE, index=False)
        users_table(model).to_csv(tmp / USERS_FILE, index=False)
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
                "files": sorted(model_files),
            },
            "evaluation": evaluation or {},
            "index": asdict(info),
            "files": file_entries(tmp),
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
