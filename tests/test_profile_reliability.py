"""Profiles under stress, through real `movierec serve` processes: eight servers writing one
profile, a server killed with SIGKILL inside its transaction, a database that cannot be
written, a corrupt one, a bad location, and a database of the previous schema version.

Every case ends with a server that serves: the next call answers, and nothing half-written
is ever read.
"""

from __future__ import annotations

import json
import os
import signal
import sqlite3
import subprocess
import threading
from contextlib import closing
from pathlib import Path

import pytest
from conftest import wire_ok as call
from conftest import wire_text as text

from recsys.data.synthetic import HEAT_1995, MATRIX, TOY_STORY
from recsys.profiles import SCHEMA_VERSION, Movie, Rating, open_store
from server.errors import EXIT_PROFILES, EXIT_USAGE
from server.launch import serve_argv, wire_session

pytestmark = pytest.mark.slow  # every test starts server processes

SERVERS, CALLS = 8, 11  # 88 distinct movies of the small bundle's 90


def env_for(store: str, **extra: str) -> dict[str, str]:
    base = {k: v for k, v in os.environ.items() if k != "MOVIEREC_FAULT"}
    return {**base, "MOVIEREC_PROFILES": store, **extra}


def fingerprint(bundle: Path) -> str:
    manifest = json.loads((bundle / "manifest.json").read_text())
    return str(manifest["dataset"]["fingerprint"]["sha256"])


@pytest.fixture(params=["sqlite", "postgresql"])
def location(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if request.param == "sqlite":
        return str(tmp_path / "profiles.db")
    return str(request.getfixturevalue("postgres_database"))


def test_eight_server_processes_writing_one_profile_lose_nothing(
    small_bundle: Path, location: str
) -> None:
    ready = threading.Barrier(SERVERS)
    failures: list[BaseException] = []

    def serve(w: int) -> None:
        try:
            with wire_session(small_bundle, env=env_for(location)) as client:
                ready.wait(timeout=300)  # every server up before any writes
                for c in range(CALLS):
                    movie = w * CALLS + c + 1
                    rating = {"movie": movie, "rating": 0.5 + movie % 10 / 2}
                    call(client, "rate_movies", {"profile": "shared", "ratings": [rating]})
        except BaseException as exc:  # reported below, with the others
            failures.append(exc)
            ready.abort()

    threads = [threading.Thread(target=serve, args=(w,)) for w in range(SERVERS)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=600)
    assert not failures, failures
    with open_store(location) as store:
        profile = store.get("default", "shared")
    total = SERVERS * CALLS
    assert sorted(e.movie.id for e in profile.ratings) == list(range(1, total + 1))
    assert sorted(e.seq for e in profile.ratings) == list(range(1, total + 1))
    assert all(e.rating == 0.5 + e.movie.id % 10 / 2 for e in profile.ratings)
    for w in range(SERVERS):  # each server's calls kept their order
        mine = [e.movie.id for e in profile.ratings if (e.movie.id - 1) // CALLS == w]
        assert mine == sorted(mine)


@pytest.mark.parametrize(
    ("backend", "fault", "kept"),
    [
        ("sqlite", "profiles.rate", 10),
        ("sqlite", "profiles.rate.committed", 30),
        ("postgresql", "profiles.rate", 10),
    ],
)
def test_a_server_killed_inside_its_transaction_leaves_all_or_nothing(
    small_bundle: Path, tmp_path: Path, request: pytest.FixtureRequest, backend: str,
    fault: str, kept: int,
) -> None:  # fmt: skip
    if backend == "sqlite":
        store = str(tmp_path / "profiles.db")
    else:
        store = str(request.getfixturevalue("postgres_database"))
    first = [{"movie": m, "rating": 3} for m in range(1, 11)]
    batch = [{"movie": m, "rating": 4} for m in range(11, 31)]
    with wire_session(small_bundle, env=env_for(store)) as client:
        call(client, "rate_movies", {"profile": "victim", "ratings": first})
    with wire_session(small_bundle, env=env_for(store, MOVIEREC_FAULT=fault)) as doomed:
        with pytest.raises(EOFError):  # killed mid-call: no answer, stdout closed
            doomed.call_tool("rate_movies", {"profile": "victim", "ratings": batch})
    assert doomed.process.returncode == -signal.SIGKILL
    with wire_session(small_bundle, env=env_for(store)) as client:
        view = call(client, "get_profile", {"profile": "victim"})
        assert [e["movie"]["id"] for e in view["ratings"]] == list(range(1, kept + 1))
        call(client, "rate_movies", {"profile": "victim", "ratings": [{"movie": 40, "rating": 5}]})
        assert call(client, "get_profile", {"profile": "victim"})["counts"]["ratings"] == kept + 1


def test_a_read_only_database_reads_and_refuses_writes_clearly(
    small_bundle: Path, tmp_path: Path
) -> None:
    path = tmp_path / "profiles.db"
    with open_store(path) as store:
        movie = Movie(MATRIX, "Matrix, The (1999)", 1999)
        store.rate("default", "jo", dataset=fingerprint(small_bundle), ratings=[Rating(movie, 5)])
    # Tests run as root, which ignores file modes: a read-only URI is what a read-only file is.
    with wire_session(small_bundle, env=env_for(f"file:{path}?mode=ro")) as client:
        assert call(client, "get_profile", {"profile": "jo"})["counts"]["ratings"] == 1
        for tool, arguments in (
            ("rate_movies", {"profile": "jo", "ratings": [{"movie": 2, "rating": 3}]}),
            ("watchlist_add", {"profile": "jo", "movies": [2]}),
            ("forget", {"profile": "jo"}),
        ):
            result = client.call_tool(tool, arguments)
            assert result.get("isError")
            assert "cannot be changed: it was opened read-only" in text(result)
        assert call(client, "recommend_for_user", {"profile": "jo", "k": 3})["items"]
        assert call(client, "get_profile", {"profile": "jo"})["counts"]["ratings"] == 1


def serve_once(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        serve_argv(None, *args), stdin=subprocess.DEVNULL, capture_output=True, text=True,
        timeout=120, env=env,
    )  # fmt: skip


def test_a_store_that_cannot_be_opened_stops_start_up_in_one_line(
    small_bundle: Path, tmp_path: Path
) -> None:
    corrupt = tmp_path / "corrupt.db"
    corrupt.write_bytes(os.urandom(8192))
    env = env_for(str(corrupt))
    done = serve_once("--model", str(small_bundle), env=env)
    assert done.returncode == EXIT_PROFILES
    line = done.stderr.strip()
    assert "\n" not in line and "Traceback" not in line
    assert str(corrupt) in line and "not a readable profile database" in line and "backup" in line
    done = serve_once("--profiles", "mysql://host/db", env=env)
    assert done.returncode == EXIT_USAGE
    assert "unsupported profile store 'mysql'" in done.stderr and "\n" not in done.stderr.strip()
    missing = f"file:{tmp_path / 'missing.db'}?mode=ro"
    done = serve_once("--profiles", missing, env=env)
    assert done.returncode == EXIT_PROFILES and "cannot open the profile database" in done.stderr


def test_a_corrupt_page_is_a_clear_tool_error_and_the_server_keeps_serving(
    small_bundle: Path, tmp_path: Path
) -> None:
    path = tmp_path / "profiles.db"
    with open_store(path) as store:
        ratings = [Rating(Movie(m, f"Movie {m}", 2000), 3.0) for m in range(1, 80)]
        store.rate("default", "kim", dataset=fingerprint(small_bundle), ratings=ratings)
        store.forget("default", "kim", [1])  # checkpoints: every page is in the file itself
    with closing(sqlite3.connect(path)) as conn:
        (root,) = conn.execute(
            "SELECT rootpage FROM sqlite_master WHERE name = 'entries'"
        ).fetchone()
        (size,) = conn.execute("PRAGMA page_size").fetchone()
    with open(path, "r+b") as f:  # the entries table's first page overwritten
        f.seek((root - 1) * size)
        f.write(b"\xde\xad" * (size // 2))
    with wire_session(small_bundle, env=env_for(str(path))) as client:
        for tool, arguments in (
            ("get_profile", {"profile": "kim"}),
            ("rate_movies", {"profile": "kim", "ratings": [{"movie": 2, "rating": 3}]}),
            ("recommend_for_user", {"profile": "kim"}),
        ):
            result = client.call_tool(tool, arguments)
            assert result.get("isError")
            message = text(result)
            assert "not a readable profile database" in message and "backup" in message
        assert call(client, "get_movie", {"movie_id": MATRIX})["movie_id"] == MATRIX


def test_a_database_of_the_previous_schema_version_is_migrated_by_the_server(
    small_bundle: Path, tmp_path: Path
) -> None:
    from test_profiles_store import V1_DDL

    path = tmp_path / "profiles.db"
    with closing(sqlite3.connect(path, isolation_level=None)) as conn:
        for statement in V1_DDL:
            conn.execute(statement.format(serial="INTEGER PRIMARY KEY", real="REAL"))
        conn.execute(
            "INSERT INTO profiles VALUES (1, 'default', 'old', ?, 5)", (fingerprint(small_bundle),)
        )
        rows = [(1, HEAT_1995, "Heat (1995)", 1995, 4.5, 300),
                (1, MATRIX, "Matrix, The (1999)", 1999, 5.0, 100),
                (1, TOY_STORY, "Toy Story (1995)", 1995, None, 200)]  # fmt: skip
        conn.executemany("INSERT INTO entries VALUES (?, ?, ?, ?, ?, ?)", rows)
    with wire_session(small_bundle, env=env_for(str(path))) as client:
        view = call(client, "get_profile", {"profile": "old"})
        assert [(e["movie"]["id"], e["seq"]) for e in view["ratings"]] == [
            (MATRIX, 1),
            (HEAT_1995, 3),
        ]
        assert [(e["movie"]["id"], e["seq"]) for e in view["seen"]] == [(TOY_STORY, 2)]
        (new,) = call(
            client, "rate_movies", {"profile": "old", "ratings": [{"movie": 20, "rating": 2}]}
        )["ratings"]
        assert new["seq"] == 4
        shown = call(client, "recommend_for_user", {"profile": "old", "k": 5})["items"]
        assert not {i["movie_id"] for i in shown} & {MATRIX, HEAT_1995, TOY_STORY, 20}
    with closing(sqlite3.connect(path)) as conn:
        assert conn.execute("SELECT version FROM schema_version").fetchall() == [(SCHEMA_VERSION,)]
