"""`movierec data download|list|info`: fetch MovieLens datasets and look at what they hold.

Each command takes its config object and returns the exit status; the flags
are parsed in `server.cli`."""

from __future__ import annotations

import json
import sys
import warnings
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypedDict

from recsys.data import dataset as data
from recsys.data import download
from recsys.data.errors import DataError, DataWarning
from recsys.data.paths import EMBEDDED_DATASET, default_dataset_path


@dataclass(frozen=True)
class DownloadConfig:
    name: str
    cache_dir: Path
    base_url: str | None
    force: bool
    progress: bool


@dataclass(frozen=True)
class ListConfig:
    cache_dir: Path
    as_json: bool


@dataclass(frozen=True)
class InfoConfig:
    dataset: str
    cache_dir: Path
    strict: bool
    as_json: bool


def _fail(action: str, message: object) -> int:
    print(f"movierec data {action}: error: {message}", file=sys.stderr)
    return 2


def run_download(config: DownloadConfig) -> int:
    try:
        path = download.download(
            config.name,
            config.cache_dir,
            base_url=config.base_url,
            force=config.force,
            progress=config.progress,
        )
    except DataError as exc:
        return _fail("download", exc)
    except KeyboardInterrupt:
        print("movierec data download: interrupted; nothing was saved", file=sys.stderr)
        return 130
    print(path)
    return 0


class _ListRow(TypedDict):
    """One dataset in `data list` (a JSON object with --json)."""

    name: str
    size: str
    md5_pinned: bool
    cached: str | None  # the cached copy's folder
    embedded: str | None  # the embedded copy's folder
    description: str


def _list_rows(cache_dir: Path) -> list[_ListRow]:
    cached = download.cached_datasets(cache_dir)
    embedded = default_dataset_path()
    rows: list[_ListRow] = []
    for spec in download.DATASETS.values():
        is_embedded = spec.name == EMBEDDED_DATASET and embedded.is_dir()
        rows.append(
            {
                "name": spec.name,
                "size": spec.size_hint,
                "md5_pinned": spec.md5 is not None,
                "cached": str(cached[spec.name]) if spec.name in cached else None,
                "embedded": str(embedded) if is_embedded else None,
                "description": spec.description,
            }
        )
    return rows


def run_list(config: ListConfig) -> int:
    rows = _list_rows(config.cache_dir)
    if config.as_json:
        print(json.dumps({"cache_dir": str(config.cache_dir), "datasets": rows}, indent=2))
        return 0
    table = [("NAME", "SIZE", "MD5", "WHERE")]
    for row in rows:
        if row["cached"]:
            where = f"cached: {row['cached']}"
        elif row["embedded"]:
            where = f"embedded: {row['embedded']}"
        else:
            where = f"not downloaded (movierec data download {row['name']})"
        table.append((row["name"], row["size"], "pinned" if row["md5_pinned"] else "-", where))
    _print_table(table)
    print(f"\ncache: {config.cache_dir}")
    return 0


def _print_table(rows: Sequence[tuple[str, ...]]) -> None:
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]) - 1)]
    for row in rows:
        cells = [cell.ljust(w) for cell, w in zip(row, widths, strict=False)]
        print("  ".join([*cells, row[-1]]))


def _plain(value: object) -> Any:
    """JSON-ready form of the numpy / pandas scalars a summary may hold (any JSON value)."""
    if hasattr(value, "item"):
        return value.item()
    if isinstance(value, (tuple, list, set, frozenset)):
        return [_plain(v) for v in value]
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, Path):
        return str(value)
    return value


def _genres_text(genres: object) -> str:
    if isinstance(genres, (list, tuple, set, frozenset, dict)):
        return f"{len(genres)} ({', '.join(map(str, genres))})" if genres else "0"
    return str(genres)


def _range_text(low: object, high: object) -> str:
    return "no ratings" if low is None or high is None else f"{low:g} to {high:g}"


def run_info(config: InfoConfig) -> int:
    try:
        path = download.resolve_dataset(config.dataset, config.cache_dir)
        # Dropped rows are reported in the summary; the warnings add which ids, on stderr.
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always", DataWarning)
            dataset = data.load_dataset(path, strict=config.strict)
    except DataError as exc:
        return _fail("info", exc)
    except OSError as exc:
        return _fail("info", f"cannot read {config.dataset}: {exc}")
    for w in caught:
        print(f"movierec data info: warning: {w.message}", file=sys.stderr)
    summary: dict[str, Any] = {
        "path": str(path),
        **_plain(data.summarize(dataset)),
        "rating_scale": list(_plain(dataset.rating_scale)),
        "duplicate_ratings": int(getattr(dataset, "duplicate_ratings", 0)),
    }
    if config.as_json:
        print(json.dumps(summary, indent=2))
        return 0
    rows = [
        ("dataset", str(summary["name"])),
        ("format", str(summary["format"])),
        ("path", summary["path"]),
        ("users", f"{summary['users']:,}"),
        ("movies", f"{summary['movies']:,}"),
        ("rated movies", f"{summary['rated_movies']:,}"),
        ("ratings", f"{summary['ratings']:,}"),
        ("rating scale", _range_text(*summary["rating_scale"])),
        ("ratings given", _range_text(summary["rating_min"], summary["rating_max"])),
        ("genres", _genres_text(summary["genres"])),
        ("demographics", "yes" if summary["has_demographics"] else "no"),
        ("dropped ratings", f"{summary['dropped_ratings']:,} (unknown user or movie)"),
        ("duplicates", f"{summary['duplicate_ratings']:,} (repeated ratings, latest kept)"),
    ]
    width = max(len(k) for k, _ in rows)
    for key, value in rows:
        print(f"{key.ljust(width)}  {value}")
    return 0
