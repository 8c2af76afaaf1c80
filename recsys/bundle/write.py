"""Writing a bundle: everything the server needs, in one directory that appears whole or not at all.

A bundle is written into a temporary sibling directory and renamed into
place, so readers only ever see a complete bundle (layout and checksums:
`recsys.bundle.manifest`). A writer records its host, pid and process start
time in its temporary directory, so the next write removes the leftovers of
writers that were killed, and never those of one still running.
"""

from __future__ import annotations

import json
import logging
import os
import shutil
import socket
import time
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
    remove_stale_temps(out_dir)
    tag = uuid.uuid4().hex[:8]
    tmp = out_dir.parent / f".{out_dir.name}.tmp-{tag}"
    tmp.mkdir()
    try:
        _record_writer(tmp)
        model_files = save_model(model, tmp)
        reserved = {MANIFEST, INDEX_FILE, sidecar_path(Path(INDEX_FILE)).name, MOVIES_FILE}
        clash = (reserved | {USERS_FILE}).intersection(model_files)
        if clash:
            raise BundleError(f"save_model wrote files the bundle reserves: {sorted(clash)}")
        info = build_index(model.movie_embeddings, tmp / INDEX_FILE, n_trees=n_trees, seed=seed)
        movies_table(model, dataset).to_csv(tmp / MOVIES_FILE, index=False)
        users_table(model).to_csv(tmp / USERS_FILE, index=False)
        # Not part of the bundle; the directory's fresh mtime still protects it (STALE_AFTER_S).
        (tmp / WRITER_FILE).unlink()
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
    _record_writer(old)
    shutil.rmtree(old, ignore_errors=True)


# Inside a temporary directory: who writes it. Without it, a directory this old is stale.
WRITER_FILE = ".writer.json"
STALE_AFTER_S = 3600.0


def _process_start(pid: int) -> str | None:
    """When process `pid` started (clock ticks since boot, Linux), to tell a reused pid apart."""
    try:
        stat_line = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    return stat_line.rsplit(")", 1)[1].split()[19]


def _record_writer(directory: Path) -> None:
    pid = os.getpid()
    record = {"host": socket.gethostname(), "pid": pid, "started": _process_start(pid)}
    (directory / WRITER_FILE).write_text(json.dumps(record), encoding="utf-8")


def _writer_alive(record: dict[str, Any]) -> bool:
    if record.get("host") != socket.gethostname():
        return True  # another machine's process cannot be checked from here: keep its files
    pid = record.get("pid")
    if not isinstance(pid, int) or pid <= 0:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        pass  # it exists, as another user
    started = record.get("started")
    return started is None or started == _process_start(pid)


def _is_stale(directory: Path, now: float) -> bool:
    try:
        record = json.loads((directory / WRITER_FILE).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        record = None
    if isinstance(record, dict):
        return not _writer_alive(record)
    try:  # no record: a writer that died before recording itself, or an older movierec
        return now - directory.stat().st_mtime > STALE_AFTER_S
    except OSError:
        return False


def remove_stale_temps(out_dir: Path) -> list[Path]:
    """Remove the temporary directories of `out_dir`'s writers that are gone; returns them."""
    out_dir = Path(out_dir)
    patterns = [f".{out_dir.name}.tmp-*"]
    if out_dir.is_dir():  # a set-aside old bundle is only spare once a new one is in place
        patterns.append(f".{out_dir.name}.old-*")
    now = time.time()
    removed = []
    for pattern in patterns:
        for directory in sorted(out_dir.parent.glob(pattern)):
            if directory.is_dir() and not directory.is_symlink() and _is_stale(directory, now):
                shutil.rmtree(directory, ignore_errors=True)
                removed.append(directory)
    if removed:
        log.info("removed %d leftover temporary bundle directories", len(removed))
    return removed
