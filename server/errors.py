"""Turning every failure into a message an LLM can act on.

Three kinds of failure reach a tool's caller, each as a tool error (isError)
while the server keeps serving:

- arguments that do not fit the tool (unknown names, wrong types, out of
  range): `argument_error` names each bad argument, what it expected and the
  valid argument names;
- a request the library refuses (`RecommenderError`: unknown user, genre or
  title, ambiguous title, contradictory filters; `ProfileError`: a bad profile
  name or batch, a missing profile, a database that cannot be written): its
  message already says what to do, and is passed on as is;
- anything unexpected: logged to stderr with its traceback, and answered with
  the tool's name and what to try, never the traceback.
"""

from __future__ import annotations

import difflib
import json
import logging
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from typing import Any

from mcp.server.mcpserver.exceptions import ToolError
from pydantic import ValidationError

from recsys.profiles import ProfileError
from recsys.serving.errors import RecommenderError

log = logging.getLogger("movierec.server")


# Exit statuses of `movierec serve` when it cannot start, one per kind of cause.
EXIT_BUNDLE = 2  # the model bundle is missing or broken
EXIT_USAGE = 64  # a flag, limit, token or address is not acceptable (sysexits' EX_USAGE)
EXIT_UNAVAILABLE = 69  # the port is in use or may not be bound (sysexits' EX_UNAVAILABLE)
EXIT_PROFILES = 74  # the profile store cannot be opened (sysexits' EX_IOERR)


class StartupError(Exception):
    """The server cannot start; the message says what to run or change."""

    def __init__(self, message: str, exit_code: int = EXIT_BUNDLE) -> None:
        super().__init__(message)
        self.exit_code = exit_code


# Messages quoted per argument: a list argument can hold hundreds of bad items.
MAX_MESSAGES = 50


def _expected(prop: Mapping[str, Any]) -> str:
    """A short phrase for what one JSON-schema property accepts."""
    if "$ref" in prop:
        return "an object (its fields are in the tool's input schema)"
    if "anyOf" in prop:
        options = [p for p in prop["anyOf"] if p.get("type") != "null"]
        text = " or ".join(_expected(p) for p in options)
        return text + (" (or null)" if len(options) < len(prop["anyOf"]) else "")
    kind = prop.get("type")
    if kind == "integer":
        lo, hi = prop.get("minimum"), prop.get("maximum")
        if lo is not None and hi is not None:
            return f"an integer {lo}-{hi}"
        return "an integer"
    if kind == "string":
        return f"a string of {prop.get('minLength', 0)}-{prop.get('maxLength', 'any')} characters"
    if kind == "array":
        inner = _expected(prop.get("items", {})) if prop.get("items") else "values"
        limit = f"up to {prop['maxItems']} " if "maxItems" in prop else ""
        return f"a list of {limit}items, each {inner}"
    if kind == "boolean":
        return "true or false"
    return kind or "a value"


def usage(schema: Mapping[str, Any]) -> str:
    """'Arguments: user_id (required, an integer); k (an integer 1-100, default 10); ...'."""
    required = set(schema.get("required", ()))
    parts = []
    for name, prop in schema.get("properties", {}).items():
        bits = ["required"] if name in required else []
        bits.append(_expected(prop))
        if name not in required:
            bits.append(f"default {json.dumps(prop.get('default'))}")
        parts.append(f"{name} ({', '.join(bits)})")
    return "Arguments: " + "; ".join(parts) + "."


def _quoted(name: str, chars: int) -> str:
    return (
        repr(name) if len(name) <= chars else repr(name[:chars]) + f"... ({len(name)} characters)"
    )


def unknown_arguments(
    tool: str,
    unknown: list[str],
    schema: Mapping[str, Any],
    *,
    total: int | None = None,
    chars: int = 40,
) -> ToolError:
    """Quotes the given unknown names (already few) of `total`, each cut to `chars`."""
    total = len(unknown) if total is None else total
    valid = list(schema.get("properties", {}))
    hints = []
    for name in unknown:
        # Only a name of about a valid name's length can be a misspelling of one.
        close = difflib.get_close_matches(name, valid, n=1, cutoff=0.6) if len(name) <= 40 else []
        hints.append(_quoted(name, chars) + (f" (did you mean '{close[0]}'?)" if close else ""))
    more = f" and {total - len(unknown)} more" if total > len(unknown) else ""
    return ToolError(
        f"{tool} does not take argument(s) {', '.join(hints)}{more}. "
        f"Valid argument names: {', '.join(valid)}. {usage(schema)}"
    )


def too_many_arguments(tool: str, count: int, limit: int, schema: Mapping[str, Any]) -> ToolError:
    valid = list(schema.get("properties", {}))
    return ToolError(
        f"{tool} got {count} arguments; a call may carry at most {limit} and {tool} takes "
        f"{len(valid)}: {', '.join(valid)}. {usage(schema)}"
    )


def busy(tool: str, limit: int) -> ToolError:
    return ToolError(
        f"busy: {limit} calls from your credential are already in progress, so this "
        f"{tool} call was not started. Retry it when one of them has answered (wait for an "
        "answer before sending more; calls from other credentials are not affected)."
    )


def _shown(value: object) -> str:
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


def argument_error(tool: str, exc: ValidationError, schema: Mapping[str, Any]) -> ToolError:
    """One line per bad argument: what was given, what pydantic objected to, what is expected."""
    props = schema.get("properties", {})
    by_field: dict[str, list[str]] = {}
    given: dict[str, Any] = {}
    missing = False
    for err in exc.errors(include_url=False):
        loc = err.get("loc") or ("arguments",)
        field = str(loc[0])
        # Inside a list or object argument, each message says where: "ratings[3].rating: ...".
        where = "".join(f"[{p}]" if isinstance(p, int) else f".{p}" for p in loc[1:])
        prefix = f"{field}{where}: " if where else ""
        if err["type"] == "missing":
            by_field.setdefault(field, []).append(f"{prefix}missing (it is required)")
            missing = missing or not where
            continue
        msg = prefix + err["msg"].removeprefix("Value error, ")
        if msg not in by_field.setdefault(field, []):
            by_field[field].append(msg)
        if not where:
            given.setdefault(field, err.get("input"))
    lines = []
    for field, msgs in by_field.items():
        expected = _expected(props[field]) if field in props else "see below"
        got = f" (got {_shown(given[field])})" if field in given else ""
        more = f"; and {len(msgs) - MAX_MESSAGES} more" if len(msgs) > MAX_MESSAGES else ""
        shown = "; ".join(msgs[:MAX_MESSAGES]) + more
        lines.append(f"'{field}'{got}: {shown}. Expected {expected}.")
    text = f"Invalid arguments for {tool}: " + " ".join(lines)
    if missing or any(field not in props for field in by_field):
        text += " " + usage(schema)
    return ToolError(text)


@contextmanager
def tool_errors(tool: str, hint: str) -> Iterator[None]:
    """Map what a tool body raises onto tool errors; `hint` says what to try after a crash."""
    try:
        yield
    except ToolError:
        raise
    except (RecommenderError, ProfileError) as exc:
        raise ToolError(str(exc)) from exc
    except Exception as exc:
        log.exception("%s failed unexpectedly", tool)
        raise ToolError(
            f"{tool} failed unexpectedly ({type(exc).__name__}); the details are in the server's "
            f"log. The server is still running: {hint}"
        ) from exc
