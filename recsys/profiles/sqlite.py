"""The SQLite backend: one file, WAL mode, owner-only permissions, erasure that reaches the disk."""

from __future__ import annotations

import os
import sqlite3
import time
from collections.abc import Iterable, Sequence

from recsys.profiles.backend import SQLITE, Cursor
from recsys.profiles.errors import StoreError
from recsys.profiles.location import Location

BUSY_TIMEOUT_MS = 10_000  # how long a writer waits for another process's transaction


class SqliteBackend:
    dialect = SQLITE

    def __init__(self, location: Location) -> None:
        self.shown = location.shown
        self._read_only = location.read_only
        if location.path is not None and not location.read_only:
            _create_private(location)
        try:
            self._conn = sqlite3.connect(
                location.target,
                uri=True,
                isolation_level=None,  # autocommit: the store issues BEGIN and COMMIT itself
                check_same_thread=False,  # the store serialises use with its own lock
                timeout=BUSY_TIMEOUT_MS / 1000,
            )
        except sqlite3.Error as exc:
            raise self.translate(exc) from exc
        try:
            self._configure()
        except sqlite3.Error as exc:
            self._conn.close()
            raise self.translate(exc) from exc

    def _configure(self) -> None:
        execute = self._conn.execute
        execute(f"PRAGMA busy_timeout = {BUSY_TIMEOUT_MS}")
        # Deleted rows are overwritten with zeros, so forgetting reaches the file's bytes.
        execute("PRAGMA secure_delete = ON")
        execute("PRAGMA foreign_keys = ON")
        mode = execute("PRAGMA journal_mode").fetchone()[0]
        if mode != "wal" and not self._read_only:
            self._use_wal()
        # In WAL mode FULL syncs the log at every commit: a stored rating survives power loss.
        execute("PRAGMA synchronous = FULL")

    def _use_wal(self) -> None:
        """Put the file in WAL mode (it stays so): readers and the one writer never block each
        other. SQLite answers BUSY at once here, without its busy timeout, so this retries."""
        deadline = time.monotonic() + BUSY_TIMEOUT_MS / 1000
        while True:
            try:
                self._conn.execute("PRAGMA journal_mode = WAL")
                return
            except sqlite3.OperationalError as exc:
                busy = getattr(exc, "sqlite_errorname", "") == "SQLITE_BUSY"
                if not busy or time.monotonic() > deadline:
                    raise
                time.sleep(0.01)

    def execute(self, sql: str, params: Sequence[object] = ()) -> Cursor:
        return self._conn.execute(sql, params)

    def executemany(self, sql: str, rows: Iterable[Sequence[object]]) -> None:
        self._conn.executemany(sql, rows)

    def translate(self, exc: Exception) -> Exception:
        if not isinstance(exc, sqlite3.Error):
            return exc
        code = getattr(exc, "sqlite_errorname", "")
        if code.startswith("SQLITE_READONLY"):
            why = "it was opened read-only" if self._read_only else "the file cannot be written"
            return StoreError(
                f"the profile database {self.shown} cannot be changed: {why}; reading still "
                "works. Point the profile store at a writable file to store ratings"
            )
        if code in ("SQLITE_NOTADB", "SQLITE_CORRUPT") or code.startswith("SQLITE_CORRUPT"):
            return StoreError(
                f"{self.shown} is not a readable profile database ({exc}); if it holds profiles, "
                "restore it from a backup, otherwise move it aside and a new one is created"
            )
        if code.startswith("SQLITE_BUSY") or code.startswith("SQLITE_LOCKED"):
            return StoreError(
                f"the profile database {self.shown} is locked by another process (waited up to "
                f"{BUSY_TIMEOUT_MS // 1000} s); nothing was changed: try again"
            )
        if code.startswith("SQLITE_CANTOPEN"):
            return StoreError(
                f"cannot open the profile database {self.shown}: check that the file exists "
                "(it must, when opened read-only) and its folder is readable"
            )
        if code == "SQLITE_FULL":
            return StoreError(f"the disk holding {self.shown} is full; nothing was changed")
        return StoreError(f"the profile database {self.shown} failed: {exc} ({code})")

    def after_erase(self) -> bool:
        # TRUNCATE copies every committed page into the file and empties the log, where the
        # deleted rows' old page images would otherwise stay readable.
        busy, _, _ = self._conn.execute("PRAGMA wal_checkpoint(TRUNCATE)").fetchone()
        return bool(busy == 0)

    def close(self) -> None:
        self._conn.close()


def _create_private(location: Location) -> None:
    """Create the database file readable by its owner only, before SQLite creates it as 0644."""
    path = location.path
    if path is None or path.exists():
        return
    try:
        path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
        os.close(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600))
    except FileExistsError:
        pass  # another process created it first; SQLite opens what is there
    except OSError as exc:
        raise StoreError(
            f"cannot create the profile database {location.shown}: {exc.strerror}; "
            "choose a writable place for it"
        ) from exc
