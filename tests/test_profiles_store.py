"""The profile store (recsys.profiles) against real databases: SQLite files and a private
PostgreSQL server (tests/conftest.py starts it; those tests skip where none is installed).

Reliability is tested with real processes: eight writers on one profile, a writer killed
with SIGKILL inside its transaction, a read-only and a corrupt database, an old schema.
"""

from __future__ import annotations

import json
import os
import signal
import sqlite3
import subprocess
import sys
import textwrap
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import closing
from datetime import UTC, datetime
from pathlib import Path

import pytest

from recsys.profiles import (
    MAX_BATCH,
    SCHEMA_VERSION,
    Counts,
    Movie,
    ProfileError,
    ProfileNotFound,
    ProfileStore,
    Rating,
    StoreError,
    default_location,
    open_store,
)
from recsys.profiles.location import parse_location

NS = "default"
FP = "sha256:test-fingerprint"
REPO = Path(__file__).resolve().parents[1]


def movie(i: int, title: str | None = None) -> Movie:
    return Movie(i, title or f"Movie {i}", 1990 + i % 30)


def rating(i: int, stars: float = 4.0, title: str | None = None) -> Rating:
    return Rating(movie(i, title), stars)


@pytest.fixture(params=["sqlite", "postgresql"])
def url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """Where a fresh store lives: a SQLite file, or a new database on the private server."""
    if request.param == "sqlite":
        return str(tmp_path / "profiles.db")
    return str(request.getfixturevalue("postgres_database"))


@pytest.fixture
def store(url: str) -> Iterator[ProfileStore]:
    with open_store(url) as opened:
        yield opened


def raw(url: str, sql: str, params: tuple[object, ...] = ()) -> list[tuple[object, ...]]:
    """Run one statement on the database directly, around the store (for setup and checks)."""
    if url.startswith("postgresql://"):
        import psycopg

        with psycopg.connect(url, autocommit=True) as conn:
            cursor = conn.execute(sql.replace("?", "%s"), params)
            return cursor.fetchall() if cursor.description else []
    with closing(sqlite3.connect(url, isolation_level=None)) as conn:
        return conn.execute(sql, params).fetchall()


def assert_problems(call: Callable[[], object], header: str, *expected: str) -> None:
    """`call` raises one ProfileError: `header`, then one line per problem, each expected."""
    with pytest.raises(ProfileError) as caught:
        call()
    first, *lines = str(caught.value).splitlines()
    assert first.startswith(header)
    assert len(lines) == len(expected), lines
    for want in expected:
        assert sum(want in line for line in lines) == 1, want


# --- the data model -------------------------------------------------------------------------


def test_rate_then_get_keeps_order_stamps_and_counts(store: ProfileStore) -> None:
    before = datetime.now(UTC)
    stored = store.rate(
        NS, "alice", dataset=FP, ratings=[rating(1, 4.5), rating(2, 0.5)], seen=[movie(3)]
    )
    assert [(e.movie.id, e.rating, e.seq) for e in stored.ratings] == [(1, 4.5, 1), (2, 0.5, 2)]
    assert [(e.movie.id, e.rating, e.seq) for e in stored.seen] == [(3, None, 3)]
    assert before <= stored.ratings[0].stored_at <= datetime.now(UTC)
    store.rate(NS, "alice", dataset=FP, ratings=[rating(4, 3)])
    again = store.rate(NS, "alice", dataset=FP, ratings=[rating(1, 2.0)], seen=[movie(2), movie(5)])
    # Re-rating replaces the rating with a new stamp and number; seen never hides a rating.
    assert [(e.movie.id, e.rating, e.seq) for e in again.ratings] == [(1, 2.0, 5)]
    assert [e.movie.id for e in again.seen] == [5]
    assert again.unchanged == (movie(2),)
    only_held = store.rate(NS, "alice", dataset=FP, seen=[movie(3)])
    assert only_held.ratings == only_held.seen == () and only_held.unchanged == (movie(3),)
    profile = store.get(NS, "alice")
    assert [(e.movie.id, e.rating) for e in profile.ratings] == [(2, 0.5), (4, 3.0), (1, 2.0)]
    assert [e.movie for e in profile.seen] == [movie(3), movie(5)]
    assert profile.ratings[-1].stored_at > profile.ratings[0].stored_at
    assert (profile.counts.ratings, profile.counts.seen, profile.counts.watchlist) == (3, 2, 0)
    store.watchlist_add(NS, "alice", dataset=FP, movies=[movie(9)])
    assert store.counts(NS, "alice") == Counts(3, 2, 1)
    assert profile.dataset == FP and profile.name == "alice" and profile.namespace == NS
    assert profile.ratings[0].movie == movie(2)  # title and year kept with the id
    history = store.history(NS, "alice")
    assert history.dataset == FP
    assert history.ratings == tuple((e.movie.id, e.rating) for e in profile.ratings)
    assert history.seen == (3, 5)
    with pytest.raises(ProfileNotFound):
        store.history(NS, "nobody")


def test_whole_call_is_refused_and_every_bad_item_listed(store: ProfileStore) -> None:
    bad = [
        rating(1, 7),
        Rating(Movie(2, "", 1995), 4.0),
        Rating(Movie(3, "Ok", 1200), 2.25),
        rating(4),
        rating(4),
        Rating(Movie(True, "Bool id", None), 3.0),  # type: ignore[arg-type]
    ]
    assert_problems(
        lambda: store.rate(NS, "bob", dataset=FP, ratings=bad, seen=[movie(1), Movie(-5, "N")]),
        "nothing was stored: 8 problems",
        "ratings[0] (movie 1 'Movie 1' (1991)): rating 7 is off the scale",
        "ratings[1] (movie 2 '' (1995)): title is empty",
        "ratings[2] (movie 3 'Ok' (1200)): year 1200",
        "ratings[2] (movie 3 'Ok' (1200)): rating 2.25 is off the scale",
        "ratings[4] (movie 4 'Movie 4' (1994)): movie 4 is also ratings[3]",
        "ratings[5] (movie True 'Bool id'): movie id True",
        "seen[0] (movie 1 'Movie 1' (1991)): movie 1 is also ratings[0]",
        "seen[1] (movie -5 'N'): movie id -5 must be a whole number, 0 or more",
    )
    with pytest.raises(ProfileNotFound):
        store.get(NS, "bob")  # not even the profile was created


def test_batch_limit_and_empty_call(store: ProfileStore) -> None:
    store.rate(NS, "carol", dataset=FP, ratings=[rating(i) for i in range(MAX_BATCH)])
    with pytest.raises(ProfileError, match="10,000 ratings and seen movies in one call; at most"):
        store.rate(NS, "carol", dataset=FP, ratings=[rating(i) for i in range(10_000)])
    with pytest.raises(ProfileError, match="at most 500 per call"):
        store.rate(
            NS, "carol", dataset=FP, ratings=[rating(1)], seen=[movie(i) for i in range(500)]
        )
    with pytest.raises(ProfileError, match="nothing to store"):
        store.rate(NS, "carol", dataset=FP)
    assert store.get(NS, "carol").counts.ratings == MAX_BATCH


@pytest.mark.parametrize(
    "name",
    ["", "-leading-dash", ".hidden", "a" * 65, "white space", "semi;colon", "x'; DROP TABLE", "é"],
)
def test_bad_profile_names_are_refused_with_the_rule(store: ProfileStore, name: str) -> None:
    with pytest.raises(ProfileError, match="starting with a letter or digit"):
        store.rate(NS, name, dataset=FP, ratings=[rating(1)])


def test_good_names_and_namespaces_are_separate(store: ProfileStore) -> None:
    for name in ("a", "A" * 64, "0.x_y-z", "bob.smith-2"):
        store.rate(NS, name, dataset=FP, ratings=[rating(1)])
    store.rate("team-b", "a", dataset=FP, ratings=[rating(2), rating(3)])
    assert [s.name for s in store.list_profiles(NS)] == sorted(
        ["a", "A" * 64, "0.x_y-z", "bob.smith-2"]
    )
    (other,) = store.list_profiles("team-b")
    assert (other.name, other.counts.ratings) == ("a", 2)
    assert store.get(NS, "a").counts.ratings == 1
    assert store.list_profiles("nobody") == ()
    with pytest.raises(ProfileNotFound):
        store.get("team-b", "bob.smith-2")
    with pytest.raises(ProfileError, match="namespace"):
        store.list_profiles("bad namespace")


def test_a_profile_stays_on_its_dataset(store: ProfileStore) -> None:
    store.rate(NS, "dave", dataset=FP, ratings=[rating(1)])
    with pytest.raises(ProfileError, match="made against another dataset"):
        store.rate(NS, "dave", dataset="sha256:other", ratings=[rating(2)])
    with pytest.raises(ProfileError, match="made against another dataset"):
        store.watchlist_add(NS, "dave", dataset="sha256:other", movies=[movie(2)])
    with pytest.raises(ProfileError, match="dataset fingerprint is empty"):
        store.rate(NS, "erin", dataset="", ratings=[rating(1)])


def test_watchlist_add_and_remove(store: ProfileStore) -> None:
    added = store.watchlist_add(NS, "fay", dataset=FP, movies=[movie(7), movie(8)])
    assert [e.movie.id for e in added.added] == [7, 8] and added.unchanged == ()
    again = store.watchlist_add(NS, "fay", dataset=FP, movies=[movie(8), movie(9)])
    assert [e.movie.id for e in again.added] == [9] and again.unchanged == (movie(8),)
    removed = store.watchlist_remove(NS, "fay", [8, 42])
    assert [e.movie.id for e in removed] == [8]
    profile = store.get(NS, "fay")
    assert [e.movie.id for e in profile.watchlist] == [7, 9]
    assert profile.counts.ratings == 0
    with pytest.raises(ProfileError, match=r"movies\[0\]: 'x' is not a movie id"):
        store.watchlist_remove(NS, "fay", ["x"])  # type: ignore[list-item]
    with pytest.raises(ProfileNotFound):
        store.watchlist_remove(NS, "nobody", [1])


def test_forget_some_then_all(store: ProfileStore) -> None:
    store.rate(NS, "gus", dataset=FP, ratings=[rating(1), rating(2)], seen=[movie(3)])
    store.watchlist_add(NS, "gus", dataset=FP, movies=[movie(2), movie(4)])
    some = store.forget(NS, "gus", [2, 3, 99])
    assert not some.profile
    assert [e.movie.id for e in some.ratings] == [2]
    assert [e.movie.id for e in some.seen] == [3]
    assert [e.movie.id for e in some.watchlist] == [2]
    assert [e.movie.id for e in store.get(NS, "gus").ratings] == [1]
    everything = store.forget(NS, "gus")
    assert everything.profile
    assert [e.movie.id for e in everything.ratings] == [1]
    assert [e.movie.id for e in everything.watchlist] == [4]
    with pytest.raises(ProfileNotFound):
        store.get(NS, "gus")
    with pytest.raises(ProfileNotFound):
        store.forget(NS, "gus")
    assert store.list_profiles(NS) == ()


def test_export_import_round_trip(store: ProfileStore) -> None:
    store.rate(NS, "hal", dataset=FP, ratings=[rating(5, 1.5), rating(6, 5)], seen=[movie(7)])
    store.rate(NS, "hal", dataset=FP, ratings=[rating(5, 3.5)])
    store.watchlist_add(NS, "hal", dataset=FP, movies=[movie(8)])
    document = json.loads(json.dumps(store.export(NS, "hal")))
    assert document["format"] == "movierec-profile" and document["version"] == 1
    assert [r["movie"] for r in document["ratings"]] == [6, 5]
    imported = store.import_profile(NS, "hal-copy", document)
    original, copy = store.get(NS, "hal"), store.get(NS, "hal-copy")
    assert copy == imported
    for field in ("ratings", "seen", "watchlist"):
        assert [(e.movie, e.rating, e.stored_at) for e in getattr(copy, field)] == [
            (e.movie, e.rating, e.stored_at) for e in getattr(original, field)
        ]
    assert copy.created_at == original.created_at
    assert store.export(NS, "hal-copy")["ratings"] == document["ratings"]
    # New ratings keep counting after the imported ones.
    (later,) = store.rate(NS, "hal-copy", dataset=FP, ratings=[rating(9)]).ratings
    assert later.seq == 5
    with pytest.raises(ProfileError, match="exists already"):
        store.import_profile(NS, "hal-copy", document)
    document["ratings"] = document["ratings"][:1]
    replaced = store.import_profile(NS, "hal-copy", document, replace=True)
    assert replaced.counts.ratings == 1 and store.get(NS, "hal-copy").counts.ratings == 1
    assert store.import_profile("elsewhere", None, document).name == "hal"


def test_import_is_validated_whole(store: ProfileStore) -> None:
    document = {
        "format": "movierec-profile",
        "version": 1,
        "name": "bad name!",
        "dataset": FP,
        "ratings": [
            {"movie": 1, "title": "One", "year": 1999, "rating": 9},
            {"movie": 2, "title": "Two", "year": None, "rating": 3, "stored_at": "yesterday"},
            "not an object",
            {"movie": 1, "title": "One again", "year": 1999, "rating": 4},
        ],
        "seen": [{"movie": "3", "title": "Three"}],
        "watchlist": {"movie": 4},
    }
    assert_problems(
        lambda: store.import_profile(NS, "ivy", document),
        "nothing was imported: 7 problems",
        "name: profile name 'bad name!' is not allowed",
        "ratings[0]: rating 9 is off the scale",
        "ratings[1]: stored_at 'yesterday' is not an ISO 8601 time",
        "ratings[2]: expected an object, got str",
        "ratings[3] (movie 1 'One again' (1999)): movie 1 is also ratings[0]",
        "seen[0]: movie id '3' must be a whole number",
        "watchlist: expected a list, got dict",
    )
    with pytest.raises(ProfileNotFound):
        store.get(NS, "ivy")
    with pytest.raises(ProfileError, match="version 2 is not one this movierec reads"):
        store.import_profile(NS, "ivy", {**document, "version": 2})
    with pytest.raises(ProfileError, match="not a movierec profile document"):
        store.import_profile(NS, "ivy", {"ratings": []})


def test_sql_metacharacters_and_unicode_are_stored_verbatim(store: ProfileStore) -> None:
    titles = [
        "Robert'); DROP TABLE entries; --",
        'The "Quoted" One',
        "It's a ? and a %s and %(name)s and %%",
        "Amélie (Fabuleux destin d'Amélie Poulain, Le)",
        "千と千尋の神隠し 🎬",
        "back\\slash\nnewline\ttab",
    ]
    ratings = [Rating(Movie(i, t, 2001), 4.0) for i, t in enumerate(titles, start=1)]
    store.rate(NS, "o.reilly-1", dataset="fp'; DROP TABLE profiles; --", ratings=ratings)
    profile = store.get(NS, "o.reilly-1")
    assert [e.movie.title for e in profile.ratings] == titles
    assert profile.dataset == "fp'; DROP TABLE profiles; --"
    assert store.forget(NS, "o.reilly-1", [1]).ratings[0].movie.title == titles[0]
    assert len(store.get(NS, "o.reilly-1").ratings) == len(titles) - 1


def test_threads_sharing_one_store(store: ProfileStore) -> None:
    def work(t: int) -> None:
        for call in range(10):
            store.rate(
                NS,
                "shared",
                dataset=FP,
                ratings=[rating(t * 1000 + call * 5 + k) for k in range(5)],
            )
            store.get(NS, "shared")

    threads = [threading.Thread(target=work, args=(t,)) for t in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    profile = store.get(NS, "shared")
    assert [e.seq for e in profile.ratings] == list(range(1, 201))


# --- several processes, and processes killed mid-write -------------------------------------

WORKER = textwrap.dedent(
    """
    import json, sys, time
    from pathlib import Path
    from recsys.profiles import Movie, Rating, open_store

    mode, url = sys.argv[1], sys.argv[2]
    if mode == "hammer":  # wait for the start signal, then many small calls on one profile
        worker, calls, size, go = int(sys.argv[3]), int(sys.argv[4]), int(sys.argv[5]), sys.argv[6]
        Path(f"{go}-ready-{worker}").touch()
        while not Path(go).exists():
            time.sleep(0.002)
        with open_store(url) as store:
            for call in range(calls):
                first = worker * 100_000 + call * size
                store.rate("default", "shared", dataset="fp", ratings=[
                    Rating(Movie(m, f"w{worker} m{m}", 2000), 0.5 + m % 10 / 2)
                    for m in range(first, first + size)])
    elif mode == "rate":
        first = int(sys.argv[3])
        store = open_store(url)
        store.rate("default", "victim", dataset="fp", ratings=[
            Rating(Movie(m, f"m{m}", 1999), 3.0) for m in range(first, first + 100)])
    elif mode == "import":
        open_store(url).import_profile(
            "default", "victim", json.loads(Path(sys.argv[3]).read_text()), replace=True)
    elif mode == "forget":
        open_store(url).forget("default", "victim")
    print("finished")
    """
)


def run_worker(*args: str, fault: str | None = None) -> subprocess.Popen[str]:
    env = {k: v for k, v in os.environ.items() if k != "MOVIEREC_FAULT"}
    if fault:
        env["MOVIEREC_FAULT"] = fault
    env["PYTHONPATH"] = str(REPO) + os.pathsep + env.get("PYTHONPATH", "")
    return subprocess.Popen(
        [sys.executable, "-c", WORKER, *args],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def test_eight_processes_writing_one_profile_lose_nothing(url: str, tmp_path: Path) -> None:
    workers, calls, size = 8, 20, 5
    go = tmp_path / "go"
    procs = [
        run_worker("hammer", url, str(w), str(calls), str(size), str(go)) for w in range(workers)
    ]
    # Start them together once all are up, so they open and write at the same time.
    deadline = time.monotonic() + 60
    while len(list(tmp_path.glob("go-ready-*"))) < workers and time.monotonic() < deadline:
        time.sleep(0.01)
    go.touch()
    for proc in procs:
        out, err = proc.communicate(timeout=120)
        assert proc.returncode == 0, err
        assert "finished" in out
    with open_store(url) as store:
        profile = store.get(NS, "shared")
    total = workers * calls * size
    assert len(profile.ratings) == total
    assert len({e.movie.id for e in profile.ratings}) == total
    # Every rating got its own number, none skipped, and each process's calls kept their order.
    assert sorted(e.seq for e in profile.ratings) == list(range(1, total + 1))
    for w in range(workers):
        mine = [e.movie.id for e in profile.ratings if e.movie.id // 100_000 == w]
        assert mine == sorted(mine) and len(mine) == calls * size


@pytest.mark.parametrize(
    ("fault", "kept"),
    [("profiles.rate", 100), ("profiles.rate.committed", 200)],
)
def test_a_writer_killed_inside_its_transaction_leaves_all_or_nothing(
    url: str, fault: str, kept: int
) -> None:
    with open_store(url) as store:
        store.rate(NS, "victim", dataset="fp", ratings=[rating(i, 2.0) for i in range(100)])
    proc = run_worker("rate", url, "1000", fault=fault)
    out, err = proc.communicate(timeout=60)
    assert proc.returncode == -signal.SIGKILL, err
    assert "finished" not in out
    with open_store(url) as store:  # still opens, and still takes writes
        ids = [e.movie.id for e in store.get(NS, "victim").ratings]
        assert len(ids) == kept
        assert ids[:100] == list(range(100))
        assert ids[100:] == list(range(1000, 1000 + kept - 100))
        store.rate(NS, "victim", dataset="fp", ratings=[rating(5000)])
        assert store.get(NS, "victim").counts.ratings == kept + 1


def test_killed_import_and_forget_change_nothing(tmp_path: Path) -> None:
    path = str(tmp_path / "profiles.db")
    with open_store(path) as store:
        store.rate(NS, "victim", dataset="fp", ratings=[rating(i) for i in range(50)])
        before = store.export(NS, "victim")
    document = tmp_path / "doc.json"
    document.write_text(json.dumps({**before, "ratings": before["ratings"][:10]}))
    for mode, fault, extra in (
        ("import", "profiles.import", [str(document)]),
        ("forget", "profiles.forget", []),
    ):
        proc = run_worker(mode, path, *extra, fault=fault)
        _, err = proc.communicate(timeout=60)
        assert proc.returncode == -signal.SIGKILL, err
        with open_store(path) as store:
            assert store.export(NS, "victim")["ratings"] == before["ratings"]


# --- databases that cannot be used as they are ---------------------------------------------


def test_read_only_sqlite_reads_but_refuses_writes(tmp_path: Path) -> None:
    path = tmp_path / "profiles.db"
    with open_store(path) as store:
        store.rate(NS, "jo", dataset=FP, ratings=[rating(1), rating(2)])
    # Tests run as root, which ignores file modes: a read-only URI is what a read-only file is.
    with open_store(f"file:{path}?mode=ro") as store:
        assert [e.movie.id for e in store.get(NS, "jo").ratings] == [1, 2]
        assert [s.name for s in store.list_profiles(NS)] == ["jo"]
        assert store.export(NS, "jo")["name"] == "jo"
        for write in (
            lambda: store.rate(NS, "jo", dataset=FP, ratings=[rating(3)]),
            lambda: store.forget(NS, "jo"),
            lambda: store.watchlist_add(NS, "jo", dataset=FP, movies=[movie(3)]),
        ):
            with pytest.raises(StoreError, match="cannot be changed: it was opened read-only"):
                write()
        assert store.get(NS, "jo").counts.ratings == 2  # still reads after a refused write
    with open_store(f"sqlite:///{path}?mode=ro") as store:
        assert store.get(NS, "jo").counts.ratings == 2
    with pytest.raises(StoreError, match="cannot open the profile database"):
        open_store(f"file:{tmp_path / 'missing.db'}?mode=ro")


def test_read_only_postgresql_reads_but_refuses_writes(postgres_database: str) -> None:
    with open_store(postgres_database) as store:
        store.rate(NS, "jo", dataset=FP, ratings=[rating(1)])
    read_only = postgres_database + "&options=-c%20default_transaction_read_only%3Don"
    with open_store(read_only) as store:
        assert store.get(NS, "jo").counts.ratings == 1
        with pytest.raises(StoreError, match="is read-only"):
            store.rate(NS, "jo", dataset=FP, ratings=[rating(3)])
        assert store.get(NS, "jo").counts.ratings == 1


def test_unreachable_postgresql_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(StoreError, match="cannot reach the profile database"):
        open_store(f"postgresql://nobody:secret@/db?host={tmp_path}")
    try:
        open_store(f"postgresql://nobody:secret@/db?host={tmp_path}")
    except StoreError as exc:
        assert "secret" not in str(exc)


@pytest.mark.parametrize(
    "content", [os.urandom(8192), b"SQLite format 3\x00" + b"\xff" * 4080, b"hello"]
)
def test_corrupt_file_is_a_clear_error_at_open(tmp_path: Path, content: bytes) -> None:
    path = tmp_path / "profiles.db"
    path.write_bytes(content)
    with pytest.raises(StoreError, match="is not a readable profile database") as caught:
        open_store(path)
    assert str(path) in str(caught.value) and "backup" in str(caught.value)
    assert path.read_bytes() == content  # left for the person to inspect


def test_foreign_and_newer_databases_are_refused(url: str) -> None:
    with open_store(url) as store:
        store.rate(NS, "kim", dataset=FP, ratings=[rating(1)])
    raw(url, "UPDATE schema_version SET version = ?", (SCHEMA_VERSION + 1,))
    with pytest.raises(StoreError, match=f"version {SCHEMA_VERSION + 1}, newer than"):
        open_store(url)
    raw(url, "DROP TABLE schema_version")
    with pytest.raises(StoreError, match="not a movierec profile store"):
        open_store(url)


V1_DDL = [
    """CREATE TABLE schema_version (version INTEGER NOT NULL)""",
    """CREATE TABLE profiles (
        id {serial}, namespace TEXT NOT NULL, name TEXT NOT NULL, dataset TEXT NOT NULL,
        created_at BIGINT NOT NULL, UNIQUE (namespace, name))""",
    """CREATE TABLE entries (
        profile_id BIGINT NOT NULL REFERENCES profiles (id) ON DELETE CASCADE,
        movie_id BIGINT NOT NULL, title TEXT NOT NULL, year INTEGER, rating {real},
        stored_at BIGINT NOT NULL, PRIMARY KEY (profile_id, movie_id))""",
    "INSERT INTO schema_version (version) VALUES (1)",
]


def test_a_version_1_database_migrates_without_loss(url: str, tmp_path: Path) -> None:
    pg = url.startswith("postgresql://")
    types = {
        "serial": "BIGINT GENERATED BY DEFAULT AS IDENTITY PRIMARY KEY"
        if pg
        else "INTEGER PRIMARY KEY",
        "real": "DOUBLE PRECISION" if pg else "REAL",
    }
    if not pg:
        os.close(os.open(url, os.O_CREAT | os.O_WRONLY, 0o600))
    for statement in V1_DDL:
        raw(url, statement.format(**types))
    for profile_id, name in ((1, "lee"), (2, "max")):
        raw(url, "INSERT INTO profiles VALUES (?, ?, ?, ?, ?)", (profile_id, NS, name, FP, 5))
    # Version 1 ordered by stamp (ties by movie id); seen movies have no rating.
    rows = [(1, 30, "Thirty", 1994, 4.5, 300), (1, 10, "Ten", None, 2.0, 100),
            (1, 20, "Twenty's", 2001, None, 200), (1, 5, "Five", 1980, 3.0, 300),
            (2, 10, "Ten", None, 5.0, 50)]  # fmt: skip
    for row in rows:
        raw(url, "INSERT INTO entries VALUES (?, ?, ?, ?, ?, ?)", row)
    with open_store(url) as store:
        lee = store.get(NS, "lee")
        got = [(e.movie.id, e.movie.title, e.movie.year, e.rating, e.seq) for e in lee.ratings]
        assert got == [
            (10, "Ten", None, 2.0, 1), (5, "Five", 1980, 3.0, 3), (30, "Thirty", 1994, 4.5, 4)
        ]  # fmt: skip
        assert [(e.movie.id, e.seq) for e in lee.seen] == [(20, 2)]
        assert lee.ratings[0].stored_at == datetime.fromtimestamp(100 / 1e6, UTC)
        assert [(e.movie.id, e.seq) for e in store.get(NS, "max").ratings] == [(10, 1)]
        (new,) = store.rate(NS, "lee", dataset=FP, ratings=[rating(40)]).ratings
        assert new.seq == 5  # numbering continues after the migrated entries
        store.watchlist_add(NS, "lee", dataset=FP, movies=[movie(41)])
        assert store.get(NS, "lee").counts.watchlist == 1
    assert raw(url, "SELECT version FROM schema_version") == [(SCHEMA_VERSION,)]
    if not pg:  # the migrated schema is the one a new database gets, column for column
        fresh = str(tmp_path / "fresh.db")
        open_store(fresh).close()
        for table in ("schema_version", "profiles", "entries", "watchlist"):
            info = f"PRAGMA table_info({table})"
            assert raw(url, info) == raw(fresh, info), table


# --- privacy ---------------------------------------------------------------------------------


def file_bytes(path: Path) -> bytes:
    """The database file and its WAL and shared-memory files, as they lie on disk."""
    parts = [path, path.with_name(path.name + "-wal"), path.with_name(path.name + "-shm")]
    return b"".join(p.read_bytes() for p in parts if p.exists())


def test_forget_erases_the_bytes_from_the_sqlite_files(tmp_path: Path) -> None:
    path = tmp_path / "profiles.db"
    secret, name = "Zyxwvut Private Title 8841", "zz-private-name-42"
    with open_store(path) as store:
        store.rate(NS, "keep", dataset=FP, ratings=[rating(i) for i in range(200)])
        store.rate(NS, name, dataset=FP, ratings=[rating(1, title=secret + " A"), rating(2)])
        store.watchlist_add(NS, "keep", dataset=FP, movies=[movie(1003, secret + " W")])
        store.rate(NS, "keep", dataset=FP, ratings=[rating(300, title=secret + " B")])
        assert secret.encode() in file_bytes(path)  # so the check below means something
        forgotten = store.forget(NS, "keep", [300, 1003])
        assert forgotten.erased
        assert [e.movie.title for e in forgotten.ratings + forgotten.watchlist] == [
            secret + " B",
            secret + " W",
        ]
        assert store.forget(NS, name).erased
        assert store.get(NS, "keep").counts.ratings == 200
        assert (secret + " A").encode() not in file_bytes(path)
        assert secret.encode() not in file_bytes(path)
        assert name.encode() not in file_bytes(path)
    assert secret.encode() not in file_bytes(path)


def test_postgresql_forget_says_bytes_are_not_erased(store: ProfileStore, url: str) -> None:
    store.rate(NS, "nia", dataset=FP, ratings=[rating(1)])
    assert store.forget(NS, "nia").erased is (not url.startswith("postgresql://"))


def test_database_files_are_private_to_their_owner(tmp_path: Path) -> None:
    path = tmp_path / "new" / "folder" / "profiles.db"
    with open_store(path) as store:
        store.rate(NS, "ola", dataset=FP, ratings=[rating(1)])
        for part in (path, path.with_name("profiles.db-wal"), path.with_name("profiles.db-shm")):
            assert part.stat().st_mode & 0o777 == 0o600, part
    assert path.parent.stat().st_mode & 0o777 == 0o700


# --- where the store is ------------------------------------------------------------------------


def test_default_location_per_platform(tmp_path: Path) -> None:
    home = Path.home()
    assert default_location({"MOVIEREC_PROFILES": "postgresql://h/db"}) == "postgresql://h/db"
    assert default_location({"XDG_DATA_HOME": "/x"}, "linux") == "/x/movierec/profiles.db"
    assert default_location({}, "linux") == str(home / ".local/share/movierec/profiles.db")
    assert default_location({}, "darwin") == str(
        home / "Library/Application Support/movierec/profiles.db"
    )
    assert default_location({"LOCALAPPDATA": "C:/Users/u/AppData/Local"}, "win32") == str(
        Path("C:/Users/u/AppData/Local/movierec/profiles.db")
    )


def test_open_store_defaults_to_the_environment(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("MOVIEREC_PROFILES", str(tmp_path / "env.db"))
    with open_store() as store:
        assert store.location == str(tmp_path / "env.db")
    assert (tmp_path / "env.db").exists()


def test_location_forms(tmp_path: Path) -> None:
    assert parse_location("sqlite:///rel/p.db").path == Path("rel/p.db")
    assert parse_location("sqlite:////abs/p.db").path == Path("/abs/p.db")
    assert parse_location("sqlite:////abs/p.db?mode=ro").read_only
    assert parse_location("file:/abs/p.db?mode=ro").read_only
    assert not parse_location("/abs/with?question.db").read_only
    assert parse_location("postgres://u:pw@h:5/db").shown == "postgres://u:***@h:5/db"
    hidden = parse_location("postgresql:///db?user=u&password=pw&host=/s").shown
    assert hidden == "postgresql:///db?user=u&password=***&host=/s"
    with pytest.raises(ProfileError, match="unsupported profile store 'mysql'"):
        open_store("mysql://h/db")
    with pytest.raises(ProfileError, match="sqlite:///relative"):
        open_store("sqlite://host/p.db")
    with open_store(f"sqlite:///{tmp_path / 'u r l.db'}") as store:
        store.rate(NS, "pat", dataset=FP, ratings=[rating(1)])
    assert (tmp_path / "u r l.db").exists()


def test_the_package_stands_alone() -> None:
    """recsys.profiles imports nothing else from recsys, so it can serve without the model."""
    code = (
        "import sys, recsys.profiles, recsys.profiles.postgres;"
        "print(sorted(m for m in sys.modules if m.startswith('recsys')"
        " and not m.startswith('recsys.profiles')))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "['recsys']"
