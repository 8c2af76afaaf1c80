"""The server built in-process, through the real MCP client's in-memory transport.

For what a child process cannot show: an unexpected exception inside the
library must reach the caller as a tool error naming the tool and what to
try, without its text or traceback, be logged, and leave the server serving;
and a model trained without demographics must say that it ignored them.
"""

from __future__ import annotations

import json
import logging
import shutil
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import replace
from pathlib import Path

import pandas as pd
import pytest
from anyio.from_thread import start_blocking_portal
from mcp import Client
from test_server_fixtures import Session, server_bundle, synthetic_dataset

from recsys.recommender import Recommender
from server.app import build_server


@contextmanager
def in_process(recommender: Recommender) -> Iterator[Session]:
    with start_blocking_portal() as portal:
        with portal.wrap_async_context_manager(Client(build_server(recommender))) as client:
            yield Session(portal, client)


@pytest.fixture(scope="module")
def recommender() -> Recommender:
    return Recommender.load(server_bundle())


def test_unexpected_failure_is_reported_without_leaking(
    recommender: Recommender, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    def broken(*args: object, **kwargs: object) -> None:
        raise RuntimeError("secret internal detail /srv/private/path")

    monkeypatch.setattr(recommender, "similar_movies", broken)
    with in_process(recommender) as mcp, caplog.at_level(logging.ERROR, "movierec.server"):
        message = mcp.error("similar_movies", {"movie": 1003})
        assert "similar_movies" in message and "still running" in message
        assert "secret" not in message and "/srv/private" not in message
        assert "Traceback" not in message
        logged = "\n".join(r.getMessage() + str(r.exc_info) for r in caplog.records)
        assert "similar_movies" in logged and "secret internal detail" in logged
        assert mcp.ok("get_movie", {"movie_id": 1003})["movie_id"] == 1003
        assert mcp.ok("recommend_for_user", {"user_id": 2, "k": 3})["items"]


def without_demographics() -> Path:
    """The synthetic dataset as a CSV-family dataset would give it: no demographics."""
    from recsys.bundle import write_bundle
    from recsys.train import TrainConfig, fit

    ds = synthetic_dataset(seed=1)
    users = ds.users.assign(gender=None, occupation=None, age=pd.array([None] * len(ds.users)))
    users["age"] = users["age"].astype("Int64")
    ds = replace(ds, name="synthetic-csv", format="csv", users=users, has_demographics=False)
    model = fit(ds, TrainConfig(epochs=3, dim=16, hidden=32, eval_every=3, threads=1), False)
    root = Path(tempfile.mkdtemp(prefix="movierec-server-test-"))
    return write_bundle(model, ds, root / "bundle", n_trees=5)


def test_a_model_without_demographics_says_it_ignored_them() -> None:
    bundle = without_demographics()
    try:
        with in_process(Recommender.load(bundle)) as mcp:
            out = mcp.ok(
                "recommend_for_preferences",
                {"genres": ["comedy"], "age": 40, "occupation": "nurse", "gender": "F", "k": 4},
            )
            assert out["demographics_used"] is False
            ignored = " ".join(out["interpreted"]["ignored"])
            assert "age" in ignored and "occupation" in ignored and "demographics" in ignored
            assert out["interpreted"]["age_bucket"] is None
            assert len(out["items"]) == 4
            occupations = mcp.run(mcp.client.read_resource, "movierec://occupations")
            payload = json.loads(occupations.contents[0].text)
            assert (
                payload["demographics_used"] is False and "without demographics" in payload["note"]
            )
            user = mcp.ok("recommend_for_user", {"user_id": 1, "k": 2})["user"]
            assert user["gender"] is None and user["age"] is None
    finally:
        shutil.rmtree(bundle.parent, ignore_errors=True)
