"""Known MovieLens datasets: where to fetch them, how to verify them, where they are cached.

A download streams the GroupLens zip into a temporary file inside the cache
directory, checks its md5, unpacks it into a temporary directory next to the
final location and only then renames it into `<cache>/<name>/`. The rename is
the commit point: a failed or interrupted download leaves no `<cache>/<name>/`,
so a later command can never pick up half a dataset.
"""

from __future__ import annotations

import hashlib
import http.client
import os
import shutil
import stat
import sys
import tempfile
import urllib.error
import urllib.request
import zipfile
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import BinaryIO

from tqdm import tqdm

from recsys.data.errors import DataError
from recsys.data.paths import EMBEDDED_DATASET, default_dataset_path

DEFAULT_BASE_URL = "https://files.grouplens.org/datasets/movielens"
BASE_URL_ENV = "MOVIEREC_DOWNLOAD_BASE"
CACHE_ENV = "MOVIEREC_CACHE"

_CHUNK = 1 << 20
_TIMEOUT_S = 60.0
_MB = 1 << 20


class DownloadError(DataError):
    """A dataset could not be downloaded; the message says what happened and what to do."""


@dataclass(frozen=True)
class KnownDataset:
    name: str
    folder: str  # top-level folder inside the zip
    md5: str | None  # of the zip; None = GroupLens' published value not pinned here
    size_hint: str  # download size, for `data list`
    required: tuple[str, ...]  # files the unpacked folder must contain
    description: str
    # Bounds on what the zip may unpack to: far above the real release, far below a zip bomb.
    max_unpacked: int = 64 * _MB
    max_entries: int = 100

    def url(self, base_url: str) -> str:
        return f"{base_url.rstrip('/')}/{self.name}.zip"


# md5s are GroupLens' published values (the `<name>.zip.md5` files next to each zip).
# ml-latest-small is a "latest" snapshot that GroupLens regenerates, so it stays unpinned.
DATASETS: dict[str, KnownDataset] = {
    d.name: d
    for d in (
        KnownDataset(
            "ml-100k",
            "ml-100k",
            "0e33842e24a9c977be4e0107933c0723",
            "5 MB",
            ("u.data", "u.item", "u.user"),
            "100,000 ratings, 943 users, with demographics (1998)",
        ),
        KnownDataset(
            "ml-1m",
            "ml-1m",
            "c4d9eecfca2ab87c1945afe126590906",
            "6 MB",
            ("ratings.dat", "movies.dat", "users.dat"),
            "1 million ratings, 6,040 users, with demographics (2003)",
            max_unpacked=256 * _MB,
        ),
        KnownDataset(
            "ml-latest-small",
            "ml-latest-small",
            None,
            "1 MB",
            ("ratings.csv", "movies.csv"),
            "100,000 ratings, 610 users, no demographics (embedded copy ships with movierec)",
        ),
        KnownDataset(
            "ml-25m",
            "ml-25m",
            "6b51fb2759a8657d3bfcbfc42b592ada",
            "262 MB",
            ("ratings.csv", "movies.csv"),
            "25 million ratings, 162,541 users, no demographics (2019)",
            max_unpacked=3072 * _MB,
        ),
        KnownDataset(
            "ml-32m",
            "ml-32m",
            "d472be332d4daa821edc399621853b57",
            "239 MB",
            ("ratings.csv", "movies.csv"),
            "32 million ratings, 200,948 users, no demographics (2023)",
            max_unpacked=3072 * _MB,
        ),
    )
}


def known_names() -> list[str]:
    return list(DATASETS)


def default_cache_dir(env: Mapping[str, str] | None = None) -> Path:
    """`$MOVIEREC_CACHE`, else `$XDG_CACHE_HOME/movierec`, else `~/.cache/movierec`."""
    found = os.environ if env is None else env
    if found.get(CACHE_ENV):
        return Path(found[CACHE_ENV]).expanduser()
    if found.get("XDG_CACHE_HOME"):
        return Path(found["XDG_CACHE_HOME"]).expanduser() / "movierec"
    return Path.home() / ".cache" / "movierec"


def default_base_url(env: Mapping[str, str] | None = None) -> str:
    found = os.environ if env is None else env
    return found.get(BASE_URL_ENV) or DEFAULT_BASE_URL


def cached_datasets(cache_dir: Path) -> dict[str, Path]:
    """Known datasets already unpacked in `cache_dir`, in registry order."""
    found = {}
    for name in DATASETS:
        path = Path(cache_dir) / name
        if path.is_dir():
            found[name] = path
    return found


def resolve_dataset(spec: str, cache_dir: Path | None = None) -> Path:
    """Turn a `--dataset` value (`default`, a known name, or a path) into a dataset folder."""
    if spec == "default":
        embedded = default_dataset_path()
        if not embedded.is_dir():
            raise DataError(
                f"the embedded dataset is missing (expected {embedded}); reinstall movierec "
                f"or run `movierec data download {EMBEDDED_DATASET}` and pass "
                f"--dataset {EMBEDDED_DATASET}"
            )
        return embedded
    if spec in DATASETS:
        cache_dir = default_cache_dir() if cache_dir is None else Path(cache_dir)
        cached = cache_dir / spec
        if cached.is_dir():
            return cached
        if spec == EMBEDDED_DATASET and default_dataset_path().is_dir():
            return default_dataset_path()
        raise DataError(
            f"dataset {spec} is not downloaded yet (looked in {cached}); "
            f"run `movierec data download {spec}` first"
        )
    path = Path(spec).expanduser()
    if path.exists():
        return path
    raise DataError(
        f"{spec!r} is neither a known dataset nor an existing path; known datasets: "
        f"{', '.join(['default', *DATASETS])} (download with `movierec data download NAME`), "
        "or give the path of a MovieLens folder"
    )


def download(
    name: str,
    cache_dir: Path,
    *,
    base_url: str | None = None,
    force: bool = False,
    progress: bool = True,
) -> Path:
    """Download, verify and unpack dataset `name` into `<cache_dir>/<name>/`; return that path.

    Returns at once when the dataset is already cached, unless `force`.
    """
    spec = DATASETS.get(name)
    if spec is None:
        raise DownloadError(f"unknown dataset {name!r}; known datasets: {', '.join(DATASETS)}")
    cache_dir = Path(cache_dir).expanduser()
    target = cache_dir / name
    if target.is_dir() and not force:
        return target
    try:
        cache_dir.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise DownloadError(
            f"cannot create the cache directory {cache_dir}: {exc.strerror or exc}; "
            f"choose another with --cache-dir or ${CACHE_ENV}"
        ) from exc

    url = spec.url(base_url or default_base_url())
    fd, part_name = tempfile.mkstemp(prefix=f".{name}-", suffix=".zip.part", dir=cache_dir)
    part = Path(part_name)
    staging: Path | None = None
    try:
        staging = Path(tempfile.mkdtemp(prefix=f".{name}-unpack-", dir=cache_dir))
        with os.fdopen(fd, "wb") as out:
            got_md5 = _fetch(url, out, label=name, progress=progress)
        _check_md5(spec, url, got_md5)
        _unpack(part, staging, url, spec)
        unpacked = staging / spec.folder
        _check_contents(spec, unpacked, url)
        _commit(unpacked, target, staging, force)
    finally:
        part.unlink(missing_ok=True)
        if staging is not None:
            shutil.rmtree(staging, ignore_errors=True)
    return target


def _fetch(url: str, out: BinaryIO, *, label: str, progress: bool) -> str:
    """Stream `url` into `out`; return the md5 hex digest of what was written."""
    try:
        response = urllib.request.urlopen(url, timeout=_TIMEOUT_S)
    except urllib.error.HTTPError as exc:
        raise DownloadError(_http_message(url, exc.code, exc.reason)) from exc
    except (urllib.error.URLError, OSError) as exc:
        reason = getattr(exc, "reason", exc)
        raise DownloadError(
            f"could not reach {url}: {reason}; check the network connection, or point "
            f"${BASE_URL_ENV} at a mirror that serves the GroupLens zips"
        ) from exc
    digest = hashlib.md5(usedforsecurity=False)
    with response:
        length = response.headers.get("Content-Length")
        expected = int(length) if length and length.isdigit() else None
        received = 0
        bar = tqdm(
            total=expected,
            unit="B",
            unit_scale=True,
            unit_divisor=1024,
            desc=label,
            file=sys.stderr,
            disable=not progress,
        )
        with bar:
            while True:
                try:
                    chunk = response.read(_CHUNK)
                except (http.client.HTTPException, OSError) as exc:
                    raise DownloadError(
                        f"the download of {url} broke off after {received} bytes ({exc!r}); "
                        "run the command again"
                    ) from exc
                if not chunk:
                    break
                out.write(chunk)
                digest.update(chunk)
                received += len(chunk)
                bar.update(len(chunk))
    if expected is not None and received != expected:
        raise DownloadError(
            f"the download of {url} is truncated: got {received} of {expected} bytes; "
            "run the command again"
        )
    return digest.hexdigest()


def _http_message(url: str, status: int, reason: object) -> str:
    if status == 404:
        hint = (
            "the file is not on the server; check the dataset name, and if "
            f"${BASE_URL_ENV} is set, that the mirror has it"
        )
    elif status >= 500:
        hint = "the server failed; try again later"
    else:
        hint = "check the URL, and that the server allows the download"
    return f"downloading {url} failed: HTTP {status} {reason}; {hint}"


def _check_md5(spec: KnownDataset, url: str, got: str) -> None:
    if spec.md5 is None:
        print(
            f"warning: {spec.name} has no pinned checksum, so the download from {url} "
            f"is not verified (its md5 is {got}; compare it with {url}.md5)",
            file=sys.stderr,
        )
        return
    if got != spec.md5:
        raise DownloadError(
            f"checksum mismatch for {url}: expected md5 {spec.md5}, got {got}; the file is "
            "corrupt or not the official release. Nothing was saved; run the command again, "
            f"and if it persists check ${BASE_URL_ENV}"
        )


def _unpack(archive: Path, dest: Path, url: str, spec: KnownDataset) -> None:
    """Check every entry, then the entry count and declared size, then extract within budget."""
    try:
        with zipfile.ZipFile(archive) as zf:
            members = zf.infolist()
            if len(members) > spec.max_entries:
                raise DownloadError(
                    f"refusing to unpack {url}: it has {len(members)} entries, more than the "
                    f"{spec.max_entries} a {spec.name} zip may hold; it is not the dataset"
                )
            for info in members:
                _check_member(info, url)
            _check_layout(members, url)
            declared = _declared_size(members)
            if declared > spec.max_unpacked:
                raise DownloadError(_too_big(url, spec, f"declares {declared} bytes,"))
            limited = _Limited(zf, spec.max_unpacked, _too_big(url, spec, "unpacks to"))
            for info in members:
                _extract_member(limited, info, dest)
    except (zipfile.BadZipFile, zipfile.LargeZipFile, EOFError) as exc:
        raise DownloadError(
            f"{url} is not a valid zip archive ({exc}); the download is corrupt or truncated, "
            "run the command again"
        ) from exc
    except OSError as exc:  # a layout the checks above missed must not escape as a traceback
        raise DownloadError(f"cannot unpack {url}: {exc}; it is not the dataset") from exc


def _declared_size(members: list[zipfile.ZipInfo]) -> int:
    return sum(info.file_size for info in members)


def _too_big(url: str, spec: KnownDataset, what: str) -> str:
    return (
        f"refusing to unpack {url}: it {what} more than the {spec.max_unpacked // _MB} MB a "
        f"{spec.name} zip may unpack to; it is not the dataset (or it is a zip bomb)"
    )


def _parts(info: zipfile.ZipInfo) -> tuple[str, ...]:
    return PurePosixPath(info.filename.replace("\\", "/")).parts


def _check_layout(members: list[zipfile.ZipInfo], url: str) -> None:
    """Refuse a zip where one path is both a file and a folder (e.g. `a` and `a/b`)."""
    files = {_parts(info): info.filename for info in members if not info.is_dir()}
    folders = {_parts(info) for info in members if info.is_dir()}
    folders.update(parts[:i] for parts in files for i in range(1, len(parts)))
    clash = sorted(files[parts] for parts in files if parts in folders)
    if clash:
        raise DownloadError(
            f"refusing to unpack {url}: entry {clash[0]!r} is both a file and a folder; "
            "it is not the dataset"
        )


class _Limited:
    """A zip whose members, read one after another, may yield `budget` bytes in all.

    Declared sizes can lie, so what is read is counted as it is read.
    """

    def __init__(self, zf: zipfile.ZipFile, budget: int, too_big: str) -> None:
        self._zf = zf
        self._left = budget
        self._too_big = too_big

    @contextmanager
    def open(self, info: zipfile.ZipInfo) -> Iterator[_Limited]:
        with self._zf.open(info) as src:
            self._src = src
            yield self

    def read(self, n: int = -1, /) -> bytes:
        chunk = self._src.read(n)
        self._left -= len(chunk)
        if self._left < 0:
            raise DownloadError(self._too_big)
        return chunk


def _check_member(info: zipfile.ZipInfo, url: str) -> None:
    """Refuse entries that would land outside the unpack directory, and links."""
    raw = info.filename
    parts = PurePosixPath(raw.replace("\\", "/")).parts
    escapes = (
        raw.startswith(("/", "\\"))
        or (len(raw) > 1 and raw[1] == ":")
        or any(part == ".." for part in parts)
    )
    if escapes:
        raise DownloadError(
            f"refusing to unpack {url}: entry {raw!r} points outside the dataset folder"
        )
    if stat.S_ISLNK(info.external_attr >> 16):
        raise DownloadError(f"refusing to unpack {url}: entry {raw!r} is a symbolic link")


def _extract_member(zf: _Limited, info: zipfile.ZipInfo, dest: Path) -> None:
    path = dest.joinpath(*_parts(info))
    if info.is_dir():
        path.mkdir(parents=True, exist_ok=True)
        return
    path.parent.mkdir(parents=True, exist_ok=True)
    with zf.open(info) as src, open(path, "wb") as dst:
        shutil.copyfileobj(src, dst, _CHUNK)


def _check_contents(spec: KnownDataset, unpacked: Path, url: str) -> None:
    if not unpacked.is_dir():
        raise DownloadError(f"{url} has no {spec.folder}/ folder; it is not the {spec.name} zip")
    missing = [f for f in spec.required if not (unpacked / f).is_file()]
    if missing:
        raise DownloadError(
            f"{url} lacks {', '.join(missing)} in {spec.folder}/; it is not the {spec.name} zip"
        )


def _commit(unpacked: Path, target: Path, staging: Path, force: bool) -> None:
    """Rename the unpacked folder into place; with `force`, swap out the old copy."""
    if target.exists():
        if not force:
            return  # another process finished the same download first
        # Move the old copy aside inside staging so it is removed with it.
        os.replace(target, staging / ".replaced")
    os.replace(unpacked, target)
