"""The database schema, its version, and the migrations that bring an older database up to date.

Version 1 kept ratings and seen movies ordered by their timestamp alone. Version 2 adds a
per-profile sequence number (so order survives equal stamps and clock steps) and the
watchlist. A new database is created at the current version directly; `ensure_schema` runs
in one transaction, so a migration is applied whole or not at all.
"""

from __future__ import annotations

from recsys.profiles.backend import Backend, Dialect
from recsys.profiles.errors import StoreError

SCHEMA_VERSION = 2
TABLES = ("profiles", "entries", "watchlist")


def create_statements(d: Dialect) -> list[str]:
    """DDL for a new database at SCHEMA_VERSION (column order as migrations leave it)."""
    return [
        "CREATE TABLE schema_version (version INTEGER NOT NULL)",
        f"""CREATE TABLE profiles (
            id {d.serial_key},
            namespace TEXT NOT NULL,
            name TEXT NOT NULL,
            dataset TEXT NOT NULL,
            created_at BIGINT NOT NULL,
            last_seq BIGINT NOT NULL DEFAULT 0,
            UNIQUE (namespace, name)
        )""",
        # rating NULL = seen without a rating; stamps are microseconds since the Unix epoch, UTC.
        f"""CREATE TABLE entries (
            profile_id BIGINT NOT NULL REFERENCES profiles (id) ON DELETE CASCADE,
            movie_id BIGINT NOT NULL,
            title TEXT NOT NULL,
            year INTEGER,
            rating {d.real},
            stored_at BIGINT NOT NULL,
            seq BIGINT NOT NULL DEFAULT 0,
            PRIMARY KEY (profile_id, movie_id)
        )""",
        "CREATE INDEX entries_order ON entries (profile_id, seq)",
        *_watchlist(),
        f"INSERT INTO schema_version (version) VALUES ({SCHEMA_VERSION})",
    ]


def _watchlist() -> list[str]:
    return [
        """CREATE TABLE watchlist (
            profile_id BIGINT NOT NULL REFERENCES profiles (id) ON DELETE CASCADE,
            movie_id BIGINT NOT NULL,
            title TEXT NOT NULL,
            year INTEGER,
            stored_at BIGINT NOT NULL,
            seq BIGINT NOT NULL,
            PRIMARY KEY (profile_id, movie_id)
        )""",
        "CREATE INDEX watchlist_order ON watchlist (profile_id, seq)",
    ]


# MIGRATIONS[v]: the statements that take a database from version v to v + 1.
MIGRATIONS: dict[int, list[str]] = {
    1: [
        "ALTER TABLE profiles ADD COLUMN last_seq BIGINT NOT NULL DEFAULT 0",
        "ALTER TABLE entries ADD COLUMN seq BIGINT NOT NULL DEFAULT 0",
        # Version 1's order was the stamp; ties broke by movie id, as version 1 listed them.
        """UPDATE entries SET seq = ranked.seq
           FROM (SELECT profile_id, movie_id, ROW_NUMBER() OVER (
                     PARTITION BY profile_id ORDER BY stored_at, movie_id) AS seq
                 FROM entries) AS ranked
           WHERE entries.profile_id = ranked.profile_id AND entries.movie_id = ranked.movie_id""",
        """UPDATE profiles SET last_seq = COALESCE(
               (SELECT MAX(seq) FROM entries WHERE entries.profile_id = profiles.id), 0)""",
        "CREATE INDEX entries_order ON entries (profile_id, seq)",
        *_watchlist(),
        "UPDATE schema_version SET version = 2",
    ],
}


def ensure_schema(backend: Backend) -> int:
    """Create or migrate the schema inside the caller's write transaction; the version found.

    Refuses a database that holds our tables without a version (not ours, or damaged) and
    one written by a newer movierec, whose schema this code cannot know.
    """
    d = backend.dialect
    if d.schema_lock:
        backend.execute(d.schema_lock)
    if not _exists(backend, "schema_version"):
        present = [t for t in TABLES if _exists(backend, t)]
        if present:
            raise StoreError(
                f"{backend.shown} has tables named {', '.join(present)} but no schema_version: "
                "it is not a movierec profile store; point the profile store elsewhere"
            )
        for statement in create_statements(d):
            backend.execute(statement)
        return 0
    rows = backend.execute("SELECT version FROM schema_version").fetchall()
    if len(rows) != 1:
        raise StoreError(
            f"{backend.shown}: schema_version holds {len(rows)} rows, not 1; "
            "the database is damaged: restore it from a backup"
        )
    found = int(rows[0][0])
    if found > SCHEMA_VERSION:
        raise StoreError(
            f"{backend.shown} has profile schema version {found}, newer than this movierec "
            f"knows ({SCHEMA_VERSION}): upgrade movierec to use it"
        )
    for version in range(found, SCHEMA_VERSION):
        if version not in MIGRATIONS:
            raise StoreError(
                f"{backend.shown} has profile schema version {found}, which this movierec "
                "cannot migrate; export its profiles with the version that wrote it"
            )
        for statement in MIGRATIONS[version]:
            backend.execute(statement)
    return found


def _exists(backend: Backend, table: str) -> bool:
    return bool(backend.execute(backend.dialect.table_exists, (table,)).fetchone()[0])
