"""The PostgreSQL backend, for several server processes sharing profiles (psycopg 3)."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

from recsys.profiles.backend import POSTGRESQL, Cursor
from recsys.profiles.errors import StoreError
from recsys.profiles.location import Location

try:
    import psycopg
    from psycopg import errors as pg_errors
except ImportError:  # an optional dependency: SQLite needs nothing beyond the standard library
    psycopg = None  # type: ignore[assignment]

CONNECT_TIMEOUT_S = 10
LOCK_TIMEOUT = "10s"  # like SQLite's busy timeout: how long a writer waits for another's lock


class PostgresBackend:
    dialect = POSTGRESQL

    def __init__(self, location: Location) -> None:
        if psycopg is None:
            raise StoreError(
                "a postgresql:// profile store needs psycopg: pip install 'movierec[postgres]'"
            )
        self.shown = location.shown
        self._url = location.target
        self._conn = self._connect()

    def _connect(self) -> Any:
        try:
            conn = psycopg.connect(self._url, autocommit=True, connect_timeout=CONNECT_TIMEOUT_S)
            conn.execute(f"SET lock_timeout = '{LOCK_TIMEOUT}'")
        except psycopg.Error as exc:
            raise self.translate(exc) from exc
        return conn

    def _live(self) -> Any:
        # A server restart breaks the connection; the next call reconnects instead of failing.
        if self._conn.closed or self._conn.broken:
            self._conn = self._connect()
        return self._conn

    def execute(self, sql: str, params: Sequence[object] = ()) -> Cursor:
        cursor: Cursor = self._live().execute(sql.replace("?", "%s"), params)
        return cursor

    def executemany(self, sql: str, rows: Iterable[Sequence[object]]) -> None:
        with self._live().cursor() as cursor:
            cursor.executemany(sql.replace("?", "%s"), rows)

    def translate(self, exc: Exception) -> Exception:
        if psycopg is None or not isinstance(exc, psycopg.Error):
            return exc
        detail = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        if isinstance(exc, pg_errors.ReadOnlySqlTransaction):
            return StoreError(
                f"the profile database {self.shown} is read-only ({detail}); reading still "
                "works. Point the profile store at a writable database to store ratings"
            )
        if isinstance(exc, pg_errors.LockNotAvailable | pg_errors.DeadlockDetected):
            return StoreError(
                f"the profile database {self.shown} is locked by another server ({detail}); "
                "nothing was changed: try again"
            )
        if isinstance(exc, psycopg.OperationalError):
            return StoreError(
                f"cannot reach the profile database {self.shown} ({detail}); check the URL, "
                "that the server is running, and the credentials"
            )
        return StoreError(f"the profile database {self.shown} failed: {detail}")

    def after_erase(self) -> bool:
        # Dead rows stay in the table files until VACUUM reuses their space; nothing to do here.
        return False

    def close(self) -> None:
        self._conn.close()
