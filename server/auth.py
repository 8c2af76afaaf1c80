"""Who may talk to the HTTP transport: a bearer token, and the bind-address rule.

With MOVIEREC_TOKEN set, every HTTP request must carry
`Authorization: Bearer <token>` or gets 401. Without a token the server only
binds loopback addresses: `check_bind` refuses anything else at start-up.
"""

from __future__ import annotations

import hmac
import ipaddress
import json
from typing import Any

from starlette.types import ASGIApp, Receive, Scope, Send

from server.errors import StartupError

TOKEN_ENV = "MOVIEREC_TOKEN"


def is_loopback(host: str) -> bool:
    if host.lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def check_bind(host: str, token: str | None) -> None:
    """Refuse to expose the server beyond this machine without a token."""
    if not is_loopback(host) and not token:
        raise StartupError(
            f"refusing to bind {host}: it is reachable from other machines and no token is set. "
            f"Set {TOKEN_ENV} to a secret (clients then send 'Authorization: Bearer <token>'), "
            "or bind 127.0.0.1 (the default)."
        )


class BearerTokenGate:
    """ASGI middleware: HTTP requests need the bearer token; lifespan events pass through."""

    def __init__(self, app: ASGIApp, token: str) -> None:
        self.app = app
        self._expected = f"Bearer {token}".encode()

    def _authorised(self, scope: Scope) -> bool:
        for name, value in scope.get("headers", ()):
            if name == b"authorization":
                # Constant-time, so the comparison does not leak how much of a guess was right.
                return hmac.compare_digest(value, self._expected)
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
