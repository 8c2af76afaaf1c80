"""The profile store: one interface, one SQL code path, SQLite or PostgreSQL underneath.

Every change runs in one transaction that first locks the profile (SQLite: BEGIN IMMEDIATE
locks the database; PostgreSQL: SELECT ... FOR UPDATE on the profile's row), so concurrent
server processes serialise per profile and a call is stored whole or not at all.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager, suppress
from types import TracebackType
from typing import Any

from recsys.profiles.backend import Backend, Row
from recsys.profiles.checks import check_dataset, check_ids, check_movies, check_rate
from recsys.profiles.document import parse_document, to_document
from recsys.profiles.errors import ProfileError, ProfileNotFound
from recsys.profiles.faults import fault_point
from recsys.profiles.location import default_location, parse_location
from recsys.profiles.names import check_name
from recsys.profiles.records import (
    Counts,
    Entry,
    Forgotten,
    History,
    Movie,
    Profile,
    ProfileSummary,
    Rating,
    Stored,
    WatchlistChange,
)
from recsys.profiles.schema import ensure_schema
from recsys.profiles.stamps import from_micros, now_micros, to_micros

_FIND = "SELECT id, dataset, created_at FROM profiles WHERE namespace = ? AND name = ?"
_INSERT = (
    "INSERT INTO profiles (namespace, name, dataset, created_at, last_seq) VALUES (?, ?, ?, ?, ?)"
)
# Another process may create the same profile at the same moment; then theirs is used.
_CREATE = _INSERT + " ON CONFLICT (namespace, name) DO NOTHING"
_RESERVE = "UPDATE profiles SET last_seq = last_seq + ? WHERE id = ? RETURNING last_seq"
# The same six columns from both tables, so one function turns a row into an Entry.
_COLUMNS = {
    "entries": "movie_id, title, year, rating, stored_at, seq",
    "watchlist": "movie_id, title, year, NULL, stored_at, seq",
}
_PUT_ENTRY = (
    "INSERT INTO entries (profile_id, movie_id, title, year, rating, stored_at, seq) "
    "VALUES (?, ?, ?, ?, ?, ?, ?) ON CONFLICT (profile_id, movie_id) DO UPDATE SET "
    "title = excluded.title, year = excluded.year, rating = excluded.rating, "
    "stored_at = excluded.stored_at, seq = excluded.seq"
)
_PUT_WATCH = (
    "INSERT INTO watchlist (profile_id, movie_id, title, year, stored_at, seq) "
    "VALUES (?, ?, ?, ?, ?, ?)"
)
_LIST = """
    SELECT p.name, p.dataset, p.created_at,
        (SELECT COUNT(*) FROM entries e WHERE e.profile_id = p.id AND e.rating IS NOT NULL),
        (SELECT COUNT(*) FROM entries e WHERE e.profile_id = p.id AND e.rating IS NULL),
        (SELECT COUNT(*) FROM watchlist w WHERE w.profile_id = p.id)
    FROM profiles p WHERE p.namespace = ?"""


_COUNTS = """
    SELECT
        (SELECT COUNT(*) FROM entries WHERE profile_id = ? AND rating IS NOT NULL),
        (SELECT COUNT(*) FROM entries WHERE profile_id = ? AND rating IS NULL),
        (SELECT COUNT(*) FROM watchlist WHERE profile_id = ?)"""


def _entry(row: Row) -> Entry:
    movie_id, title, year, rating, stored_at, seq = row
    return Entry(Movie(movie_id, title, year), rating, from_micros(stored_at), seq)


def _in(ids: Sequence[int]) -> str:
    return "(" + ", ".join("?" * len(ids)) + ")"


def _key(namespace: str, name: str) -> tuple[str, str]:
    return check_name(namespace, "namespace"), check_name(name)


class ProfileStore:
    """Profiles keyed by (namespace, name); safe to share between threads and processes.

    Validation failures raise ProfileError listing every bad item; a missing profile raises
    ProfileNotFound; a database failure raises StoreError (all three are ProfileErrors).
    """

    def __init__(self, backend: Backend) -> None:
        self._backend = backend
        self._lock = threading.Lock()  # one connection: one transaction at a time
        try:
            with self._transaction(write=True) as b:
                ensure_schema(b)
        except BaseException:
            backend.close()
            raise

    @property
    def location(self) -> str:
        """Where the profiles are, as messages show it (a path, or a URL without password)."""
        return self._backend.shown

    @contextmanager
    def _transaction(self, *, write: bool) -> Iterator[Backend]:
        b = self._backend
        with self._lock:
            try:
                b.execute(b.dialect.begin_write if write else b.dialect.begin_read)
                try:
                    yield b
                    b.execute("COMMIT")
                except BaseException:
                    # The connection may already be gone; the error worth reporting is the first.
                    with suppress(Exception):
                        b.execute("ROLLBACK")
                    raise
            except Exception as exc:
                translated = b.translate(exc)
                if translated is exc:
                    raise
                raise translated from exc

    def _find(self, b: Backend, namespace: str, name: str, *, lock: bool = False) -> Row:
        sql = _FIND + (b.dialect.for_update if lock else "")
        row: Row | None = b.execute(sql, (namespace, name)).fetchone()
        if row is None:
            raise ProfileNotFound(
                f"there is no profile {name!r}: rating a movie creates it; "
                "list the profiles to see which exist"
            )
        return row

    def _claim(self, b: Backend, namespace: str, name: str, dataset: str, now: int) -> int:
        """The profile's id, created when missing and locked until commit, if on `dataset`."""
        b.execute(_CREATE, (namespace, name, dataset, now, 0))
        profile_id, held, _ = self._find(b, namespace, name, lock=True)
        if held != dataset:
            raise ProfileError(
                f"profile {name!r} was made against another dataset ({held[:24]}), not this "
                f"one ({dataset[:24]}): its movie ids mean other films here. Map it by title "
                "and year first, or use another profile name"
            )
        return int(profile_id)

    def _reserve(self, b: Backend, profile_id: int, count: int) -> int:
        """The first of `count` new sequence numbers of the profile (the row is locked)."""
        (last,) = b.execute(_RESERVE, (count, profile_id)).fetchall()[0]
        return int(last) - count + 1

    def _held(self, b: Backend, table: str, profile_id: int, ids: Sequence[int]) -> set[int]:
        """Which of `ids` the profile's `table` (entries or watchlist) already holds."""
        if not ids:
            return set()
        sql = f"SELECT movie_id FROM {table} WHERE profile_id = ? AND movie_id IN {_in(ids)}"
        return {row[0] for row in b.execute(sql, (profile_id, *ids)).fetchall()}

    def _delete(
        self, b: Backend, table: str, profile_id: int, ids: Sequence[int] | None
    ) -> list[Entry]:
        """Delete the profile's rows of `table` (all, or those movies); what was deleted."""
        sql = f"DELETE FROM {table} WHERE profile_id = ?"
        params: tuple[object, ...] = (profile_id,)
        if ids is not None:
            if not ids:
                return []
            sql += f" AND movie_id IN {_in(ids)}"
            params += tuple(ids)
        rows = b.execute(f"{sql} RETURNING {_COLUMNS[table]}", params).fetchall()
        return sorted((_entry(r) for r in rows), key=lambda e: e.seq)

    def _erase(self) -> bool:
        """After a delete commits: make the deleted bytes unrecoverable where the backend can."""
        with self._lock:
            try:
                return self._backend.after_erase()
            except (
                Exception
            ):  # the delete itself is committed; a failed erase is reported, not raised
                return False

    def rate(
        self,
        namespace: str,
        name: str,
        *,
        dataset: str,
        ratings: Sequence[Rating] = (),
        seen: Sequence[Movie] = (),
    ) -> Stored:
        """Store ratings and seen movies in one transaction, creating the profile if needed.

        At most 500 items per call. A re-rated movie gets the new rating, stamp and sequence
        number; a seen movie the profile already holds is left as it was.
        """
        namespace, name = _key(namespace, name)
        dataset = check_dataset(dataset)
        checked, seen = check_rate(ratings, seen)
        now = now_micros()
        with self._transaction(write=True) as b:
            profile_id = self._claim(b, namespace, name, dataset, now)
            held = self._held(b, "entries", profile_id, [m.id for m in seen])
            items: list[tuple[Movie, float | None]] = [(r.movie, r.rating) for r in checked]
            items += [(m, None) for m in seen if m.id not in held]
            first = self._reserve(b, profile_id, len(items))
            rows = [
                (profile_id, m.id, m.title, m.year, rating, now, first + i)
                for i, (m, rating) in enumerate(items)
            ]
            half = len(rows) // 2
            b.executemany(_PUT_ENTRY, rows[:half])
            fault_point("profiles.rate")  # tests kill the process here, half the batch written
            b.executemany(_PUT_ENTRY, rows[half:])
        fault_point("profiles.rate.committed")
        stamp = from_micros(now)
        entries = [Entry(m, r, stamp, first + i) for i, (m, r) in enumerate(items)]
        return Stored(
            ratings=tuple(entries[: len(checked)]),
            seen=tuple(entries[len(checked) :]),
            unchanged=tuple(m for m in seen if m.id in held),
        )

    def get(self, namespace: str, name: str) -> Profile:
        """The whole profile: ratings oldest first, seen and watchlist in the order stored."""
        namespace, name = _key(namespace, name)
        with self._transaction(write=False) as b:
            profile_id, dataset, created_at = self._find(b, namespace, name)
            lists = {
                table: [
                    _entry(r)
                    for r in b.execute(
                        f"SELECT {columns} FROM {table} WHERE profile_id = ? ORDER BY seq",
                        (profile_id,),
                    ).fetchall()
                ]
                for table, columns in _COLUMNS.items()
            }
        return Profile(
            namespace=namespace,
            name=name,
            dataset=dataset,
            created_at=from_micros(created_at),
            ratings=tuple(e for e in lists["entries"] if e.rating is not None),
            seen=tuple(e for e in lists["entries"] if e.rating is None),
            watchlist=tuple(lists["watchlist"]),
        )

    def history(self, namespace: str, name: str) -> History:
        """The profile's ratings and seen movies as ids, in order: what recommending needs,
        read without building a record per entry (a few times faster than `get`)."""
        namespace, name = _key(namespace, name)
        with self._transaction(write=False) as b:
            profile_id, dataset, _ = self._find(b, namespace, name)
            rows = b.execute(
                "SELECT movie_id, rating FROM entries WHERE profile_id = ? ORDER BY seq",
                (profile_id,),
            ).fetchall()
        return History(
            dataset=dataset,
            ratings=tuple((int(m), float(r)) for m, r in rows if r is not None),
            seen=tuple(int(m) for m, r in rows if r is None),
        )

    def counts(self, namespace: str, name: str) -> Counts:
        """How many ratings, seen movies and watchlist entries the profile holds."""
        namespace, name = _key(namespace, name)
        with self._transaction(write=False) as b:
            profile_id = self._find(b, namespace, name)[0]
            (row,) = b.execute(_COUNTS, (profile_id, profile_id, profile_id)).fetchall()
        return Counts(*(int(n) for n in row))

    def list_profiles(self, namespace: str) -> tuple[ProfileSummary, ...]:
        """Every profile of the namespace, by name, with its counts."""
        namespace = check_name(namespace, "namespace")
        with self._transaction(write=False) as b:
            rows = b.execute(_LIST, (namespace,)).fetchall()
        # Sorted here, not in SQL: the databases' collations would order names differently.
        return tuple(
            ProfileSummary(name, dataset, from_micros(created), Counts(rated, seen, watch))
            for name, dataset, created, rated, seen, watch in sorted(rows)
        )

    def watchlist_add(
        self, namespace: str, name: str, *, dataset: str, movies: Sequence[Movie]
    ) -> WatchlistChange:
        """Put movies on the watchlist (creating the profile if needed); those there stay."""
        namespace, name = _key(namespace, name)
        dataset = check_dataset(dataset)
        movies = check_movies(movies, "movies")
        now = now_micros()
        with self._transaction(write=True) as b:
            profile_id = self._claim(b, namespace, name, dataset, now)
            held = self._held(b, "watchlist", profile_id, [m.id for m in movies])
            new = [m for m in movies if m.id not in held]
            first = self._reserve(b, profile_id, len(new))
            b.executemany(
                _PUT_WATCH,
                [(profile_id, m.id, m.title, m.year, now, first + i) for i, m in enumerate(new)],
            )
        stamp = from_micros(now)
        return WatchlistChange(
            added=tuple(Entry(m, None, stamp, first + i) for i, m in enumerate(new)),
            unchanged=tuple(m for m in movies if m.id in held),
        )

    def watchlist_remove(
        self, namespace: str, name: str, movies: Sequence[int]
    ) -> tuple[Entry, ...]:
        """Take movies (by id) off the watchlist; the entries removed (absent ids are skipped)."""
        namespace, name = _key(namespace, name)
        ids = check_ids(movies, "movies")
        with self._transaction(write=True) as b:
            profile_id = self._find(b, namespace, name, lock=True)[0]
            removed = self._delete(b, "watchlist", profile_id, ids)
        return tuple(removed)

    def forget(self, namespace: str, name: str, movies: Sequence[int] | None = None) -> Forgotten:
        """Delete the whole profile (movies None) or those movies from every list; what went.

        After the delete commits, SQLite checkpoints its log so the bytes leave the files too
        (`Forgotten.erased` says whether that succeeded).
        """
        namespace, name = _key(namespace, name)
        ids = None if movies is None else check_ids(movies, "movies")
        with self._transaction(write=True) as b:
            profile_id = self._find(b, namespace, name, lock=True)[0]
            entries = self._delete(b, "entries", profile_id, ids)
            fault_point("profiles.forget")  # tests kill the process here, half deleted
            watchlist = self._delete(b, "watchlist", profile_id, ids)
            if ids is None:
                b.execute("DELETE FROM profiles WHERE id = ?", (profile_id,))
        return Forgotten(
            profile=ids is None,
            ratings=tuple(e for e in entries if e.rating is not None),
            seen=tuple(e for e in entries if e.rating is None),
            watchlist=tuple(watchlist),
            erased=self._erase(),
        )

    def export(self, namespace: str, name: str) -> dict[str, Any]:
        """The profile as a JSON-able document (see `document.py`) a person can keep."""
        return to_document(self.get(namespace, name), from_micros(now_micros()))

    def import_profile(
        self,
        namespace: str,
        name: str | None,
        document: Mapping[str, Any],
        *,
        replace: bool = False,
    ) -> Profile:
        """Store an exported document as profile `name` (None: the document's name), whole or not
        at all. An existing profile of that name is refused unless `replace` is True."""
        now = now_micros()
        doc = parse_document(document, from_micros(now))
        if name is None and doc.name is None:
            raise ProfileError("the document has no name: give the profile a name to import it as")
        namespace, name = _key(namespace, name if name is not None else str(doc.name))
        created = to_micros(doc.created_at) if doc.created_at else now
        entries = [*doc.ratings, *doc.seen]
        total = len(entries) + len(doc.watchlist)
        with self._transaction(write=True) as b:
            old = b.execute(_FIND + b.dialect.for_update, (namespace, name)).fetchone()
            if old is not None and not replace:
                raise ProfileError(
                    f"a profile {name!r} exists already: import under another name, or "
                    "replace it (its current entries are then deleted)"
                )
            if old is not None:
                for table in ("entries", "watchlist"):
                    b.execute(f"DELETE FROM {table} WHERE profile_id = ?", (old[0],))
                b.execute("DELETE FROM profiles WHERE id = ?", (old[0],))
            # A plain INSERT: should another process create the name meanwhile, this fails
            # rather than mixing the document into that profile.
            new = (namespace, name, doc.dataset, created, total)
            (profile_id,) = b.execute(_INSERT + " RETURNING id", new).fetchall()[0]
            rows = [
                (
                    profile_id,
                    e.movie.id,
                    e.movie.title,
                    e.movie.year,
                    e.rating,
                    to_micros(e.stored_at),
                    e.seq,
                )
                for e in entries
            ]
            b.executemany(_PUT_ENTRY, rows[: len(rows) // 2])
            fault_point("profiles.import")  # tests kill the process here, half imported
            b.executemany(_PUT_ENTRY, rows[len(rows) // 2 :])
            b.executemany(
                _PUT_WATCH,
                [
                    (
                        profile_id,
                        e.movie.id,
                        e.movie.title,
                        e.movie.year,
                        to_micros(e.stored_at),
                        e.seq,
                    )
                    for e in doc.watchlist
                ],
            )
        if old is not None:
            self._erase()
        return Profile(
            namespace,
            name,
            doc.dataset,
            from_micros(created),
            doc.ratings,
            doc.seen,
            doc.watchlist,
        )

    def close(self) -> None:
        with self._lock:
            self._backend.close()

    def __enter__(self) -> ProfileStore:
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()


def open_store(location: str | os.PathLike[str] | None = None) -> ProfileStore:
    """Open (creating or migrating as needed) the profile store at `location`.

    None means `default_location()`. A path or sqlite:/file: URL opens SQLite; a
    postgresql:// URL opens PostgreSQL (needs the `postgres` extra).
    """
    where = parse_location(default_location() if location is None else location)
    backend: Backend
    if where.kind == "postgresql":
        # Imported here: psycopg is optional, and SQLite users should not pay for loading it.
        from recsys.profiles.postgres import PostgresBackend

        backend = PostgresBackend(where)
    else:
        from recsys.profiles.sqlite import SqliteBackend

        backend = SqliteBackend(where)
    return ProfileStore(backend)
