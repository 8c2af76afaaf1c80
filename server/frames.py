"""One stdio line read as a JSON-RPC message, or the error that answers it.

The SDK's stdio reader turns a line it cannot validate into an exception that
nobody answers, so the client waits forever. Here every line that is not a
notification gets an answer: a valid message goes on to the SDK; anything else
becomes a `Refusal`, a JSON-RPC error with the line's id when one can be read
(else null): -32700 (parse error) for what is not JSON or cannot be represented
(invalid UTF-8, a lone surrogate, nesting deeper than the SDK parses), -32600
(invalid request) for JSON that is not a JSON-RPC 2.0 message (batches, a wrong
`jsonrpc`, an id that is null, a float or an object). Only lines that fail the
SDK's own validation take the slower path that says why.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

import mcp_types
from pydantic import ValidationError

PARSE_ERROR = -32700
INVALID_REQUEST = -32600
# The SDK's validator stops short of this depth; json.loads goes deeper, so it is checked here.
MAX_DEPTH = 200

RequestId = str | int


@dataclass(frozen=True)
class Refusal:
    """The error answering one line that is not a usable message."""

    id: RequestId | None
    code: int
    message: str

    def frame(self) -> bytes:
        error = {"code": self.code, "message": self.message}
        return json.dumps({"jsonrpc": "2.0", "id": self.id, "error": error}).encode() + b"\n"


def oversized(limit: int) -> Refusal:
    return Refusal(
        None,
        PARSE_ERROR,
        f"Parse error: a line over {limit} bytes was skipped unread; send smaller messages",
    )


def read_line(line: bytes) -> mcp_types.JSONRPCMessage | Refusal | None:
    """The message on `line`, the refusal answering it, or None (blank, or a bad notification)."""
    if not line.strip():
        return None
    try:
        message: mcp_types.JSONRPCMessage = mcp_types.jsonrpc_message_adapter.validate_json(
            line, by_name=False
        )
    except (ValidationError, ValueError):
        return _refusal(line)
    if isinstance(message, mcp_types.JSONRPCNotification) and b'"id"' in line:
        # The SDK reads a request whose id is null, a float or an object as a notification.
        return _refusal(line)
    return message


def _refusal(line: bytes) -> Refusal | None:
    try:
        value = json.loads(line)
    except (ValueError, RecursionError):
        return Refusal(None, PARSE_ERROR, "Parse error: the line is not valid UTF-8 JSON")
    if isinstance(value, list):
        return Refusal(
            None,
            INVALID_REQUEST,
            "Invalid Request: batches (JSON arrays) are not supported; send one message per line",
        )
    if not isinstance(value, dict):
        return Refusal(None, INVALID_REQUEST, "Invalid Request: a message is a JSON object")
    ident = _readable_id(value)
    if not _encodable(value):
        return Refusal(
            ident,
            PARSE_ERROR,
            "Parse error: the message holds a lone surrogate escape (\\ud800-\\udfff), which is "
            "not valid Unicode",
        )
    if _deeper_than(value, MAX_DEPTH):
        return Refusal(ident, PARSE_ERROR, f"Parse error: nested deeper than {MAX_DEPTH} levels")
    if value.get("jsonrpc") != "2.0":
        return Refusal(ident, INVALID_REQUEST, 'Invalid Request: "jsonrpc" must be "2.0"')
    if "id" not in value:
        # A notification gets no answer, not even an error (JSON-RPC 2.0, section 4.1).
        return None if "method" in value else _not_a_message(None)
    if ident is None:
        return Refusal(None, INVALID_REQUEST, "Invalid Request: id must be a string or an integer")
    return _not_a_message(ident)


def _not_a_message(ident: RequestId | None) -> Refusal:
    return Refusal(
        ident,
        INVALID_REQUEST,
        "Invalid Request: not a JSON-RPC request, notification or response (check method, "
        "params, result and error)",
    )


def _readable_id(value: dict[str, Any]) -> RequestId | None:
    ident = value.get("id")
    if isinstance(ident, bool) or not isinstance(ident, int | str):
        return None
    return ident if _encodable(ident) else None


def _encodable(value: object) -> bool:
    try:
        json.dumps(value, ensure_ascii=False).encode("utf-8")
    except (UnicodeEncodeError, ValueError, RecursionError):
        return False
    return True


def _deeper_than(value: object, limit: int) -> bool:
    """Whether containers nest deeper than `limit` (iterative, stops at the first too deep)."""
    stack: list[tuple[object, int]] = [(value, 1)]
    while stack:
        item, depth = stack.pop()
        if depth > limit:
            return True
        if isinstance(item, dict):
            stack.extend((v, depth + 1) for v in item.values())
        elif isinstance(item, list):
            stack.extend((v, depth + 1) for v in item)
    return False
