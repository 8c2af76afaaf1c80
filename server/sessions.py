"""Open MCP sessions over HTTP, counted per credential, and memory handed back when they end.

The SDK caps sessions for the whole server (`Limits.max_sessions`) and closes
idle ones (`Limits.session_idle_s`); it has no per-client cap, so one token
could still open them all. `SessionGuard` sits in front of it and refuses a new
session (503, a JSON-RPC error saying what to do) to a credential that already
has `Limits.sessions_per_credential` open. It learns of sessions from the
answers themselves: the session id in an initialize answer opens one; a DELETE
answered, a 404 for it, or the SDK's idle rule (no request in flight for
`session_idle_s`) ends it. A session answers only the credential that opened
it (404 to any other, as if it did not exist).
"""

from __future__ import annotations

import ctypes
import gc
import json
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from mcp_types.version import HANDSHAKE_PROTOCOL_VERSIONS
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from server.fairness import Tally, token_key

log = logging.getLogger("movierec.server")

SESSION_HEADER = b"mcp-session-id"
# A request stamped with a newer protocol version is served alone, in no session (the SDK's rule).
VERSION_HEADER = b"mcp-protocol-version"


@dataclass
class _Session:
    credential: str
    in_flight: int = 0
    last_end: float = 0.0


def credential_key(scope: Scope) -> str:
    """The bearer token (as a digest) a request carries, else the client's address."""
    for name, value in scope.get("headers", ()):
        if name == b"authorization":
            return token_key(bytes(value))
    client = scope.get("client")
    return f"address:{client[0]}" if client else "address:unknown"


def _header(scope: Scope, wanted: bytes) -> str | None:
    for name, value in scope.get("headers", ()):
        if name == wanted:
            return bytes(value).decode("latin-1")
    return None


class SessionGuard:
    """ASGI middleware: at most `per_credential` open sessions per credential."""

    def __init__(
        self,
        app: ASGIApp,
        per_credential: int,
        idle_s: float,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.app = app
        self.per_credential = per_credential
        self.idle_s = idle_s
        self._clock = clock
        self._sessions: dict[str, _Session] = {}
        self._opening = Tally()  # initialize requests not yet answered
        self.ended = 0  # sessions seen to end, for `trim_memory`

    def open_sessions(self, credential: str) -> int:
        self.forget_idle()
        live = sum(1 for s in self._sessions.values() if s.credential == credential)
        return live + self._opening[credential]

    def forget_idle(self) -> None:
        now = self._clock()
        idle = [
            sid
            for sid, s in self._sessions.items()
            if s.in_flight == 0 and now - s.last_end >= self.idle_s
        ]
        for sid in idle:
            self._end(sid)

    def _end(self, session_id: str) -> None:
        if self._sessions.pop(session_id, None) is not None:
            self.ended += 1

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        session_id = _header(scope, SESSION_HEADER)
        version = _header(scope, VERSION_HEADER)
        if session_id is None and (version is None or version in HANDSHAKE_PROTOCOL_VERSIONS):
            await self._opening_request(scope, receive, send)
        elif session_id in self._sessions:
            await self._session_request(session_id, scope, receive, send)
        else:
            await self.app(scope, receive, send)

    async def _opening_request(self, scope: Scope, receive: Receive, send: Send) -> None:
        credential = credential_key(scope)
        if scope.get("method") == "POST" and self.open_sessions(credential) >= self.per_credential:
            await _refuse(send, self.per_credential, self.idle_s)
            return
        self._opening.add(credential)

        async def watch(message: Message) -> None:
            if message["type"] == "http.response.start" and message["status"] < 400:
                for name, value in message.get("headers", ()):
                    if name.lower() == SESSION_HEADER:
                        sid = bytes(value).decode("latin-1")
                        self._sessions[sid] = _Session(credential, last_end=self._clock())
            await send(message)

        try:
            await self.app(scope, receive, watch)
        finally:
            self._opening.remove(credential)

    async def _session_request(
        self, session_id: str, scope: Scope, receive: Receive, send: Send
    ) -> None:
        session = self._sessions[session_id]
        if credential_key(scope) != session.credential:
            # A session is its opener's: to anyone else it does not exist (as in the SDK).
            await _not_found(send)
            return
        session.in_flight += 1
        status = 0

        async def watch(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = int(message["status"])
            await send(message)

        try:
            await self.app(scope, receive, watch)
        finally:
            session.in_flight -= 1
            session.last_end = self._clock()
            closed = scope.get("method") == "DELETE" and 200 <= status < 300
            if closed or status == 404:
                self._end(session_id)


async def _refuse(send: Send, limit: int, idle_s: float) -> None:
    message = (
        f"too many open sessions for this credential (at most {limit}); close sessions you no "
        "longer use (HTTP DELETE with their Mcp-Session-Id) or reuse one; an idle session "
        f"closes after {idle_s:g} s"
    )
    retry = (b"retry-after", str(max(1, round(idle_s))).encode())
    await _error(send, 503, -32000, message, [retry])


async def _not_found(send: Send) -> None:
    await _error(send, 404, -32600, "Session not found", [])


async def _error(
    send: Send, status: int, code: int, message: str, extra: list[tuple[bytes, bytes]]
) -> None:
    """A JSON-RPC error body (id null) with the given HTTP status."""
    error = {"jsonrpc": "2.0", "id": None, "error": {"code": code, "message": message}}
    body = json.dumps(error).encode()
    headers: list[tuple[bytes, bytes]] = [
        (b"content-type", b"application/json"),
        (b"content-length", str(len(body)).encode()),
        *extra,
    ]
    start: dict[str, Any] = {"type": "http.response.start", "status": status, "headers": headers}
    await send(start)
    await send({"type": "http.response.body", "body": body})


def trim_memory() -> None:
    """Collect garbage and hand freed heap pages back to the OS (glibc), after sessions end."""
    gc.collect()
    try:
        libc = ctypes.CDLL("libc.so.6")
    except OSError:  # not glibc: the allocator keeps what it has
        return
    libc.malloc_trim(0)


async def trim_after_sessions_end(guard: SessionGuard, every_s: float) -> None:
    """Forever: every `every_s`, once sessions have ended since the last look, trim memory."""
    import anyio

    seen = guard.ended
    while True:
        await anyio.sleep(every_s)
        guard.forget_idle()  # counts the sessions the SDK has closed for idleness as ended
        if guard.ended != seen:
            log.info("%d sessions ended; returning freed memory", guard.ended - seen)
            seen = guard.ended
            trim_memory()
