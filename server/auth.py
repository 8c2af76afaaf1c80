"""Who may talk to the HTTP transport: a bearer token, and the bind-address rule.

With MOVIEREC_TOKEN set (or a token file, one token per line, for several
clients), every HTTP request must carry `Authorization: Bearer <token>` with
one of them or gets 401. A token must be at least MIN_TOKEN_CHARS printable
ASCII characters without spaces: a blank or short one is refused at start-up.
Without a token the server only binds loopback addresses: `check_bind` refuses
anything else at start-up.
"""

from __future__ import annotations

import hmac
import ipaddress
import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from starlette.types import ASGIApp, Receive, Scope, Send

from server.errors import EXIT_USAGE, StartupError

TOKEN_ENV = "MOVIEREC_TOKEN"
TOKEN_FILE_ENV = "MOVIEREC_TOKEN_FILE"
MIN_TOKEN_CHARS = 16
_TOKEN_ADVICE = (
    f"use at least {MIN_TOKEN_CHARS} printable ASCII characters without spaces, e.g. the "
    "output of `python -c 'import secrets; print(secrets.token_urlsafe(32))'`"
)


def check_token(token: str, source: str) -> str:
    """The token if it is usable; else a StartupError saying what is wrong and what to use."""
    if not token.strip():
        raise StartupError(f"{source} is blank; {_TOKEN_ADVICE}", EXIT_USAGE)
    if not all(33 <= ord(c) <= 126 for c in token):
        raise StartupError(
            f"{source} contains spaces or characters outside printable ASCII; {_TOKEN_ADVICE}",
            EXIT_USAGE,
        )
    if len(token) < MIN_TOKEN_CHARS:
        raise StartupError(
            f"{source} has {len(token)} characters, fewer than the minimum {MIN_TOKEN_CHARS}; "
            f"{_TOKEN_ADVICE}",
            EXIT_USAGE,
        )
    return token


def read_tokens(env_token: str | None, token_file: Path | None) -> tuple[str, ...]:
    """The tokens from $MOVIEREC_TOKEN (when set, even to blank) and the token file, checked."""
    tokens: list[str] = []
    if env_token is not None:
        tokens.append(check_token(env_token, TOKEN_ENV))
    if token_file is not None:
        try:
            lines = Path(token_file).read_text(encoding="utf-8").splitlines()
        except (OSError, UnicodeDecodeError) as exc:
            raise StartupError(
                f"cannot read the token file {token_file}: {exc}", EXIT_USAGE
            ) from None
        for number, line in enumerate(lines, start=1):
            # Blank lines and '#' comments let a file say whose token is whose.
            if line.strip() and not line.lstrip().startswith("#"):
                tokens.append(check_token(line.strip(), f"line {number} of {token_file}"))
        if len(tokens) == (env_token is not None):
            raise StartupError(f"the token file {token_file} holds no token", EXIT_USAGE)
    return tuple(tokens)


def is_loopback(host: str) -> bool:
    if host.lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def check_bind(host: str, token: str | None) -> None:
    """Refuse to expose the server beyond this machine without a token (any one, if several)."""
    if not is_loopback(host) and not token:
        raise StartupError(
            f"refusing to bind {host}: it is reachable from other machines and no token is set. "
            f"Set {TOKEN_ENV} to a secret (clients then send 'Authorization: Bearer <token>'), "
            "or bind 127.0.0.1 (the default).",
            EXIT_USAGE,
        )


class BearerTokenGate:
    """ASGI middleware: HTTP requests need a bearer token; lifespan events pass through."""

    def __init__(self, app: ASGIApp, tokens: Sequence[str]) -> None:
        self.app = app
        self._expected = [f"Bearer {token}".encode() for token in tokens]

    def _authorised(self, scope: Scope) -> bool:
        for name, value in scope.get("headers", ()):
            if name == b"authorization":
                # Constant-time, and every token compared, so timing tells nothing about a guess.
                matches = [hmac.compare_digest(value, expected) for expected in self._expected]
                return any(matches)
        return False

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or self._authorised(scope):
            await self.app(scope, receive, send)
            return
        body = json.dumps(
            {
                "error": "unauthorized",
                "message": f"send 'Authorization: Bearer <token>' with the value of {TOKEN_ENV}",
            }
        ).encode()
        headers: list[tuple[bytes, bytes]] = [
            (b"content-type", b"application/json"),
            (b"content-length", str(len(body)).encode()),
            (b"www-authenticate", b'Bearer realm="movierec"'),
        ]
        start: dict[str, Any] = {"type": "http.response.start", "status": 401, "headers": headers}
        await send(start)
        await send({"type": "http.response.body", "body": body})
