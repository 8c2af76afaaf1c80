"""Shared set-up for the server tests: a small real model bundle and MCP client sessions.

`server_bundle()` trains the real two-tower model (`recsys.train.fit`) on a
small synthetic MovieLens-like dataset with demographics and writes a real
bundle (`recsys.bundle.write_bundle`), once per test session; every server
test then runs the real stack on it: bundle -> Recommender -> MCP server in
a child process -> real MCP client.

The dataset is built so the tests can know the answers: a pair of movies
both titled "Heat" (an ambiguous title), "Matrix, The (1999)", a movie with
no ratings, and users whose histories are known. The module also checks the
pure helpers (argument types, error text, bind rules), which need no model.
"""

from __future__ import annotations

import atexit
import json
import shutil
import tempfile
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
from anyio.from_thread import BlockingPortal, start_blocking_portal
from mcp import Client
from mcp_types import CallToolResult
from pydantic import TypeAdapter, ValidationError

from recsys.data import Dataset
from recsys.vocab import AGE_BUCKETS, GENRES, ML1M_OCCUPATIONS
from server import auth, errors, schemas
from server.launch import http_client, stdio_params

SPECIAL_MOVIES = [
    (1001, "Heat (1986)", 1986, ("Action", "Drama")),
    (1002, "Heat (1995)", 1995, ("Action", "Crime", "Thriller")),
    (1003, "Matrix, The (1999)", 1999, ("Action", "Sci-Fi", "Thriller")),
    (1004, "Lonely Unrated Documentary (2001)", 2001, ("Documentary",)),
]
UNRATED_MOVIE = 1004
N_USERS = 60
N_MOVIES = 90


def synthetic_dataset(seed: int = 0) -> Dataset:
    """Users with demographics rate movies by genre taste, so the model has signal to learn."""
    rng = np.random.default_rng(seed)
    rows = []
    for i in range(1, N_MOVIES + 1):
        year = int(rng.integers(1950, 2015))
        picked = rng.choice(len(GENRES), size=int(rng.integers(1, 4)), replace=False)
        genres = tuple(GENRES[j] for j in sorted(picked))
        rows.append((i, f"Synthetic Picture {i} ({year})", year, genres))
    rows += SPECIAL_MOVIES
    movies = pd.DataFrame(rows, columns=["movie_id", "title", "year", "genres"])
    movies["year"] = movies["year"].astype("Int64")

    ages = list(AGE_BUCKETS)
    occupations = list(ML1M_OCCUPATIONS.values())
    users = pd.DataFrame(
        {
            "user_id": np.arange(1, N_USERS + 1, dtype=np.int64),
            "gender": ["F" if u % 2 else "M" for u in range(1, N_USERS + 1)],
            "age": pd.array([ages[u % len(ages)] for u in range(N_USERS)], dtype="Int64"),
            "occupation": [occupations[u % len(occupations)] for u in range(N_USERS)],
        }
    )

    rated = movies[movies["movie_id"] != UNRATED_MOVIE]
    genre_sets = [set(g) for g in rated["genres"]]
    ratings = []
    for user in range(1, N_USERS + 1):
        liked = set(rng.choice(GENRES, size=3, replace=False).tolist())
        picks = rng.choice(len(rated), size=int(rng.integers(15, 35)), replace=False)
        for t, j in enumerate(sorted(picks)):
            base = 4.5 if genre_sets[j] & liked else 2.0
            stars = float(np.clip(round(base + rng.normal(0, 0.7)), 1, 5))
            ratings.append((user, int(rated["movie_id"].iloc[j]), stars, 978300000 + t))
    ratings_df = pd.DataFrame(ratings, columns=["user_id", "movie_id", "rating", "timestamp"])
    ratings_df = ratings_df.astype({"rating": "float32", "timestamp": "int64"})
    return Dataset(
        name="synthetic",
        format="ml-1m",
        path=None,
        movies=movies,
        users=users,
        ratings=ratings_df,
        has_demographics=True,
        rating_scale=(1.0, 5.0),
    )


_BUNDLE: Path | None = None
_DATASET: Dataset | None = None


def server_dataset() -> Dataset:
    global _DATASET
    if _DATASET is None:
        _DATASET = synthetic_dataset()
    return _DATASET


def server_bundle() -> Path:
    """The synthetic model's bundle, trained and written once per session."""
    global _BUNDLE
    if _BUNDLE is None:
        from recsys.bundle import write_bundle
        from recsys.train import TrainConfig, fit

        config = TrainConfig(epochs=6, dim=16, hidden=32, eval_every=3, threads=1, seed=0)
        model = fit(server_dataset(), config, progress=False)
        root = Path(tempfile.mkdtemp(prefix="movierec-server-test-"))
        atexit.register(shutil.rmtree, root, ignore_errors=True)
        _BUNDLE = write_bundle(model, server_dataset(), root / "bundle", n_trees=5)
    return _BUNDLE


def seen_by(user_id: int) -> set[int]:
    ratings = server_dataset().ratings
    return set(ratings.loc[ratings["user_id"] == user_id, "movie_id"].tolist())


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


@contextmanager
def stdio_session(model: Path | None, env: dict[str, str] | None = None) -> Iterator[Session]:
    with start_blocking_portal() as portal:
        with portal.wrap_async_context_manager(Client(stdio_params(model, env=env))) as client:
            yield Session(portal, client)


@contextmanager
def http_session(url: str, token: str | None = None) -> Iterator[Session]:
    with start_blocking_portal() as portal:
        with portal.wrap_async_context_manager(http_client(url, token)) as client:
            yield Session(portal, client)


# ---------------------------------------------------------------- pure helpers, no model needed


@pytest.mark.parametrize(
    ("host", "loopback"),
    [
        ("127.0.0.1", True),
        ("localhost", True),
        ("::1", True),
        ("127.0.0.2", True),
        ("0.0.0.0", False),
        ("192.168.1.10", False),
        ("example.com", False),
    ],
)
def test_is_loopback(host: str, loopback: bool) -> None:
    assert auth.is_loopback(host) is loopback


def test_check_bind_refuses_exposed_address_without_token() -> None:
    auth.check_bind("127.0.0.1", None)
    auth.check_bind("0.0.0.0", "secret")
    with pytest.raises(errors.StartupError, match="MOVIEREC_TOKEN"):
        auth.check_bind("0.0.0.0", None)


def test_genre_list_accepts_the_shapes_llms_send() -> None:
    adapter = TypeAdapter(schemas.GenreList)
    assert adapter.validate_python(["Comedy"]) == ["Comedy"]
    assert adapter.validate_python("comedy, sci fi") == ["comedy", "sci fi"]
    assert adapter.validate_python('["Drama", "War"]') == ["Drama", "War"]
    with pytest.raises(ValidationError):
        adapter.validate_python(["x"] * 21)
    with pytest.raises(ValidationError):
        adapter.validate_python(["y" * 201])


def test_liked_movies_keep_commas_inside_titles() -> None:
    adapter = TypeAdapter(schemas.LikedMoviesArg)
    assert adapter.validate_python("Matrix, The") == ["Matrix, The"]
    assert adapter.validate_python([2571, "Heat"]) == [2571, "Heat"]
    assert adapter.validate_python(None) is None


def test_numbers_refuse_booleans() -> None:
    with pytest.raises(ValidationError, match="boolean"):
        TypeAdapter(schemas.Count).validate_python(True)


def test_usage_lists_every_argument_with_its_range() -> None:
    schema = {
        "properties": {
            "user_id": {"type": "integer"},
            "k": {"type": "integer", "minimum": 1, "maximum": 100, "default": 10},
        },
        "required": ["user_id"],
    }
    text = errors.usage(schema)
    assert "user_id (required, an integer)" in text
    assert "k (an integer 1-100, default 10)" in text
    err = errors.unknown_arguments("tool_x", ["usr_id"], schema)
    assert "did you mean 'user_id'" in str(err)
    assert "Valid argument names: user_id, k" in str(err)


def test_synthetic_dataset_has_the_cases_the_tests_rely_on() -> None:
    ds = server_dataset()
    assert ds.movies["movie_id"].is_unique
    assert UNRATED_MOVIE not in set(ds.ratings["movie_id"])
    heat = ds.movies[ds.movies["title"].str.startswith("Heat (")]
    assert len(heat) == 2
    assert json.dumps(sorted(seen_by(1)))  # user 1 has a history
