"""Fault injection: each case of issue #15, replayed against the real server and library.

Every test sends what a hostile or broken client (or a killed process) would,
against a `movierec serve` child over stdio or HTTP where the case is about the
server, and asserts the fixed behaviour: every line answered, bounded work
(names examined, bytes returned, sessions and calls admitted), clean exits, one
clear line on stderr. The limits are made small through $MOVIEREC_LIMITS so
each case runs in a few seconds. The server serves the shipped model.
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
import socket
import subprocess
import sys
import time
import zipfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from server.launch import (
    PROTOCOL_VERSION,
    HttpServer,
    free_port,
    http_client,
    http_server,
    serve_argv,
)
from server.launch import wire_session as _wire_session

ROOT = Path(__file__).resolve().parents[1]
TOKENS = ("token-alpha-0123456789", "token-bravo-0123456789", "token-charlie-0123456789")
HEADERS = {"Accept": "application/json, text/event-stream", "Content-Type": "application/json"}


def _initialize(ident: int = 0) -> dict[str, Any]:
    return {
        "jsonrpc": "2.0",
        "id": ident,
        "method": "initialize",
        "params": {
            "protocolVersion": PROTOCOL_VERSION,
            "capabilities": {},
            "clientInfo": {"name": "hardening", "version": "0"},
        },
    }


def _call(ident: int, tool: str, arguments: dict[str, Any]) -> dict[str, Any]:
    params = {"name": tool, "arguments": arguments}
    return {"jsonrpc": "2.0", "id": ident, "method": "tools/call", "params": params}


def _lines(*messages: dict[str, Any]) -> bytes:
    return b"".join(json.dumps(m).encode() + b"\n" for m in messages)


def _opening() -> bytes:
    return _lines(_initialize(), {"jsonrpc": "2.0", "method": "notifications/initialized"})


def _env(limits: str = "", **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("MOVIEREC_")}
    if limits:
        env["MOVIEREC_LIMITS"] = limits
    env.update(extra)
    return env


@pytest.fixture
def wire() -> Iterator[Any]:
    with _wire_session(env=_env()) as client:
        yield client


def _text(result: dict[str, Any]) -> str:
    return "".join(block.get("text", "") for block in result["content"])


# --------------------------------------------------------------------------- 1: argument names


@pytest.mark.slow  # starts a server process
def test_1_many_unknown_names_are_refused_without_examining_or_echoing_them(wire: Any) -> None:
    names = {f"unknown_argument_{i}": i for i in range(120_000)}  # 3.2 MB, under the body limit
    line = json.dumps(_call(1, "get_movie", {"movie_id": 1, **names})).encode()
    wire.send(line)
    answer = wire.receive()
    text = _text(answer["result"])
    assert answer["result"]["isError"]
    assert "120001 arguments" in text and "at most 32" in text, text
    assert len(json.dumps(answer)) < 2_000  # not the 2.4 MB echo of every name
    assert "unknown_argument_7" not in text
    # The server is still serving, at once.
    assert wire.call_tool("get_movie", {"movie_id": 1})["structuredContent"]["title"]


@pytest.mark.slow  # starts a server process
def test_1_unknown_names_are_quoted_few_and_short(wire: Any) -> None:
    some = {f"bogus_{i}": i for i in range(30)}
    text = _text(wire.call_tool("get_movie", {"movie_id": 1, **some}))
    assert text.count("'bogus_") == 5 and "and 25 more" in text, text
    huge = wire.call_tool("get_movie", {"movie_id": 1, "x" * 3_000_000: 1})
    assert huge["isError"]
    assert "(3000000 characters)" in _text(huge)
    assert len(json.dumps(huge)) < 2_000  # not the 3 MB name echoed whole


def _http_session(url: str) -> dict[str, str]:
    """Headers for a fresh, initialized session on `url`."""
    opened = httpx.post(url, json=_initialize(), headers=HEADERS, timeout=30)
    headers = {
        **HEADERS,
        "mcp-session-id": opened.headers["mcp-session-id"],
        "mcp-protocol-version": PROTOCOL_VERSION,
    }
    note = {"jsonrpc": "2.0", "method": "notifications/initialized"}
    httpx.post(url, json=note, headers=headers, timeout=30)
    return headers


@pytest.mark.slow  # starts a server process
def test_1_over_http_the_answer_to_120000_names_is_small() -> None:
    names = {f"unknown_argument_{i}": i for i in range(120_000)}
    with http_server(None) as server:
        headers = _http_session(server.url)
        body = _call(2, "get_movie", {"movie_id": 1, **names})
        answer = httpx.post(server.url, json=body, headers=headers, timeout=60)
        good = httpx.post(server.url, json=_call(3, "get_movie", {"movie_id": 1}), headers=headers)
    assert answer.status_code == 200
    assert len(answer.content) < 3_000 and "120001 arguments" in answer.text
    assert "Toy Story" in good.text


def test_1_close_matches_are_looked_up_for_a_bounded_number_of_names(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    import difflib

    import anyio
    from mcp.server.mcpserver.exceptions import ToolError

    from recsys.serving.recommender import Recommender
    from server.app import build_server

    looked_up: list[str] = []
    real = difflib.get_close_matches

    def counting(word: str, *args: Any, **kwargs: Any) -> list[str]:
        looked_up.append(word)
        return real(word, *args, **kwargs)

    monkeypatch.setattr(difflib, "get_close_matches", counting)
    mcp = build_server(Recommender.load(ROOT / "models" / "default"))
    misspelt = {f"movie_idd{'d' * i}": 1 for i in range(31)}  # under the 32-name cap
    with pytest.raises(ToolError, match="movie_idd"):
        anyio.run(mcp.call_tool, "get_movie", misspelt)
    assert len(looked_up) == 5  # Limits.quoted_names, not one per name


# --------------------------------------------------------------------------- 2: sessions


def _open_session(url: str, token: str) -> httpx.Response:
    headers = {**HEADERS, "Authorization": f"Bearer {token}"}
    return httpx.post(url, json=_initialize(), headers=headers, timeout=30)


@pytest.fixture
def token_file(tmp_path: Path) -> Path:
    path = tmp_path / "tokens"
    path.write_text("# one per client\n" + "\n".join(TOKENS) + "\n")
    return path


@pytest.mark.slow  # starts a server process
def test_2_sessions_are_capped_per_token_and_overall_and_idle_ones_are_reaped(
    token_file: Path,
) -> None:
    limits = "max_sessions=50,sessions_per_credential=20,session_idle_s=8"
    env = {"MOVIEREC_TOKEN_FILE": str(token_file), "MOVIEREC_LIMITS": limits}
    with http_server(None, extra_env=env) as server:
        a = [_open_session(server.url, TOKENS[0]) for _ in range(21)]
        assert [r.status_code for r in a[:20]] == [200] * 20
        assert a[20].status_code == 503, a[20].text  # the 21st for one token
        assert "too many open sessions for this credential" in a[20].text
        b = [_open_session(server.url, TOKENS[1]).status_code for _ in range(20)]
        assert b == [200] * 20  # another token is not locked out by the first
        c = [_open_session(server.url, TOKENS[2]).status_code for _ in range(11)]
        assert c == [200] * 10 + [503]  # 50 in all
        # A session answers only the token that opened it.
        ping = {"jsonrpc": "2.0", "id": 1, "method": "ping"}
        theirs = {**HEADERS, "Authorization": f"Bearer {TOKENS[1]}"}
        theirs["mcp-session-id"] = a[1].headers["mcp-session-id"]
        assert httpx.post(server.url, json=ping, headers=theirs, timeout=30).status_code == 404
        # A session closed by its client frees its place at once.
        sid = a[0].headers["mcp-session-id"]
        headers = {**HEADERS, "Authorization": f"Bearer {TOKENS[0]}", "mcp-session-id": sid}
        assert httpx.delete(server.url, headers=headers, timeout=30).status_code == 200
        assert _open_session(server.url, TOKENS[0]).status_code == 200
        # Idle sessions are closed and their places come back.
        deadline = time.monotonic() + 30
        while _open_session(server.url, TOKENS[2]).status_code != 200:
            assert time.monotonic() < deadline, server.stderr()[-2000:]
            time.sleep(0.5)
        assert "Traceback" not in server.stderr()


# --------------------------------------------------------------------------- 3: every line answered

DEEP = b"[" * 300 + b"]" * 300
BAD_LINES = [
    (b"not json at all", None, -32700),
    (b'{"jsonrpc":"2.0","id":5,"method":"ping","params":{"x":"\\ud800"}}', 5, -32700),
    (b'{"jsonrpc":"2.0","id":6,"method":"ping"}', 6, 0),
    (b'{"jsonrpc":"2.0","id":7,"method":"ping","params":{"a":' + DEEP + b"}}", 7, -32700),
    (b"[" * 5000 + b"]" * 5000, None, -32700),
    (b'[{"jsonrpc":"2.0","id":8,"method":"ping"}]', None, -32600),
    (b'{"jsonrpc":"1.0","id":9,"method":"ping"}', 9, -32600),
    (b'{"jsonrpc":"2.0","id":null,"method":"ping"}', None, -32600),
    (b'{"jsonrpc":"2.0","id":1.5,"method":"ping"}', None, -32600),
    (b'{"jsonrpc":"2.0","id":{"a":1},"method":"ping"}', None, -32600),
    (b'{"jsonrpc":"2.0","id":10}', 10, -32600),
    (b'"a string"', None, -32600),
    (b"\xff\xfe not utf-8", None, -32700),
]  # fmt: skip


@pytest.mark.slow  # starts a server process
def test_3_every_line_that_is_not_a_notification_gets_exactly_one_answer(wire: Any) -> None:
    for line, ident, code in BAD_LINES:
        wire.send(line)
        answer = wire.receive()
        assert answer.get("id") == ident, (line[:80], answer)
        if code:
            assert answer["error"]["code"] == code, (line[:80], answer)
        else:
            assert answer["result"] == {}, answer  # the control: a good ping
    wire.send(b'{"jsonrpc":"2.0","method":"notifications/whatever","params":5}')  # no answer
    wire.send(b"x" * (4 * 1024 * 1024 + 10))
    assert wire.receive()["error"]["code"] == -32700
    wire.send(b'{"jsonrpc":"2.0","id":99,"method":"ping"}')
    assert wire.receive() == {"jsonrpc": "2.0", "id": 99, "result": {}}  # nothing extra before it


# ----------------------------------------------------------------------- 4, 5: stdin EOF, SIGINT

CALLS = [_call(i, "recommend_for_user", {"user_id": i, "k": 100}) for i in range(1, 21)]


def _answered(stdout: bytes) -> list[int]:
    return sorted(json.loads(line)["id"] for line in stdout.splitlines() if line.strip())


@pytest.mark.slow  # starts a server process
def test_4_calls_read_before_stdin_ends_are_all_answered(tmp_path: Path) -> None:
    out = subprocess.run(
        serve_argv(), input=_opening() + _lines(*CALLS), capture_output=True, timeout=120
    )
    assert out.returncode == 0, out.stderr
    assert _answered(out.stdout) == list(range(21))
    stderr = out.stderr.decode()
    assert stderr.count("answered all 21 requests read; stopping") == 1, stderr
    # The same with a regular file as stdin (read through a worker thread).
    requests = tmp_path / "requests.jsonl"
    requests.write_bytes(_opening() + _lines(*CALLS))
    with requests.open("rb") as stdin:
        out = subprocess.run(serve_argv(), stdin=stdin, capture_output=True, timeout=120)
    assert out.returncode == 0, out.stderr
    assert _answered(out.stdout) == list(range(21))


def _read_until(stream: Any, text: bytes, got: bytes = b"") -> bytes:
    """Bytes read straight from the pipe until `text` appears in them, all kept: a buffered
    readline() may read ahead, and communicate() later reads the descriptor, not that buffer."""
    while text not in got:
        chunk = os.read(stream.fileno(), 65536)
        if not chunk:
            break
        got += chunk
    return got


def _started_with(calls: list[dict[str, Any]]) -> tuple[subprocess.Popen[bytes], bytes]:
    """A stdio server that has read every line of `calls` (it is answering them), and what
    it has written so far."""
    process = subprocess.Popen(
        serve_argv(), stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE
    )
    assert process.stdin is not None and process.stdout is not None
    process.stdin.write(_opening())
    process.stdin.flush()
    first = _read_until(process.stdout, b"\n")  # initialized: the server is reading
    end = first.index(b"\n") + 1 if b"\n" in first else len(first)
    process.stdin.write(_lines(*calls))  # one write, one read: read whole before any answer
    process.stdin.flush()
    return process, first[:end] + _read_until(process.stdout, b"\n", first[end:])


@pytest.mark.slow  # starts a server process
def test_5_ctrl_c_finishes_the_calls_already_read_then_exits_0() -> None:
    process, early = _started_with(CALLS)
    process.send_signal(signal.SIGINT)
    stdout, stderr_bytes = process.communicate(timeout=60)
    stderr = stderr_bytes.decode()
    assert process.returncode == 0, stderr
    assert _answered(early + stdout) == list(range(21)), stderr
    assert stderr.count("interrupted") == 1, stderr  # one line, no traceback
    assert "Traceback" not in stderr


@pytest.mark.slow  # starts a server process
def test_5_a_second_ctrl_c_exits_at_once_without_a_traceback() -> None:
    heavy = {"genres": ["Drama"], "k": 100, "liked_movies": ["Heat", "Alien", "Fargo"]}
    many = [_call(i, "recommend_for_preferences", heavy) for i in range(1, 400)]
    process, _ = _started_with(many)
    assert process.stderr is not None
    process.send_signal(signal.SIGINT)
    # The first interrupt was taken: the next one lands while calls are answered.
    early = _read_until(process.stderr, b"interrupted:")
    process.send_signal(signal.SIGINT)
    _, stderr_bytes = process.communicate(timeout=60)
    stderr = (early + stderr_bytes).decode()
    assert process.returncode == 130, stderr
    assert "interrupted again; stopping at once" in stderr
    assert "Traceback" not in stderr


# --------------------------------------------------------------------------- 6: downloader


def _zip(path: Path, entries: list[tuple[str, bytes]]) -> Path:
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as zf:
        for name, data in entries:
            zf.writestr(name, data)
    return path


def _download_zip(tmp_path: Path, entries: list[tuple[str, bytes]]) -> Exception:
    from recsys.data import download

    mirror = tmp_path / "mirror"
    mirror.mkdir()
    _zip(mirror / "ml-latest-small.zip", entries)
    cache = tmp_path / "cache"
    with pytest.raises(download.DownloadError) as caught:
        download.download(
            "ml-latest-small", cache, base_url=mirror.as_uri(), force=True, progress=False
        )
    assert not (cache / "ml-latest-small").exists()
    assert [p.name for p in cache.iterdir()] == []  # nothing left behind
    return caught.value


# The files the dataset must hold, so that only the limits can stop these zips.
MOVIES = ("ml-latest-small/movies.csv", b"movieId,title,genres\n1,Toy Story (1995),Comedy\n")


def test_6_a_zip_bomb_is_refused_before_unpacking(tmp_path: Path) -> None:
    bomb = [MOVIES, ("ml-latest-small/ratings.csv", b"0" * (65 * 1024 * 1024))]  # in 64 kB
    error = _download_zip(tmp_path, bomb)
    assert "may unpack to" in str(error) and "64 MB" in str(error)


def test_6_a_zip_whose_sizes_lie_is_stopped_while_unpacking(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from recsys.data import download

    # What a lying central directory would declare; extraction counts what it really writes.
    monkeypatch.setattr(download, "_declared_size", lambda members: 0, raising=False)
    entries = [MOVIES, ("ml-latest-small/ratings.csv", b"1" * (65 * 1024 * 1024))]
    error = _download_zip(tmp_path, entries)
    assert "unpacks to more than the 64 MB" in str(error)


def test_6_too_many_entries_are_refused(tmp_path: Path) -> None:
    entries = [MOVIES, ("ml-latest-small/ratings.csv", b"userId,movieId,rating,timestamp\n")]
    entries += [(f"ml-latest-small/f{i}.csv", b"x") for i in range(99)]
    assert "101 entries" in str(_download_zip(tmp_path, entries))


def test_6_a_file_and_a_folder_of_the_same_name_is_a_clear_error(tmp_path: Path) -> None:
    entries = [("ml-latest-small/ratings.csv", b"x"), ("ml-latest-small/ratings.csv/a", b"y")]
    error = _download_zip(tmp_path, entries)
    assert "is both a file and a folder" in str(error)


# --------------------------------------------------------------------------- 7: manifest paths


@pytest.fixture
def shipped_copy(tmp_path: Path) -> Path:
    import shutil

    copy = tmp_path / "bundle"
    shutil.copytree(ROOT / "models" / "default", copy)
    return copy


def _edit_manifest(bundle: Path, change: Any) -> None:
    path = bundle / "manifest.json"
    manifest = json.loads(path.read_text())
    change(manifest)
    path.write_text(json.dumps(manifest))


def _entry_of(path: Path) -> dict[str, Any]:
    import hashlib

    data = path.read_bytes()
    return {"bytes": len(data), "sha256": hashlib.sha256(data).hexdigest()}


@pytest.mark.parametrize("name", ["../outside.txt", "ABSOLUTE", "sub/../../outside.txt"])
def test_7_manifest_entries_outside_the_bundle_are_refused(shipped_copy: Path, name: str) -> None:
    from recsys.bundle.load import load_bundle
    from recsys.bundle.manifest import BundleError

    outside = shipped_copy.parent / "outside.txt"
    outside.write_text("a file with the right hash, outside the bundle\n")
    (shipped_copy / "sub").mkdir()  # so that sub/../../ resolves
    name = str(outside) if name == "ABSOLUTE" else name
    _edit_manifest(shipped_copy, lambda m: m["files"].update({name: _entry_of(outside)}))
    with pytest.raises(BundleError, match="not a plain file name inside the bundle"):
        load_bundle(shipped_copy)


def test_7_an_absolute_entry_reveals_nothing_about_the_file(shipped_copy: Path) -> None:
    from recsys.bundle.load import load_bundle
    from recsys.bundle.manifest import BundleError

    secret = shipped_copy.parent / "secret"
    secret.write_bytes(b"s" * 12345)
    _edit_manifest(
        shipped_copy, lambda m: m["files"].update({str(secret): {"bytes": 1, "sha256": "0"}})
    )
    with pytest.raises(BundleError) as caught:
        load_bundle(shipped_copy)
    assert "12345" not in str(caught.value)


def test_7_a_manifest_without_dataset_is_refused_at_load(shipped_copy: Path) -> None:
    from recsys.bundle.load import load_bundle
    from recsys.bundle.manifest import BundleError

    _edit_manifest(shipped_copy, lambda m: m.pop("dataset"))
    with pytest.raises(BundleError, match="dataset"):
        load_bundle(shipped_copy)


@pytest.mark.slow  # starts a server process
def test_7_the_server_refuses_such_a_bundle_at_start_up(shipped_copy: Path) -> None:
    _edit_manifest(shipped_copy, lambda m: m.pop("dataset"))
    out = subprocess.run(
        serve_argv(shipped_copy), stdin=subprocess.DEVNULL, capture_output=True, timeout=120
    )
    stderr = out.stderr.decode()
    assert out.returncode == 2, stderr
    assert "no dataset name" in stderr and "Traceback" not in stderr


# --------------------------------------------------------------------------- 8: leftovers


@pytest.mark.slow  # writes a bundle of the small model (trained once per session)
def test_8_temp_dirs_of_dead_writers_are_removed_by_the_next_write(
    tmp_path: Path, small_model: Any, small_dataset: Any
) -> None:
    from recsys.bundle import write

    writer_file = getattr(write, "WRITER_FILE", ".writer.json")

    out = tmp_path / "model"
    dead = subprocess.run(
        [sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True
    )
    host = socket.gethostname()
    leftovers = {
        "dead": {"host": host, "pid": int(dead.stdout), "started": None},
        "live": {"host": host, "pid": os.getpid(), "started": None},
        "elsewhere": {"host": host + "-other", "pid": 1, "started": None},
    }
    for tag, record in leftovers.items():
        directory = tmp_path / f".model.tmp-{tag}"
        directory.mkdir()
        (directory / "weights.pt").write_bytes(b"half written")
        (directory / writer_file).write_text(json.dumps(record))
    old = tmp_path / ".model.tmp-unrecorded"
    old.mkdir()
    os.utime(old, (time.time() - 7200, time.time() - 7200))  # from before writers recorded

    write.write_bundle(small_model, small_dataset, out)

    left = sorted(p.name for p in tmp_path.iterdir() if p.name.startswith(".model."))
    assert left == [".model.tmp-elsewhere", ".model.tmp-live"]
    assert not (out / writer_file).exists()  # the record never ends up in the bundle


# --------------------------------------------------------------------------- 9: fail early


@pytest.mark.slow  # starts the command line
def test_9_train_into_a_non_bundle_directory_fails_before_training(tmp_path: Path) -> None:
    out = tmp_path / "photos"
    out.mkdir()
    (out / "holiday.jpg").write_bytes(b"precious")
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "server.cli",
            "train",
            "--dataset",
            "default",
            "--out",
            str(out),
            "--epochs",
            "1",
        ],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 2, done.stderr
    assert "not a model bundle" in done.stderr and "Traceback" not in done.stderr
    assert "epoch" not in done.stderr.lower()  # no training started
    assert (out / "holiday.jpg").read_bytes() == b"precious"


def test_9_the_destination_is_checked_before_the_dataset_or_training(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    from recsys.commands import train

    def never(*args: Any, **kwargs: Any) -> Any:
        raise AssertionError("reached work that must not start")

    monkeypatch.setattr(train, "load_dataset", never)
    monkeypatch.setattr(train, "fit", never)
    out = tmp_path / "notes"
    out.mkdir()
    (out / "todo.txt").write_text("x")
    assert train.run(train.TrainCommand(dataset="default", out=out)) == 2
    assert "not a model bundle" in capsys.readouterr().err


# --------------------------------------------------------------------------- 10: start-up errors


def _serve(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*serve_argv(), *args],
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=120,
        env=env or _env(),
    )


@pytest.mark.slow  # starts the command line
@pytest.mark.parametrize("port", ["70000", "-1", "0", "http"])
def test_10_a_bad_port_is_one_line_before_loading_the_model(port: str, tmp_path: Path) -> None:
    # A model that does not exist: refusing the port first proves nothing was loaded.
    done = _serve("--transport", "http", "--port", port, "--model", str(tmp_path / "none"))
    assert done.returncode == 64, done.stderr
    assert done.stderr.strip().count("\n") == 0, done.stderr
    assert "1 to 65535" in done.stderr and "Traceback" not in done.stderr


@pytest.mark.slow  # starts the command line
def test_10_a_port_in_use_is_one_line_and_its_own_exit_code(tmp_path: Path) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = str(taken.getsockname()[1])
        early = _serve("--transport", "http", "--port", port, "--model", str(tmp_path / "none"))
        done = _serve("--transport", "http", "--port", port)
    for out in (early, done):  # refused before the model loads, and with a real model
        assert out.returncode == 69, out.stderr
        assert out.stderr.strip().count("\n") == 0, out.stderr
        assert "already in use" in out.stderr
        assert "Traceback" not in out.stderr and "never retrieved" not in out.stderr


# --------------------------------------------------------------------------- 11: search note


@pytest.mark.slow  # starts a server process
def test_11_an_empty_search_says_whether_the_filters_emptied_it(wire: Any) -> None:
    filtered = wire.call_tool("search_movies", {"query": "star", "year_min": 2100})
    note = filtered["structuredContent"]["note"]
    assert filtered["structuredContent"]["items"] == []
    assert "none passes the filters" in note and "No title matched" not in note, note
    unmatched = wire.call_tool("search_movies", {"query": "qqqzzzxxyy", "year_min": 2100})
    assert "No title matched" in unmatched["structuredContent"]["note"]


# --------------------------------------------------------------------------- 12: tokens


@pytest.mark.slow  # starts the command line
@pytest.mark.parametrize(
    ("token", "says"),
    [(" ", "blank"), ("", "blank"), ("x", "minimum 16"), ("short token", "spaces")],
)
def test_12_blank_and_short_tokens_are_refused(token: str, says: str, tmp_path: Path) -> None:
    port = str(free_port())
    done = _serve(
        "--transport", "http", "--host", "0.0.0.0", "--port", port, env=_env(MOVIEREC_TOKEN=token)
    )
    assert done.returncode == 64, done.stderr
    assert says in done.stderr and "Traceback" not in done.stderr
    assert done.stderr.strip().count("\n") == 0, done.stderr
    tokens = tmp_path / "tokens"
    tokens.write_text(f"{TOKENS[0]}\nshort\n")
    done = _serve("--transport", "http", "--port", port, "--token-file", str(tokens))
    assert done.returncode == 64 and "line 2 of" in done.stderr, done.stderr


# --------------------------------------------------------------------------- 13: slow clients

SLOW = "header_timeout_s=1,body_timeout_s=1,sse_ping_s=0.5"


@pytest.fixture(scope="module")
def slow_server() -> Iterator[HttpServer]:
    with http_server(None, extra_env={"MOVIEREC_LIMITS": SLOW}) as server:
        yield server


def _closed_by_server(sock: socket.socket, trickle: bytes = b"") -> int:
    """Sends `trickle` a byte at a time until the server closes; returns the bytes sent."""
    sock.settimeout(0.3)
    sent = 0
    deadline = time.monotonic() + 20  # a bound for the test, not the behaviour under test
    while time.monotonic() < deadline:
        try:
            if sock.recv(65536) == b"":
                return sent
        except TimeoutError:
            pass
        except ConnectionResetError:
            return sent
        if sent < len(trickle):
            try:
                sock.send(trickle[sent : sent + 1])
            except (BrokenPipeError, ConnectionResetError):
                return sent
            sent += 1
    raise AssertionError(f"the server kept the connection open ({sent} bytes sent)")


@pytest.mark.slow  # starts a server process
def test_13_a_client_that_sends_nothing_is_disconnected(slow_server: HttpServer) -> None:
    with socket.create_connection(("127.0.0.1", slow_server.port)) as sock:
        assert _closed_by_server(sock) == 0


@pytest.mark.slow  # starts a server process
def test_13_headers_trickled_a_byte_at_a_time_are_cut_off(slow_server: HttpServer) -> None:
    request = b"POST /mcp HTTP/1.1\r\nHost: 127.0.0.1\r\n" + b"X-Padding: " + b"a" * 200
    with socket.create_connection(("127.0.0.1", slow_server.port)) as sock:
        sent = _closed_by_server(sock, request)
    assert sent < len(request)  # closed long before the headers could end


@pytest.mark.slow  # starts a server process
def test_13_a_body_that_never_arrives_is_cut_off(slow_server: HttpServer) -> None:
    head = (
        b"POST /mcp HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
        b"Accept: application/json, text/event-stream\r\nContent-Length: 1000\r\n\r\n{"
    )
    with socket.create_connection(("127.0.0.1", slow_server.port)) as sock:
        sock.sendall(head)
        assert _closed_by_server(sock) == 0


@pytest.mark.slow  # starts a server process
def test_13_event_streams_stay_open_and_get_pings(slow_server: HttpServer) -> None:
    opened = httpx.post(slow_server.url, json=_initialize(), headers=HEADERS, timeout=30)
    sid = opened.headers["mcp-session-id"]
    headers = {**HEADERS, "mcp-session-id": sid, "mcp-protocol-version": PROTOCOL_VERSION}
    note = {"jsonrpc": "2.0", "method": "notifications/initialized"}
    assert httpx.post(slow_server.url, json=note, headers=headers, timeout=30).status_code == 202
    pings = 0
    started = time.monotonic()
    stream_headers = {**headers, "Accept": "text/event-stream"}
    with httpx.stream("GET", slow_server.url, headers=stream_headers, timeout=30) as stream:
        assert stream.status_code == 200
        for line in stream.iter_lines():
            pings += line.startswith(":")
            if time.monotonic() - started > 3:  # three times the header and body timeouts
                break
    assert pings >= 2


# --------------------------------------------------------------------------- 14: fair share


@pytest.mark.slow  # starts a server process
def test_14_one_token_cannot_have_more_calls_in_flight_than_its_share(token_file: Path) -> None:
    env = {
        "MOVIEREC_TOKEN_FILE": str(token_file),
        "MOVIEREC_LIMITS": "calls_per_credential=2,worker_threads=2",
    }
    heavy = {"genres": ["Drama", "Comedy"], "k": 100, "liked_movies": ["Heat", "Alien", "Fargo"]}

    async def flood_and_one_more(url: str) -> tuple[list[Any], Any]:
        async with http_client(url, TOKENS[0]) as hostile, http_client(url, TOKENS[1]) as other:
            flood = [hostile.call_tool("recommend_for_preferences", heavy) for _ in range(30)]
            *answers, lone = await asyncio.gather(
                *flood, other.call_tool("get_movie", {"movie_id": 1})
            )
            return answers, lone

    with http_server(None, extra_env=env) as server:
        answers, lone = asyncio.run(flood_and_one_more(server.url))
    texts = ["".join(getattr(b, "text", "") for b in a.content) for a in answers]
    busy = [t for a, t in zip(answers, texts, strict=True) if a.is_error]
    assert busy, "30 calls at once on one token were all admitted"
    assert all(t.startswith("busy:") and "Retry" in t for t in busy), busy[:1]
    assert len(busy) < len(answers)  # the share was used, not refused
    assert not lone.is_error  # another token's call went through meanwhile
