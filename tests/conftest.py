"""Shared fixtures: tiny byte-exact MovieLens files, the synthetic dataset with the small
model and bundle trained on it once per session, and MCP client sessions.

Parser fixtures. `tiny_dataset(fmt)` writes the same small dataset in one of
the three MovieLens formats ("ml-1m", "ml-100k", "csv"), byte for byte as
GroupLens lays them out, with the edge cases the parsers must handle, so
every format should load to identical movies and ratings:

  movie 1  "Toy Story (1995)"                   Animation|Children's|Comedy
  movie 2  "Misérables, Les (1995)"             Drama|Musical   (latin-1 é in .dat/u.item)
  movie 3  "Babylon 5 (1994-1998)"              Sci-Fi          (year range)
  movie 4  "Untitled Project"                   no genre, no year, never rated
  movie 5  "Shawshank Redemption, The (1994) "  Crime|Drama     (trailing space)
  movie 6  '"Great Performances" Cats (1998)'   Musical         (double quotes)

Users 1-3 (F / M / M; ages 15 / 30 / 61 years = ML-1M codes 1 / 25 / 56;
occupations K-12 student / programmer / other) rate as in TINY_RATINGS.

Models. `small_dataset` is `recsys.data.synthetic.synthetic_dataset()` (60
users with planted tastes, 90 movies with the named ones); `small_model` is
the real two-tower model fitted on it and `small_bundle` its bundle, both
built once per session and shared, so tests must not change them (copy the
bundle first: `bundle_copy`). `nodemo_bundle` is the same without
demographics, as a CSV-family dataset gives them.

Sessions. `stdio_session(model)`, `http_session(url)` and
`in_process_session(recommender)` open a live MCP client driven from
synchronous tests (a `Session`); `mcp` is one per transport over the small bundle.
"""

from __future__ import annotations

import csv
import io
import os
import shutil
import subprocess
import tempfile
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest
from anyio.from_thread import BlockingPortal, start_blocking_portal
from mcp import Client
from mcp_types import CallToolResult

from recsys.data.dataset import Dataset
from recsys.data.synthetic import synthetic_dataset
from recsys.training.config import TrainConfig
from server.launch import WireClient, http_client, http_server, stdio_params

if TYPE_CHECKING:
    from recsys.model.towers import TrainedModel
    from recsys.serving.recommender import Recommender

SHARED_DATA = Path(__file__).resolve().parents[2] / "shared" / "data"

TINY_MOVIES: list[tuple[int, str, list[str]]] = [
    (1, "Toy Story (1995)", ["Animation", "Children's", "Comedy"]),
    (2, "Misérables, Les (1995)", ["Drama", "Musical"]),
    (3, "Babylon 5 (1994-1998)", ["Sci-Fi"]),
    (4, "Untitled Project", []),
    (5, "Shawshank Redemption, The (1994) ", ["Crime", "Drama"]),
    (6, '"Great Performances" Cats (1998)', ["Musical"]),
]
# user id, gender, age code, occupation code, zip  (ML-1M users.dat)
TINY_USERS_ML1M: list[tuple[int, str, int, int, str]] = [
    (1, "F", 1, 10, "48067"),
    (2, "M", 25, 12, "70072"),
    (3, "M", 56, 0, "55117"),
]
# user id, age in years, gender, occupation, zip  (ML-100K u.user)
TINY_USERS_ML100K: list[tuple[int, int, str, str, str]] = [
    (1, 15, "F", "student", "85711"),
    (2, 30, "M", "programmer", "94043"),
    (3, 61, "M", "none", "32067"),
]
# user id, movie id, rating, timestamp
TINY_RATINGS: list[tuple[int, int, int, int]] = [
    (1, 1, 5, 978300760),
    (1, 2, 3, 978300761),
    (2, 1, 4, 978300762),
    (2, 3, 2, 978300763),
    (2, 5, 5, 978300764),
    (3, 6, 1, 978300765),
    (3, 1, 4, 978300766),
]
ML100K_GENRES = (
    "unknown|Action|Adventure|Animation|Children's|Comedy|Crime|Documentary|Drama|Fantasy|"
    "Film-Noir|Horror|Musical|Mystery|Romance|Sci-Fi|Thriller|War|Western"
).split("|")


def write_tiny_ml1m(root: Path) -> Path:
    root.mkdir(parents=True, exist_ok=True)
    movies = "".join(f"{i}::{t}::{'|'.join(g)}\n" for i, t, g in TINY_MOVIES)
    (root / "movies.dat").write_bytes(movies.encode("latin-1"))
    users = "".join(f"{u}::{g}::{a}::{o}::{z}\n" for u, g, a, o, z in TINY_USERS_ML1M)
    (root / "users.dat").write_bytes(users.encode("latin-1"))
    ratings = "".join(f"{u}::{m}::{r}::{t}\n" for u, m, r, t in TINY_RATINGS)
    (root / "ratings.dat").write_bytes(ratings.encode("latin-1"))
    return root


def write_tiny_ml100k(root: Path) -> Path:
    root.mkdir(parents=True, exist_ok=True)
    lines = []
    for movie_id, title, genres in TINY_MOVIES:
        flags = [int(g in genres) for g in ML100K_GENRES]
        flags[0] = int(not genres)  # the "unknown" flag
        date = "" if movie_id == 4 else "01-Jan-1995"
        url = f"http://us.imdb.com/M/title-exact?{movie_id}"
        lines.append("|".join([str(movie_id), title, date, "", url, *map(str, flags)]) + "\n")
    (root / "u.item").write_bytes("".join(lines).encode("latin-1"))
    users = "".join(f"{u}|{a}|{g}|{o}|{z}\n" for u, a, g, o, z in TINY_USERS_ML100K)
    (root / "u.user").write_bytes(users.encode("latin-1"))
    ratings = "".join(f"{u}\t{m}\t{r}\t{t}\n" for u, m, r, t in TINY_RATINGS)
    (root / "u.data").write_bytes(ratings.encode("latin-1"))
    (root / "u.genre").write_text("".join(f"{g}|{i}\n" for i, g in enumerate(ML100K_GENRES)))
    return root


def write_tiny_csv(root: Path) -> Path:
    root.mkdir(parents=True, exist_ok=True)
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\n")
    writer.writerow(["movieId", "title", "genres"])
    for movie_id, title, genres in TINY_MOVIES:
        names = [("Children" if g == "Children's" else g) for g in genres]
        writer.writerow([movie_id, title, "|".join(names) or "(no genres listed)"])
    (root / "movies.csv").write_bytes(buf.getvalue().encode("utf-8"))
    rows = "".join(f"{u},{m},{r:.1f},{t}\n" for u, m, r, t in TINY_RATINGS)
    (root / "ratings.csv").write_text("userId,movieId,rating,timestamp\n" + rows)
    (root / "links.csv").write_text("movieId,imdbId,tmdbId\n1,0114709,862\n")
    return root


TINY_WRITERS: dict[str, Callable[[Path], Path]] = {
    "ml-1m": write_tiny_ml1m,
    "ml-100k": write_tiny_ml100k,
    "csv": write_tiny_csv,
}


@pytest.fixture(scope="session")
def shared_data() -> Path:
    """The read-only real MovieLens data directory (holding ml-100k, ml-latest-small)."""
    if not SHARED_DATA.is_dir():
        pytest.skip(f"real MovieLens data not found at {SHARED_DATA}")
    return SHARED_DATA


@pytest.fixture
def tiny_dataset(tmp_path: Path) -> Callable[[str], Path]:
    """Factory: tiny_dataset("ml-1m" | "ml-100k" | "csv") -> directory with that format."""

    def make(fmt: str) -> Path:
        return TINY_WRITERS[fmt](tmp_path / fmt)

    return make


# --------------------------------------------------------------------------- process


@pytest.fixture(scope="session", autouse=True)
def private_profiles(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """Every server the tests start keeps its profiles in this session's own file, never in
    the user's data directory (also those started without MOVIEREC_ variables: the default
    place is under XDG_DATA_HOME); a test that needs a store of its own passes --profiles."""
    root = tmp_path_factory.mktemp("profiles")
    path = root / "profiles.db"
    changed = {"MOVIEREC_PROFILES": str(path), "XDG_DATA_HOME": str(root / "data-home")}
    before = {k: os.environ.get(k) for k in changed}
    os.environ.update(changed)
    yield path
    for key, value in before.items():
        if value is None:
            os.environ.pop(key, None)
        else:
            os.environ[key] = value


@pytest.fixture(scope="session", autouse=True)
def training_process() -> None:
    """What an entry point sets before training (`recsys.training.process.configure`):
    deterministic kernels, so a seed gives the same model every time. One thread: the
    test models are tiny, and on a busy two-core machine two threads made them 10-30x
    slower (CLI calls in tests pass `--threads 1` for the same reason)."""
    from recsys.training import process

    process.configure(threads=1)


# --------------------------------------------------------------------------- models

# A few seconds of training that learns the planted tastes; no validation slice.
SMALL_TRAIN = TrainConfig().with_values(
    epochs=40, dim=16, hidden=32, batch_size=16, lr=1e-2, val_share=0.0, seed=0
)


def _fit(dataset: Dataset) -> TrainedModel:
    from recsys.training.fit import fit

    return fit(dataset, SMALL_TRAIN, progress=False)


def _bundle(model: TrainedModel, dataset: Dataset, out: Path) -> Path:
    from recsys.bundle.write import write_bundle

    return write_bundle(model, dataset, out, evaluation={"recall@10": 0.5}, n_trees=5)


@pytest.fixture(scope="session")
def small_dataset() -> Dataset:
    return synthetic_dataset()


@pytest.fixture(scope="session")
def small_model(small_dataset: Dataset) -> TrainedModel:
    return _fit(small_dataset)


@pytest.fixture(scope="session")
def small_bundle(
    small_model: TrainedModel, small_dataset: Dataset, tmp_path_factory: pytest.TempPathFactory
) -> Path:
    """The small model's bundle (read-only: every test and server process shares it)."""
    return _bundle(small_model, small_dataset, tmp_path_factory.mktemp("small") / "bundle")


@pytest.fixture
def bundle_copy(small_bundle: Path, tmp_path: Path) -> Path:
    """A copy of the small bundle this test may change."""
    return Path(shutil.copytree(small_bundle, tmp_path / "bundle"))


@pytest.fixture(scope="session")
def nodemo_bundle(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The same users and ratings without demographics, as a CSV-family dataset gives them."""
    dataset = synthetic_dataset(demographics=False)
    return _bundle(_fit(dataset), dataset, tmp_path_factory.mktemp("nodemo") / "bundle")


@pytest.fixture(scope="session")
def seen_by(small_dataset: Dataset) -> Callable[[int], set[int]]:
    """The movie ids a user of the small dataset rated."""
    ratings = small_dataset.ratings

    def seen(user_id: int) -> set[int]:
        return set(ratings.loc[ratings["user_id"] == user_id, "movie_id"].tolist())

    return seen


def raw_lift(ratings: Any, a: int, b: int) -> tuple[float, int]:
    """lift(a -> b) and co-likers of two movie ids, counted here from a ratings frame (a like:
    4 stars or more; users: everyone who rated), not by the code that writes reasons."""
    likes = ratings[ratings["rating"] >= 4]
    fans_a = set(likes.loc[likes["movie_id"] == a, "user_id"])
    fans_b = set(likes.loc[likes["movie_id"] == b, "user_id"])
    if not fans_a or not fans_b:
        return 0.0, 0
    co = len(fans_a & fans_b)
    return co * ratings["user_id"].nunique() / (len(fans_a) * len(fans_b)), co


# --------------------------------------------------------------------------- MCP sessions


@dataclass
class Session:
    """A live MCP client driven from synchronous tests through an anyio portal."""

    portal: BlockingPortal
    client: Client

    def call(self, tool: str, arguments: dict[str, Any]) -> CallToolResult:
        return self.portal.call(self.client.call_tool, tool, arguments)

    def ok(self, tool: str, arguments: dict[str, Any]) -> dict[str, Any]:
        result = self.call(tool, arguments)
        assert not result.is_error, f"{tool}({arguments}) failed: {text_of(result)}"
        assert result.structured_content is not None
        assert text_of(result).strip(), "every result carries a readable text too"
        return result.structured_content

    def error(self, tool: str, arguments: dict[str, Any]) -> str:
        result = self.call(tool, arguments)
        assert result.is_error, f"{tool}({arguments}) should fail but returned {text_of(result)}"
        return text_of(result)

    def run(self, fn: Callable[..., Any], *args: Any) -> Any:
        return self.portal.call(fn, *args)


def text_of(result: CallToolResult) -> str:
    return "\n".join(getattr(block, "text", "") for block in result.content)


# Bare JSON-RPC lines (server.launch.WireClient): answers are plain dicts.


def wire_text(result: dict[str, Any]) -> str:
    return "".join(block.get("text", "") for block in result["content"])


def wire_ok(client: WireClient, tool: str, arguments: dict[str, Any]) -> dict[str, Any]:
    """The structured answer of a call that must succeed (and carry a readable text)."""
    result = client.call_tool(tool, arguments)
    assert not result.get("isError"), f"{tool}({arguments}) failed: {wire_text(result)}"
    assert wire_text(result).strip()
    structured: dict[str, Any] = result["structuredContent"]
    return structured


def wire_error(client: WireClient, tool: str, arguments: dict[str, Any]) -> str:
    """The text of a call that must be answered with a tool error."""
    result = client.call_tool(tool, arguments)
    assert result.get("isError"), f"{tool}({arguments}) should fail: {wire_text(result)}"
    return wire_text(result)


@contextmanager
def _stdio(model: Path | None, env: dict[str, str] | None = None) -> Iterator[Session]:
    with start_blocking_portal() as portal:
        with portal.wrap_async_context_manager(Client(stdio_params(model, env=env))) as client:
            yield Session(portal, client)


@contextmanager
def _http(url: str, token: str | None = None) -> Iterator[Session]:
    with start_blocking_portal() as portal:
        with portal.wrap_async_context_manager(http_client(url, token)) as client:
            yield Session(portal, client)


@contextmanager
def _in_process(recommender: Recommender) -> Iterator[Session]:
    from server.app import build_server

    with start_blocking_portal() as portal:
        with portal.wrap_async_context_manager(Client(build_server(recommender))) as client:
            yield Session(portal, client)


@pytest.fixture(scope="session")
def stdio_session() -> Callable[..., Any]:
    """`with stdio_session(model, env=None) as s:` a `movierec serve` child over stdio."""
    return _stdio


@pytest.fixture(scope="session")
def http_session() -> Callable[..., Any]:
    """`with http_session(url, token=None) as s:` a client of a running HTTP server."""
    return _http


@pytest.fixture(scope="session")
def in_process_session() -> Callable[..., Any]:
    """`with in_process_session(recommender) as s:` the server's tools, no transport."""
    return _in_process


@pytest.fixture(scope="module", params=["stdio", "http"])
def mcp(request: pytest.FixtureRequest, small_bundle: Path) -> Iterator[Session]:
    """One server over the small bundle per transport, shared by a module's tests."""
    if request.param == "stdio":
        with _stdio(small_bundle) as session:
            yield session
    else:
        with http_server(small_bundle) as server, _http(server.url) as session:
            yield session


# --- PostgreSQL: a private, throwaway server for the profile store's tests -----------------


class NoPostgres(RuntimeError):
    """No PostgreSQL server binary on this machine: the PostgreSQL tests skip."""


def postgres_bindir() -> Path:
    """The folder holding initdb and pg_ctl: pg_config's, else the newest Debian one, else PATH."""
    candidates: list[Path] = []
    if pg_config := shutil.which("pg_config"):
        found = subprocess.run([pg_config, "--bindir"], capture_output=True, text=True)
        candidates.append(Path(found.stdout.strip()))
    versions = Path("/usr/lib/postgresql").glob("*/bin")
    candidates += sorted(
        versions, key=lambda p: int(p.parent.name) if p.parent.name.isdigit() else 0, reverse=True
    )
    if initdb := shutil.which("initdb"):
        candidates.append(Path(initdb).parent)
    for folder in candidates:
        if (folder / "initdb").is_file() and (folder / "pg_ctl").is_file():
            return folder
    raise NoPostgres(
        "no PostgreSQL server binaries (initdb, pg_ctl) found via pg_config --bindir, "
        "/usr/lib/postgresql/*/bin or PATH; install PostgreSQL (e.g. apt-get install postgresql)"
    )


@contextmanager
def temporary_postgres(*, fsync: bool = False) -> Iterator[str]:
    """Start a PostgreSQL server of our own in a temporary folder; yield a URL of its
    `postgres` database (user `movierec`, trust auth, unix socket in that folder only).

    PostgreSQL refuses to run as root, so as root the server runs as the `postgres` user
    (through runuser) in a folder it owns. Without `fsync` it is fast and not crash-safe,
    which is fine for a server that lives as long as one test session.
    """
    bindir = postgres_bindir()
    as_user: list[str] = []
    # mkdtemp under /tmp, not pytest's tmp_path: that is root-only, and socket paths must be short.
    root = Path(tempfile.mkdtemp(prefix="movierec-pg-"))
    if hasattr(os, "geteuid") and os.geteuid() == 0:
        import pwd  # POSIX only, and only needed as root

        try:
            owner = pwd.getpwnam("postgres")
        except KeyError:
            raise RuntimeError(
                "PostgreSQL will not run as root and there is no 'postgres' user to run it as"
            ) from None
        os.chown(root, owner.pw_uid, owner.pw_gid)
        as_user = ["runuser", "-u", "postgres", "--"]
    data, log = root / "data", root / "server.log"

    def run(*args: str) -> None:
        done = subprocess.run([*as_user, *args], capture_output=True, text=True, timeout=120)
        if done.returncode != 0:
            tail = log.read_text()[-2000:] if log.exists() else ""
            raise RuntimeError(f"{args[0]} failed: {done.stdout}{done.stderr}{tail}")

    options = f"-c listen_addresses='' -c unix_socket_directories='{root}' -p 5432"
    if not fsync:
        options += " -c fsync=off -c synchronous_commit=off -c full_page_writes=off"
    try:
        run(
            str(bindir / "initdb"),
            "-D",
            str(data),
            "-A",
            "trust",
            "-U",
            "movierec",
            "-E",
            "UTF8",
            "--locale=C",
            "--no-sync",
        )
        run(
            str(bindir / "pg_ctl"),
            "-D",
            str(data),
            "-l",
            str(log),
            "-w",
            "-t",
            "60",
            "-o",
            options,
            "start",
        )
        try:
            yield f"postgresql://movierec@/postgres?host={root}"
        finally:
            run(str(bindir / "pg_ctl"), "-D", str(data), "-m", "immediate", "-w", "stop")
    finally:
        shutil.rmtree(root, ignore_errors=True)


@pytest.fixture(scope="session")
def postgres_url() -> Iterator[str]:
    """URL of a session-wide private PostgreSQL server; skips only where none is installed."""
    try:
        postgres_bindir()
    except NoPostgres as exc:
        pytest.skip(str(exc))
    with temporary_postgres() as url:
        yield url


@pytest.fixture
def postgres_database(postgres_url: str) -> str:
    """URL of a new, empty database on the session's server, one per test."""
    import psycopg

    name = f"t_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(postgres_url, autocommit=True) as conn:
        conn.execute(f"CREATE DATABASE {name}")
    return postgres_url.replace("/postgres?", f"/{name}?")
