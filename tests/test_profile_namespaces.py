"""Whose profiles a request reaches: over HTTP a token file line `TOKEN NAMESPACE` gives each
client its own namespace, so no client can read or change another's profiles (proved over
real HTTP with two tokens); stdio, a lone MOVIEREC_TOKEN and HTTP without tokens share one.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from recsys.data.synthetic import HEAT_1995, MATRIX
from server import cli
from server.auth import (
    DEFAULT_NAMESPACE,
    BearerTokenGate,
    Token,
    namespace_of,
    namespaces_by_credential,
    read_tokens,
)
from server.errors import EXIT_USAGE, StartupError
from server.launch import HttpServer, http_server

ALICE = "alice-token-0123456789abcdef"
BOB = "bob-token-0123456789abcdef"
CAROL = "carol-token-0123456789abcdef"


def token_file(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "tokens"
    path.write_text(text)
    return path


# --------------------------------------------------------------------------- the token file


def test_token_lines_name_namespaces(tmp_path: Path) -> None:
    path = token_file(tmp_path, f"# who is who\n{ALICE} alice\n\n  {BOB}   team-b.2 \n{CAROL}\n")
    tokens = read_tokens(None, path)
    assert tokens == (Token(ALICE, "alice"), Token(BOB, "team-b.2"), Token(CAROL, "default"))
    with_env = read_tokens("env-token-0123456789", path)
    assert with_env[0] == Token("env-token-0123456789", DEFAULT_NAMESPACE)
    keys = namespaces_by_credential(tokens)
    assert namespace_of({"Authorization": f"Bearer {BOB}"}, keys) == "team-b.2"
    assert namespace_of({"authorization": f"Bearer {ALICE}"}, keys) == "alice"
    assert namespace_of(None, {}) == namespace_of({"x": "y"}, {}) == DEFAULT_NAMESPACE
    with pytest.raises(PermissionError, match="opens no profiles"):
        namespace_of({"Authorization": "Bearer someone-else-0123456789"}, keys)
    with pytest.raises(PermissionError, match="no bearer token"):
        namespace_of({}, keys)


@pytest.mark.parametrize(
    ("text", "says"),
    [
        (f"{ALICE} bad/space\n", "line 1 of"),
        (f"{ALICE} -dash\n", "starting with a letter or digit"),
        (f"{ALICE} a b\n", "3 fields"),
        (f"{ALICE} one\n{ALICE} two\n", "given twice, for namespaces 'one' and 'two'"),
        ("short alice\n", "fewer than the minimum 16"),
        ("# nothing\n", "holds no token"),
    ],
)
def test_bad_token_lines_stop_start_up(tmp_path: Path, text: str, says: str) -> None:
    with pytest.raises(StartupError, match=says) as caught:
        read_tokens(None, token_file(tmp_path, text))
    assert caught.value.exit_code == EXIT_USAGE


def test_movierec_tokens_names_the_same_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    path = token_file(tmp_path, f"{ALICE} alice\n")
    monkeypatch.setenv("MOVIEREC_TOKENS", str(path))
    monkeypatch.delenv("MOVIEREC_TOKEN_FILE", raising=False)
    assert cli._token_file(None) == path
    monkeypatch.setenv("MOVIEREC_TOKEN_FILE", str(tmp_path / "other"))
    code = cli.main(["serve", "--transport", "http", "--model", str(tmp_path / "none")])
    assert code == EXIT_USAGE
    assert "name different token files" in capsys.readouterr().err


def test_the_gate_refuses_two_authorization_headers() -> None:
    seen: list[int] = []

    async def app(scope: Any, receive: Any, send: Any) -> None:
        seen.append(1)

    async def run(headers: list[tuple[bytes, bytes]]) -> int:
        sent: list[dict[str, Any]] = []

        async def send(message: dict[str, Any]) -> None:
            sent.append(message)

        scope = {"type": "http", "headers": headers}
        await BearerTokenGate(app, [ALICE, BOB])(scope, None, send)  # type: ignore[arg-type]
        return int(sent[0]["status"]) if sent else 200

    good = (b"authorization", f"Bearer {ALICE}".encode())
    assert asyncio.run(run([good])) == 200
    assert asyncio.run(run([good, (b"authorization", f"Bearer {BOB}".encode())])) == 401
    assert asyncio.run(run([good, good])) == 401
    assert seen == [1]


# --------------------------------------------------------------------------- over real HTTP


@pytest.fixture(scope="module")
def two_clients(
    small_bundle: Path, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[HttpServer]:
    root = tmp_path_factory.mktemp("namespaces")
    tokens = token_file(root, f"{ALICE} alice-home\n{BOB} bob-home\n")
    extra = {"MOVIEREC_TOKENS": str(tokens), "MOVIEREC_PROFILES": str(root / "profiles.db")}
    with http_server(small_bundle, extra_env=extra) as srv:
        yield srv


@pytest.mark.slow  # starts a server process
def test_one_token_never_reaches_anothers_profiles(
    two_clients: HttpServer, http_session: Callable[..., Any]
) -> None:
    url = two_clients.url
    with http_session(url, ALICE) as alice, http_session(url, BOB) as bob:
        alice.ok("rate_movies", {"profile": "ann", "ratings": [{"movie": MATRIX, "rating": 5}]})
        assert bob.ok("list_profiles", {})["profiles"] == []
        for tool, args in (
            ("get_profile", {"profile": "ann"}),
            ("recommend_for_user", {"profile": "ann"}),
            ("export_profile", {"profile": "ann"}),
            ("forget", {"profile": "ann"}),
            ("watchlist_remove", {"profile": "ann", "movies": [MATRIX]}),
            ("recommend_for_group", {"profiles": ["ann", "bob"]}),
        ):
            assert "no profile 'ann'" in bob.error(tool, args)
        with pytest.raises(Exception, match="no profile 'ann'"):
            bob.run(bob.client.read_resource, "movierec://profile/ann")
        # Bob's own "ann" is another profile; forgetting it leaves Alice's alone.
        bob.ok("rate_movies", {"profile": "ann", "ratings": [{"movie": HEAT_1995, "rating": 1}]})
        bob.ok("forget", {"profile": "ann"})
        view = alice.ok("get_profile", {"profile": "ann"})
        assert [(e["movie"]["id"], e["rating"]) for e in view["ratings"]] == [(MATRIX, 5.0)]
        document = alice.run(alice.client.read_resource, "movierec://profile/ann").contents[0]
        assert '"rating": 5.0' in document.text
    headers = {"Accept": "application/json, text/event-stream", "Content-Type": "application/json"}
    both = [("Authorization", f"Bearer {ALICE}"), ("Authorization", f"Bearer {BOB}")]
    refused = httpx.post(url, json={}, headers=[*headers.items(), *both], timeout=30)
    assert refused.status_code == 401
