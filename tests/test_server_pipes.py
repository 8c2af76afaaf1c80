"""The stdio transport itself: pipes served by the event loop, the SDK's streams otherwise.

These tests speak JSON-RPC lines to a real `movierec serve` process
(`server.launch.wire_session`), because they need frames no SDK client sends:
an oversized line, garbage, and stdout into a regular file.
"""

from __future__ import annotations

import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pytest

from recsys.data.synthetic import MATRIX
from server.launch import PROTOCOL_VERSION, serve_argv, wire_session
from server.pipes import MAX_LINE

ROOT = Path(__file__).resolve().parents[1]


def _items(result: dict) -> list[dict]:
    assert not result.get("isError"), result
    return result["structuredContent"]["items"]


@pytest.mark.slow  # starts a server process
def test_pipes_are_served_by_the_event_loop(small_bundle: Path) -> None:
    with tempfile.TemporaryFile() as log:
        with wire_session(small_bundle, stderr=log) as wire:
            for k in (3, 5):
                assert len(_items(wire.call_tool("similar_movies", {"movie": MATRIX, "k": k}))) == k
            answer = wire.request("tools/list")
            assert {t["name"] for t in answer["result"]["tools"]} >= {"get_movie", "search_movies"}
        log.seek(0)
        stderr = log.read().decode()
    assert "stdio over pipes" in stderr, stderr
    assert wire.process.returncode == 0, stderr


@pytest.mark.slow  # starts a server process
def test_malformed_and_oversized_lines_leave_the_server_serving(small_bundle: Path) -> None:
    with wire_session(small_bundle) as wire:
        wire.send(b"this is not json")
        wire.send(
            b'{"jsonrpc": "2.0", "id": 77, "method": "tools/call", "params": {"name": "'
            + b"x" * (MAX_LINE + 1000)
            + b'"}}'
        )
        # The next real request is answered as if nothing had happened.
        assert len(_items(wire.call_tool("recommend_for_preferences", {"genres": ["Drama"]}))) == 10
        error = wire.call_tool("get_movie", {"movie_id": -5})
        assert error["isError"] and "movie" in error["content"][0]["text"]
        assert wire.call_tool("get_movie", {"movie_id": MATRIX})["structuredContent"]["title"]


def test_stray_prints_do_not_reach_the_wire() -> None:
    # Inside the claim, fd 1 and sys.stdout lead to stderr; only the private
    # duplicate carries frames. After it, fd 1 is the wire again.
    code = (
        "import os, sys\n"
        "from server.pipes import _claimed_wire\n"
        "with _claimed_wire() as (wire_in, wire_out):\n"
        "    print('stray print', flush=True)\n"
        "    os.write(1, b'stray write\\n')\n"
        "    os.write(wire_out, b'frame\\n')\n"
        "print('after', flush=True)\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=60
    )
    assert out.returncode == 0, out.stderr
    assert out.stdout == "frame\nafter\n"
    assert "stray print" in out.stderr and "stray write" in out.stderr


@pytest.mark.slow  # starts a server process
def test_stdout_to_a_file_falls_back_to_the_sdk_streams(small_bundle: Path, tmp_path: Path) -> None:
    # asyncio cannot watch a regular file, so this server must use the SDK's streams.
    # (stdin stays open until the answer is in: at EOF the session ends.)
    requests = [
        {
            "jsonrpc": "2.0",
            "id": 1,
            "method": "initialize",
            "params": {
                "protocolVersion": PROTOCOL_VERSION,
                "capabilities": {},
                "clientInfo": {"name": "file", "version": "0"},
            },
        },
        {"jsonrpc": "2.0", "method": "notifications/initialized"},
        {
            "jsonrpc": "2.0",
            "id": 2,
            "method": "tools/call",
            "params": {"name": "get_movie", "arguments": {"movie_id": MATRIX}},
        },
    ]
    answers_file = tmp_path / "answers.jsonl"
    with answers_file.open("wb") as stdout, tempfile.TemporaryFile() as log:
        process = subprocess.Popen(
            serve_argv(small_bundle), stdin=subprocess.PIPE, stdout=stdout, stderr=log
        )
        assert process.stdin is not None
        process.stdin.write("".join(json.dumps(r) + "\n" for r in requests).encode())
        process.stdin.flush()
        deadline = time.monotonic() + 90
        while time.monotonic() < deadline and '"id":2' not in answers_file.read_text():
            time.sleep(0.1)
        process.stdin.close()
        process.wait(timeout=30)
        log.seek(0)
        stderr = log.read().decode()
    assert "threaded stdio streams" in stderr, stderr
    answers = {a.get("id"): a for a in map(json.loads, answers_file.read_text().splitlines())}
    assert answers[2]["result"]["structuredContent"]["title"] == "The Matrix (1999)", answers


@pytest.mark.slow  # starts a server process
def test_a_client_that_goes_away_ends_the_server_cleanly(small_bundle: Path) -> None:
    with tempfile.TemporaryFile() as log:
        with wire_session(small_bundle, stderr=log) as wire:
            assert wire.process.stdout is not None
            wire.process.stdout.close()  # the client stops reading, then asks once more
            wire.send(
                {
                    "jsonrpc": "2.0",
                    "id": 9,
                    "method": "tools/call",
                    "params": {"name": "get_movie", "arguments": {"movie_id": MATRIX}},
                }
            )
            assert wire.process.wait(timeout=60) == 0
        log.seek(0)
        stderr = log.read().decode()
    assert "the client closed its end of the pipe" in stderr, stderr
    assert "Traceback" not in stderr, stderr
