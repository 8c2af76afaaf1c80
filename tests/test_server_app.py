"""The server built in-process, through the real MCP client's in-memory transport.

For what a child process cannot show: an unexpected exception inside the
library must reach the caller as a tool error naming the tool and what to
try, without its text or traceback, be logged, and leave the server serving;
and a model trained without demographics must say that it ignored them.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from recsys.data.synthetic import MATRIX
from recsys.serving.recommender import Recommender

pytestmark = pytest.mark.slow  # on the small models


def test_unexpected_failure_is_reported_without_leaking(
    small_bundle: Path,
    in_process_session: Callable[..., Any],
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    def broken(*args: object, **kwargs: object) -> None:
        raise RuntimeError("secret internal detail /srv/private/path")

    recommender = Recommender.load(small_bundle)
    monkeypatch.setattr(recommender, "similar_movies", broken)
    with (
        in_process_session(recommender) as mcp,
        caplog.at_level(logging.ERROR, "movierec.server"),
    ):
        message = mcp.error("similar_movies", {"movie": MATRIX})
        assert "similar_movies" in message and "still running" in message
        assert "secret" not in message and "/srv/private" not in message
        assert "Traceback" not in message
        logged = "\n".join(r.getMessage() + str(r.exc_info) for r in caplog.records)
        assert "similar_movies" in logged and "secret internal detail" in logged
        assert mcp.ok("get_movie", {"movie_id": MATRIX})["movie_id"] == MATRIX
        assert mcp.ok("recommend_for_user", {"user_id": 2, "k": 3})["items"]


def test_a_model_without_demographics_says_it_ignored_them(
    nodemo_bundle: Path, in_process_session: Callable[..., Any]
) -> None:
    with in_process_session(Recommender.load(nodemo_bundle)) as mcp:
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
        assert payload["demographics_used"] is False and "without demographics" in payload["note"]
        user = mcp.ok("recommend_for_user", {"user_id": 1, "k": 2})["user"]
        assert user["gender"] is None and user["age"] is None
