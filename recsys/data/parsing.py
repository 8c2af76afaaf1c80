"""What every MovieLens reader shares: file layouts, the two-speed table parser, frame builders.

Each family's reader (`ml1m`, `ml100k`, `csv_family`) returns a `Tables` whose
frames already follow the schema in `recsys.data.dataset` (column names,
dtypes, canonical genres, ML-1M age codes). What spans files (unknown ids,
duplicated ratings, sorting) is settled by `recsys.data.dataset.load_dataset`.

Parsing uses the pandas C parser throughout. The `::` files are read by
swapping `::` for a tab in the raw bytes first: the python engine's
multi-character separator is an order of magnitude slower.

Validation is two-speed: the fast path parses with fixed dtypes and checks
values with vectorised masks; only when that fails is the file re-read as
plain strings to find the first bad line and say exactly what is wrong there.

Encodings: the CSV family is UTF-8, so undecodable bytes are an error with
their line number. The `.dat` / `u.*` files are latin-1, which accepts every
byte, so no byte can be invalid there; instead, a title file that is pure
valid UTF-8 with non-ASCII text (someone re-saved it) is read as UTF-8 with a
warning rather than turned into mojibake.
"""

from __future__ import annotations

import csv
import io
import re
import warnings
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal, TypedDict

import numpy as np
import pandas as pd
from tqdm import tqdm

from recsys.data import vocab
from recsys.data.errors import DataError, DataWarning

# Files above this size are read in chunks behind a progress bar.
_CHUNKED_BYTES = 64 * 1024 * 1024
_CHUNK_ROWS = 2_000_000

# Separators recognised when a file uses the wrong one, most specific first.
_SEPARATORS: tuple[tuple[str, str], ...] = (
    ("::", "'::'"),
    ("\t", "tabs"),
    ("|", "'|'"),
    (",", "','"),
    (";", "';'"),
    (":", "':'"),
)

# A year in parentheses, optionally a range ("1994-1998", "2006–2007", "2015– "),
# the last such group in the title ("... (1995) (V)" still gives 1995).
_TITLE_YEAR = re.compile(r".*\(\s*((?:1[89]|20)\d\d)(?:\s*[-–]\s*(?:\d{2,4})?)?\s*\)")
_DATE_YEAR = re.compile(r"((?:1[89]|20)\d\d)\s*$")

_ID_PATTERN = r"\s*\d+\s*"
_INT_PATTERN = r"\s*-?\d+\s*"
_NO_GENRE = frozenset(g.lower() for g in vocab.NO_GENRE)

BadMask = Callable[[pd.Series], pd.Series]


@dataclass(frozen=True)
class Field:
    """One column of a file: how it parses and what a good value looks like."""

    name: str
    kind: str  # "id" (whole number >= 0) | "int" | "float" | "text"
    bad: BadMask | None = None  # True where a parsed value is unacceptable
    rule: str = ""  # what a good value is, for the error message
    required: bool = True  # an empty value is an error


@dataclass(frozen=True)
class FileSpec:
    """The layout of one file of one format."""

    filename: str
    sep: str
    sep_label: str
    fields: tuple[Field, ...]
    encoding: str
    example: str
    header: tuple[str, ...] | None = None
    quoted: bool = False  # CSV quoting ("a, b" fields); off for the MovieLens .dat/u.* files


@dataclass(frozen=True)
class Tables:
    movies: pd.DataFrame
    users: pd.DataFrame | None  # None: no users file, users come from the ratings
    ratings: pd.DataFrame
    rating_scale: tuple[float, float]
    has_demographics: bool
    files: dict[str, Path] = field(default_factory=dict)
    links: pd.DataFrame | None = None  # movie_id, imdb_id, tmdb_id where the format has them


_PANDAS_DTYPE = {"id": "int64", "int": "int64", "float": "float32", "text": "str"}


# ---------------------------------------------------------------- raw file access


def read_bytes(path: Path) -> bytes:
    try:
        raw = path.read_bytes()
    except OSError as exc:
        raise DataError(f"{path}: cannot be read ({exc.strerror}). Check its permissions.") from exc
    if not raw.strip():
        raise DataError(f"{path} is empty. Restore it from the original MovieLens download.")
    return raw


def read_head(path: Path, size: int = 1 << 16) -> bytes:
    try:
        with path.open("rb") as fh:
            head = fh.read(size)
    except OSError as exc:
        raise DataError(f"{path}: cannot be read ({exc.strerror}). Check its permissions.") from exc
    if not head.strip():
        raise DataError(f"{path} is empty. Restore it from the original MovieLens download.")
    return head


def _line_of(raw: bytes, offset: int) -> int:
    return raw.count(b"\n", 0, offset) + 1


def decode_strict(raw: bytes, path: Path, encoding: str) -> str:
    """Decode, naming the line of the first undecodable byte on failure."""
    try:
        return raw.decode(encoding)
    except UnicodeDecodeError as exc:
        line = _line_of(raw, exc.start)
        raise DataError(
            f"{path}, line {line}: byte {raw[exc.start]:#04x} is not valid {encoding.upper()}. "
            f"This file must be {encoding.upper()}-encoded; re-save it as {encoding.upper()} "
            "or restore it from the original MovieLens download."
        ) from None


def title_file_encoding(raw: bytes, path: Path) -> str:
    """The encoding to parse a latin-1 title file (movies.dat, u.item) with.

    A file that is valid UTF-8 and not plain ASCII was almost surely re-saved
    as UTF-8 (latin-1 text with accents is almost never valid UTF-8).
    """
    if raw.isascii():
        return "latin-1"
    try:
        raw.decode("utf-8")
    except UnicodeDecodeError:
        return "latin-1"
    warnings.warn(
        f"{path} should be latin-1 but is UTF-8; reading it as UTF-8 so titles keep their accents.",
        DataWarning,
        stacklevel=4,
    )
    return "utf-8"


# ---------------------------------------------------------------- separator / header checks


def _first_line(head: bytes) -> tuple[int, str]:
    head = head.removeprefix(b"\xef\xbb\xbf")
    for number, line in enumerate(head.decode("latin-1").splitlines(), start=1):
        if line.strip():
            return number, line.rstrip("\r")
    return 1, ""


def _check_separator(path: Path, spec: FileSpec, head: bytes, fmt: str) -> None:
    number, line = _first_line(head)
    if spec.header is not None:
        cells = [c.strip().strip('"') for c in line.split(spec.sep)]
        if tuple(cells) == spec.header:
            return
        expected = spec.sep.join(spec.header)
        for sep, label in _SEPARATORS:
            if sep != spec.sep and sep in line:
                split = tuple(c.strip().strip('"') for c in line.split(sep))
                if split == spec.header:
                    raise DataError(
                        f"{path} is separated by {label}, but {fmt} {spec.filename} uses "
                        f"{spec.sep_label}. Re-save it comma-separated with the header "
                        f"'{expected}'."
                    )
        raise DataError(
            f"{path}, line {number}: header is '{line[:120]}', expected '{expected}'. "
            f"{fmt} {spec.filename} starts with that header line; add or fix it."
        )
    if spec.sep in line:
        return
    for sep, label in _SEPARATORS:
        if sep != spec.sep and sep in line:
            raise DataError(
                f"{path} is separated by {label}, but {fmt} {spec.filename} uses "
                f"{spec.sep_label} (lines like '{spec.example}'). "
                f"Convert it to {spec.sep_label} or point at the original download."
            )
    raise DataError(
        f"{path}, line {number}: no {spec.sep_label} separator in '{line[:120]}'; "
        f"{fmt} {spec.filename} has lines like '{spec.example}'."
    )


# ---------------------------------------------------------------- table reading


def _bad_rows(frame: pd.DataFrame, spec: FileSpec) -> pd.Series:
    bad = pd.Series(False, index=frame.index)
    for f in spec.fields:
        col = frame[f.name]
        if f.required:
            bad |= col.isna()
        if f.kind == "id":
            bad |= col < 0
        if f.bad is not None:
            bad |= col.notna() & f.bad(col)
    return bad


def read_table(source: Path | bytes, spec: FileSpec, path: Path, fmt: str) -> pd.DataFrame:
    """Parse one file with `spec`; a DataError names the first bad line otherwise.

    `source` is the path (large numeric files, read straight by pandas) or
    the file's bytes (already read for sniffing or decoding).
    """
    head = source[: 1 << 16] if isinstance(source, bytes) else read_head(path)
    _check_separator(path, spec, head, fmt)
    if isinstance(source, bytes) and spec.sep == "::":
        source, sep = _single_char_separator(source)
    else:
        sep = spec.sep
    if isinstance(source, bytes) and not spec.quoted:
        # Empty optional trailing fields look like absent ones once parsed; count them here.
        _check_field_counts(source, sep, spec, path)
    options = _read_options(spec, sep)
    try:
        frame = _fast_read(source, path, spec, options)
    except UnicodeDecodeError:
        decode_strict(source if isinstance(source, bytes) else read_bytes(path), path, "utf-8")
        raise  # decode_strict raises first; keeps the type checker honest
    except (ValueError, pd.errors.ParserError):
        frame = None
    if frame is None or _bad_rows(frame, spec).any():
        _diagnose(source, path, spec, options)
        raise DataError(
            f"{path}: could not be parsed as {fmt} {spec.filename}, whose lines look like "
            f"'{spec.example}'. Restore it from the original MovieLens download."
        )
    if len(frame) == 0:
        raise DataError(
            f"{path} has no data lines. Restore it from the original MovieLens download."
        )
    return frame


def _check_field_counts(raw: bytes, sep: str, spec: FileSpec, path: Path) -> None:
    data = np.frombuffer(raw, dtype=np.uint8)
    newlines = np.flatnonzero(data == ord("\n"))
    starts = np.concatenate(([0], newlines + 1))
    ends = np.concatenate((newlines, [len(data)]))
    if starts[-1] == len(data):  # nothing after the final newline
        starts, ends = starts[:-1], ends[:-1]
    separators = np.flatnonzero(data == ord(sep))
    counts = np.bincount(np.searchsorted(newlines, separators), minlength=len(starts))
    lengths = ends - starts
    has_cr = lengths > 0
    has_cr[has_cr] = data[ends[has_cr] - 1] == ord("\r")
    blank = (lengths - has_cr) == 0
    wrong = np.flatnonzero(~blank & (counts[: len(starts)] != len(spec.fields) - 1))
    if len(wrong):
        line = int(wrong[0])
        raise DataError(
            f"{path}, line {line + 1}: found {int(counts[line]) + 1} fields, expected "
            f"{len(spec.fields)} separated by {spec.sep_label}, like '{spec.example}'. "
            "Fix or delete that line."
        )


def _single_char_separator(raw: bytes) -> tuple[bytes, str]:
    for candidate in (b"\t", b"\x1f", b"\x1e", b"\x1d"):
        if candidate not in raw:
            return raw.replace(b"::", candidate), candidate.decode("latin-1")
    raise DataError("a '::' file contains every fallback separator byte; it is not MovieLens data")


class _ReadOptions(TypedDict):
    """The `pd.read_csv` arguments shared by the fast read and the diagnosis of one file."""

    sep: str
    header: None
    names: list[str]
    skiprows: int
    encoding: str
    quoting: Literal[0, 3]  # csv.QUOTE_MINIMAL or csv.QUOTE_NONE
    engine: Literal["c"]


def _read_options(spec: FileSpec, sep: str) -> _ReadOptions:
    return {
        "sep": sep,
        "header": None,
        "names": [f.name for f in spec.fields],
        "skiprows": 1 if spec.header is not None else 0,
        "encoding": spec.encoding,
        "quoting": csv.QUOTE_MINIMAL if spec.quoted else csv.QUOTE_NONE,
        "engine": "c",
    }


def _handle(source: Path | bytes) -> Path | io.BytesIO:
    return io.BytesIO(source) if isinstance(source, bytes) else source


def _fast_read(
    source: Path | bytes, path: Path, spec: FileSpec, options: _ReadOptions
) -> pd.DataFrame:
    # An optional whole-number field may be empty: pandas' nullable Int64 keeps it.
    dtypes = {
        f.name: "Int64" if not f.required and f.kind in ("id", "int") else _PANDAS_DTYPE[f.kind]
        for f in spec.fields
    }
    size = len(source) if isinstance(source, bytes) else path.stat().st_size
    if size < _CHUNKED_BYTES:
        frame = pd.read_csv(
            _handle(source), **options, dtype=dtypes, keep_default_na=False, na_values=[""]
        )
    else:
        head = source[: 1 << 16] if isinstance(source, bytes) else read_head(path)
        per_line = max(len(head) / max(head.count(b"\n"), 1), 1.0)
        chunks = []
        with (
            pd.read_csv(
                _handle(source),
                **options,
                dtype=dtypes,
                keep_default_na=False,
                na_values=[""],
                chunksize=_CHUNK_ROWS,
            ) as reader,
            tqdm(
                total=int(size / per_line),
                unit="rows",
                unit_scale=True,
                desc=f"reading {spec.filename}",
                disable=None,
            ) as bar,
        ):
            for chunk in reader:
                chunks.append(chunk)
                bar.update(len(chunk))
        frame = pd.concat(chunks, ignore_index=True)
    return frame


def _diagnose(source: Path | bytes, path: Path, spec: FileSpec, options: _ReadOptions) -> None:
    """Re-read `source` as strings and raise a DataError for its first bad line."""
    n = len(spec.fields)
    shape = f"expected {n} fields separated by {spec.sep_label}, like '{spec.example}'"
    try:
        raw = pd.read_csv(
            _handle(source), **options, dtype=str, na_filter=False, skip_blank_lines=False
        )
    except pd.errors.ParserError as exc:
        match = re.search(r"line (\d+), saw (\d+)", str(exc))
        where = f", line {match.group(1)}" if match else ""
        found = f"found {match.group(2)}" if match else "found more"
        raise DataError(
            f"{path}{where}: {found} fields, {shape}. Fix or delete that line."
        ) from None
    first_line = 2 if spec.header is not None else 1
    names = [f.name for f in spec.fields]
    blank = (raw[names] == "").all(axis=1)
    problems: list[tuple[int, str]] = []
    for pos, f in enumerate(spec.fields):
        col = raw[f.name]
        stripped = col.str.strip()
        empty = (stripped == "") & ~blank
        if f.required and empty.any():
            row = int(np.flatnonzero(empty.to_numpy())[0])
            missing = (raw.iloc[row, pos:] == "").all()
            what = "missing" if missing and pos > 0 else "empty"
            problems.append((row, f"{what} {f.name.replace('_', ' ')} ({shape})"))
        present = ~blank & (stripped != "")
        if f.kind in ("id", "int"):
            pattern = _ID_PATTERN if f.kind == "id" else _INT_PATTERN
            wrong = present & ~col.str.fullmatch(pattern)
            kind = "a whole number" if f.kind == "id" else "an integer"
            if wrong.any():
                row = int(np.flatnonzero(wrong.to_numpy())[0])
                problems.append(
                    (row, f"{f.name.replace('_', ' ')} '{col.iloc[row]}' is not {kind}")
                )
                continue
            values = pd.to_numeric(col.where(present), errors="coerce")
        elif f.kind == "float":
            values = pd.to_numeric(col.where(present), errors="coerce")
            wrong = present & values.isna()
            if wrong.any():
                row = int(np.flatnonzero(wrong.to_numpy())[0])
                problems.append(
                    (row, f"{f.name.replace('_', ' ')} '{col.iloc[row]}' is not a number")
                )
                continue
        else:
            values = col.where(present)
        if f.bad is not None:
            parsed = values[present]
            bad = parsed[f.bad(parsed).to_numpy(dtype=bool)]
            if len(bad):
                row = int(bad.index[0])
                problems.append(
                    (row, f"{f.name.replace('_', ' ')} '{col.iloc[row].strip()}' {f.rule}")
                )
    if problems:
        row, message = min(problems, key=lambda p: p[0])
        raise DataError(f"{path}, line {row + first_line}: {message}. Fix or delete that line.")


# ---------------------------------------------------------------- normalisation helpers


def genre_tuples(raw: pd.Series, path: Path, strict: bool) -> pd.Series:
    """Pipe-separated genre strings -> tuples of canonical genres in GENRES order."""
    cache: dict[str, tuple[str, ...]] = {}
    unknown: set[str] = set()
    for value in raw.fillna("").unique():
        found: set[str] = set()
        for part in str(value).split("|"):
            part = part.strip()
            if part.lower() in _NO_GENRE:
                continue
            genre = vocab.canonical_genre(part)
            if genre is None:
                unknown.add(part)
            else:
                found.add(genre)
        cache[value] = tuple(g for g in vocab.GENRES if g in found)
    if unknown:
        names = ", ".join(sorted(unknown)[:10])
        message = f"{path}: unknown genre(s) {names}; known genres are {', '.join(vocab.GENRES)}."
        if strict:
            raise DataError(message + " Fix the genre names or load with strict=False.")
        warnings.warn(message + " They were ignored.", DataWarning, stacklevel=4)
    return pd.Series([cache[v] for v in raw.fillna("")], dtype=object)


def title_years(titles: pd.Series) -> pd.Series:
    """The year in each title ("Heat (1995)", "Babylon 5 (1994-1998)"); NA when absent."""
    found = titles.astype("str").str.extract(_TITLE_YEAR, expand=False)
    return pd.to_numeric(found, errors="coerce").astype("Int64")


def date_years(dates: pd.Series) -> pd.Series:
    """The year of ML-100K release dates like "01-Jan-1995"; NA when absent."""
    found = dates.astype("str").str.extract(_DATE_YEAR, expand=False)
    return pd.to_numeric(found, errors="coerce").astype("Int64")


def _col(
    values: pd.Series, dtype: Literal["int64", "Int64", "float32", "str", "object"]
) -> pd.Series:
    """`values` with a fresh index in a schema dtype; object columns hold None, not NaN."""
    values = values.reset_index(drop=True)
    if dtype == "object":
        return values.astype(object).where(values.notna(), None)
    return values.astype(dtype)


def movies_frame(
    ids: pd.Series, titles: pd.Series, years: pd.Series, genres: pd.Series
) -> pd.DataFrame:
    return pd.DataFrame(
        {
            "movie_id": _col(ids, "int64"),
            "title": _col(titles, "str"),
            "year": _col(years, "Int64"),
            "genres": _col(genres, "object"),
        }
    )


def users_frame(
    ids: pd.Series, gender: pd.Series, age: pd.Series, occupation: pd.Series
) -> pd.DataFrame:
    return pd.DataFrame(
        {
            "user_id": _col(ids, "int64"),
            "gender": _col(gender, "object"),
            "age": _col(age, "Int64"),
            "occupation": _col(occupation, "object"),
        }
    )


def ratings_frame(frame: pd.DataFrame) -> pd.DataFrame:
    return pd.DataFrame(
        {
            "user_id": _col(frame["user_id"], "int64"),
            "movie_id": _col(frame["movie_id"], "int64"),
            "rating": _col(frame["rating"], "float32"),
            "timestamp": _col(frame["timestamp"], "int64"),
        }
    )


def rating_field(low: float, high: float, step: float) -> Field:
    def bad(values: pd.Series) -> pd.Series:
        v = values.astype("float64")
        off_step = (v / step - np.round(v / step)).abs() > 1e-6
        return (v < low) | (v > high) | off_step

    step_text = "whole stars" if step == 1 else f"steps of {step:g}"
    return Field(
        "rating", "float", bad, f"is outside the rating scale {low:g}-{high:g} ({step_text})"
    )


def in_set(allowed: set[object]) -> BadMask:
    return lambda values: ~values.isin(list(allowed))


def users_from_ratings(ratings: pd.DataFrame) -> pd.DataFrame:
    """A users table for formats without demographics: one row per rating user."""
    ids = pd.Series(np.unique(ratings["user_id"].to_numpy()), dtype="int64")
    unknown = pd.Series([None] * len(ids), dtype=object)
    return users_frame(ids, unknown, pd.Series([pd.NA] * len(ids), dtype="Int64"), unknown)
