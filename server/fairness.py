"""Fair share: how many tool calls one credential may have in flight at once.

A credential is the bearer token a request carries, else its MCP session (HTTP
without a token); stdio has one client and no headers, so it is not limited.
The counts live on the event loop's thread, where `call_tool` runs, so they
need no lock.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterator, Mapping
from contextlib import contextmanager


def token_key(authorization: bytes) -> str:
    """A digest of an Authorization header, so counts and tables never hold a token."""
    return "token:" + hashlib.sha256(authorization).hexdigest()[:32]


def credential_of(headers: Mapping[str, str] | None) -> str | None:
    """A key for who sent a request: a digest of its Authorization header, else its session."""
    if headers is None:
        return None
    lowered = {name.lower(): value for name, value in headers.items()}
    authorization = lowered.get("authorization")
    if authorization:
        return token_key(authorization.encode("latin-1"))
    session = lowered.get("mcp-session-id")
    return f"session:{session}" if session else None


class Tally:
    """Counts per key; a key whose count returns to zero is forgotten."""

    def __init__(self) -> None:
        self._counts: dict[str, int] = {}

    def __getitem__(self, key: str) -> int:
        return self._counts.get(key, 0)

    def add(self, key: str) -> None:
        self._counts[key] = self._counts.get(key, 0) + 1

    def remove(self, key: str) -> None:
        left = self._counts[key] - 1
        if left:
            self._counts[key] = left
        else:
            del self._counts[key]


class InFlight:
    """Counts calls in flight per credential and admits at most `limit` of each."""

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self._counts = Tally()

    def count(self, credential: str) -> int:
        return self._counts[credential]

    @contextmanager
    def slot(self, credential: str | None) -> Iterator[bool]:
        """Yields whether the call may run; while it runs, it counts against its credential."""
        if credential is None:
            yield True
            return
        if self._counts[credential] >= self.limit:
            yield False
            return
        self._counts.add(credential)
        try:
            yield True
        finally:
            self._counts.remove(credential)
