"""Who may talk to the HTTP transport: a bearer token, the bind-address rule, and whose
profiles each token opens.

With MOVIEREC_TOKEN set (or a token file, one token per line, for several
clients), every HTTP request must carry exactly one `Authorization: Bearer
<token>` header with one of them or gets 401. A token must be at least
MIN_TOKEN_CHARS printable ASCII characters without spaces: a blank or short
one is refused at start-up. Without a token the server only binds loopback
addresses: `check_bind` refuses anything else at start-up.

Profiles are scoped by namespace. A token file line `TOKEN NAMESPACE` gives
that token its own namespace (1-64 characters of A-Z a-z 0-9 _ . -, starting
with a letter or digit), so its client can never read or change another's
profiles; a line with a token alone, MOVIEREC_TOKEN, stdio and HTTP without
tokens all use DEFAULT_NAMESPACE.
"""

from __future__ import annotations

import hmac
import ipaddress
import json
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any, NamedTuple

from starlette.types import ASGIApp, Receive, Scope, Send

from recsys.profiles import ProfileError
from recsys.profiles.names import check_name
from server.errors import EXIT_USAGE, StartupError
from server.fairness import token_key

TOKEN_ENV = "MOVIEREC_TOKEN"
TOKEN_FILE_ENV = "MOVIEREC_TOKEN_FILE"
TOKENS_ENV = "MOVIEREC_TOKENS"  # the same file under the name issue #14 gave it
MIN_TOKEN_CHARS = 16
DEFAULT_NAMESPACE = "default"
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


class Token(NamedTuple):
    secret: str
    namespace: str  # whose profiles the token reads and changes


def _token_line(line: str, source: str) -> Token:
    """`TOKEN` or `TOKEN NAMESPACE`, both checked."""
    fields = line.split()
    if len(fields) > 2:
        raise StartupError(
            f"{source} has {len(fields)} fields; write TOKEN, or TOKEN NAMESPACE "
            "(a token has no spaces)",
            EXIT_USAGE,
        )
    secret = check_token(fields[0], source)
    if len(fields) == 1:
        return Token(secret, DEFAULT_NAMESPACE)
    try:
        return Token(secret, check_name(fields[1], "namespace"))
    except ProfileError as exc:
        raise StartupError(f"{source}: {exc}", EXIT_USAGE) from None


def read_tokens(env_token: str | None, token_file: Path | None) -> tuple[Token, ...]:
    """The tokens from $MOVIEREC_TOKEN (when set, even to blank) and the token file, checked,
    each with its profile namespace."""
    tokens: list[Token] = []
    if env_token is not None:
        tokens.append(Token(check_token(env_token, TOKEN_ENV), DEFAULT_NAMESPACE))
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
                tokens.append(_token_line(line, f"line {number} of {token_file}"))
        if len(tokens) == (env_token is not None):
            raise StartupError(f"the token file {token_file} holds no token", EXIT_USAGE)
    held: dict[str, str] = {}
    for token in tokens:
        # One token, two namespaces: which profiles it opens would depend on line order.
        if held.setdefault(token.secret, token.namespace) != token.namespace:
            raise StartupError(
                f"a token is given twice, for namespaces {held[token.secret]!r} and "
                f"{token.namespace!r}; give each token one namespace",
                EXIT_USAGE,
            )
    return tuple(tokens)


def namespaces_by_credential(tokens: Sequence[Token]) -> dict[str, str]:
    """Each token's credential key (a digest, as `server.fairness` counts it) -> namespace."""
    return {token_key(f"Bearer {t.secret}".encode()): t.namespace for t in tokens}


def namespace_of(headers: Mapping[str, str] | None, namespaces: Mapping[str, str]) -> str:
    """The profile namespace of a request: its token's, else the default one (stdio, or HTTP
    without tokens). A request whose token has no namespace here is refused, never defaulted."""
    if not namespaces:
        return DEFAULT_NAMESPACE
    authorization = None
    for name, value in (headers or {}).items():
        if name.lower() == "authorization":
            authorization = value
    if authorization is None:
        raise PermissionError("this request carries no bearer token, so it has no profiles")
    try:
        return namespaces[token_key(authorization.encode("latin-1"))]
    except KeyError:
        raise PermissionError("this request's bearer token opens no profiles") from None


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
        given = [value for name, value in scope.get("headers", ()) if name == b"authorization"]
        # Exactly one: with two, the gate and the code after it could read different ones.
        if len(given) != 1:
            return False
        # Constant-time, and every token compared, so timing tells nothing about a guess.
        matches = [hmac.compare_digest(given[0], expected) for expected in self._expected]
        return any(matches)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or self._authorised(scope):
            await self.app(scope, receive, send)
            return
        body = json.dumps(
            {
                "error": "unauthorized",
                "message": f"send one 'Authorization: Bearer <token>' header with the value of "
                f"{TOKEN_ENV} or a line of the token file",
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
