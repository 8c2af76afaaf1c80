"""The HTTP transport's guards and its behaviour under concurrent clients.

A server started with MOVIEREC_TOKEN answers 401 to requests without the
bearer token and 200 with it; a Host header it does not serve gets 421 (DNS
rebinding protection); binding a non-loopback address without a token is
refused at start; and 8 clients making 50 mixed calls each all get exactly
the answers a lone client gets.
"""

from __future__ import annotations

import os
import subprocess
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import anyio
import httpx
import pytest
from anyio.from_thread import start_blocking_portal

from recsys.data.synthetic import HEAT_1986, HEAT_1995, MATRIX
from server.launch import HttpServer, http_client, http_server, serve_argv

pytestmark = pytest.mark.slow  # starts server processes

TOKEN = "test-token-0123456789"
INITIALIZE = {
    "jsonrpc": "2.0",
    "id": 1,
    "method": "initialize",
    "params": {
        "protocolVersion": "2025-06-18",
        "capabilities": {},
        "clientInfo": {"name": "test", "version": "0"},
    },
}
HEADERS = {"Accept": "application/json, text/event-stream", "Content-Type": "application/json"}


@pytest.fixture(scope="module")
def server(small_bundle: Path) -> Iterator[HttpServer]:
    with http_server(small_bundle, token=TOKEN) as srv:
        yield srv


def post(server: HttpServer, headers: dict[str, str]) -> httpx.Response:
    return httpx.post(server.url, json=INITIALIZE, headers={**HEADERS, **headers}, timeout=30)


def test_requests_without_the_token_get_401(server: HttpServer) -> None:
    response = post(server, {})
    assert response.status_code == 401
    assert response.headers["www-authenticate"].startswith("Bearer")
    assert "MOVIEREC_TOKEN" in response.text
    assert post(server, {"Authorization": "Bearer wrong"}).status_code == 401
    assert post(server, {"Authorization": TOKEN}).status_code == 401


def test_requests_with_the_token_get_200(server: HttpServer) -> None:
    response = post(server, {"Authorization": f"Bearer {TOKEN}"})
    assert response.status_code == 200


def test_foreign_host_header_is_refused(server: HttpServer) -> None:
    response = post(server, {"Authorization": f"Bearer {TOKEN}", "Host": "evil.example:80"})
    assert response.status_code == 421


def test_mcp_client_needs_the_token(server: HttpServer, http_session: Callable[..., Any]) -> None:
    with http_session(server.url, TOKEN) as session:
        assert not session.call("get_movie", {"movie_id": MATRIX}).is_error

    async def without_token() -> None:
        async with http_client(server.url) as client:
            await client.call_tool("get_movie", {"movie_id": MATRIX})

    # The SDK surfaces the 401 as an MCPError inside nested exception groups.
    with pytest.raises(Exception) as info:  # noqa: B017
        anyio.run(without_token)
    assert "MCPError" in repr(info.value) and "error response" in repr(info.value)


def test_non_loopback_bind_without_token_is_refused(small_bundle: Path) -> None:
    env = {k: v for k, v in os.environ.items() if k != "MOVIEREC_TOKEN"}
    done = subprocess.run(
        [*serve_argv(small_bundle), "--transport", "http", "--host", "0.0.0.0"],
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        env=env,
        timeout=60,
    )
    assert done.returncode != 0
    assert "refusing to bind 0.0.0.0" in done.stderr and "MOVIEREC_TOKEN" in done.stderr
    assert "Traceback" not in done.stderr


MIXED_CALLS: list[tuple[str, dict[str, Any]]] = [
    ("recommend_for_user", {"user_id": 5, "k": 10}),
    ("recommend_for_user", {"user_id": 42, "k": 5, "genres": ["drama", "comedy"]}),
    ("recommend_for_preferences", {"genres": ["sci-fi"], "age": 25, "k": 10}),
    (
        "recommend_for_preferences",
        {"genres": ["comedy"], "occupation": "teacher", "liked_movies": ["Heat (1995)"], "k": 7},
    ),
    ("similar_movies", {"movie": "The Matrix", "k": 10}),
    ("similar_movies", {"movie": HEAT_1986, "k": 5, "year_min": 1980}),
    ("search_movies", {"query": "synthetic movie 1", "k": 10}),
    ("get_movie", {"movie_id": HEAT_1995}),
]


def test_eight_concurrent_clients_get_the_lone_client_answers(server: HttpServer) -> None:
    async def answers(calls: list[tuple[str, dict[str, Any]]]) -> list[Any]:
        out = []
        async with http_client(server.url, TOKEN) as client:
            for tool, arguments in calls:
                result = await client.call_tool(tool, arguments)
                out.append((result.is_error, result.structured_content))
        return out

    async def run_all() -> tuple[list[Any], list[list[Any]], list[list[int]]]:
        reference = await answers(MIXED_CALLS)
        plans = [
            [(i * 7 + j) % len(MIXED_CALLS) for j in range(50)] for i in range(8)
        ]  # each client cycles through the calls from a different start
        results: list[list[Any]] = [[] for _ in plans]

        async def client(i: int) -> None:
            results[i] = await answers([MIXED_CALLS[n] for n in plans[i]])

        async with anyio.create_task_group() as tg:
            for i in range(len(plans)):
                tg.start_soon(client, i)
        return reference, results, plans

    with start_blocking_portal() as portal:
        reference, results, plans = portal.call(run_all)
    assert all(not is_error for is_error, _ in reference)
    for plan, got in zip(plans, results, strict=True):
        assert len(got) == 50
        for n, (is_error, content) in zip(plan, got, strict=True):
            assert not is_error
            assert content == reference[n][1]


def test_server_logs_a_readiness_line(server: HttpServer, small_bundle: Path) -> None:
    log = server.stderr()
    assert "serving MCP over streamable HTTP" in log and "bearer token required" in log
    assert str(small_bundle) in log
