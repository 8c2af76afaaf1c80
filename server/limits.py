"""The server's limits: how much any one request, client or credential may ask of it.

One frozen `Limits` holds them all. The defaults are sized for this server (five
millisecond-scale tools on a small machine, a handful of assistants as clients);
`movierec serve --limit NAME=VALUE` and `$MOVIEREC_LIMITS` ("NAME=VALUE,NAME=VALUE")
change them, so tests can use small ones. `server.cli` builds them at start-up.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, fields, replace
from typing import Any

LIMITS_ENV = "MOVIEREC_LIMITS"
MIB = 1024 * 1024


@dataclass(frozen=True)
class Limits:
    # Tool arguments (checked on the event loop, so every one is bounded).
    max_arguments: int = 32  # names a call may carry; the tools take at most 12
    quoted_names: int = 5  # unknown names an error quotes (and looks up close matches for)
    quoted_chars: int = 40  # characters of one quoted name
    # Fair share over HTTP.
    calls_per_credential: int = 8  # tool calls in flight per token (per session without one)
    worker_threads: int = 40  # threads tool bodies run on, shared by every client
    max_sessions: int = 200  # open MCP sessions over HTTP, all clients together
    sessions_per_credential: int = 50  # open sessions per token (per client address without)
    session_idle_s: float = 600.0  # a session with no request for this long is closed
    # Slow or broken HTTP clients.
    max_body_bytes: int = 4 * MIB  # one HTTP request body
    header_timeout_s: float = 10.0  # from connection (or the end of the last answer) to headers
    body_timeout_s: float = 30.0  # from the headers to the end of the request body
    sse_ping_s: float = 15.0  # comment lines that keep open event streams alive
    # Answers: clients cap tool output (Claude Code at 25,000 tokens, about 100,000
    # characters); profile answers cut long lists to their most recent entries to stay under.
    answer_chars: int = 100_000
    # stdio.
    max_line_bytes: int = 4 * MIB  # one JSON-RPC line
    drain_s: float = 5.0  # at EOF or Ctrl-C: time given to the calls already read

    def check(self) -> None:
        for f in fields(self):
            value = getattr(self, f.name)
            if not value > 0:
                raise ValueError(f"limit {f.name} must be positive, got {value!r}")
        if self.sessions_per_credential > self.max_sessions:
            raise ValueError(
                f"limit sessions_per_credential ({self.sessions_per_credential}) exceeds "
                f"max_sessions ({self.max_sessions})"
            )


def limit_names() -> list[str]:
    return [f.name for f in fields(Limits)]


def parse_settings(items: Iterable[str]) -> dict[str, str]:
    """'NAME=VALUE' items as a dict; a malformed item is a ValueError naming it."""
    settings: dict[str, str] = {}
    for item in items:
        name, sep, value = item.strip().partition("=")
        if not sep or not name.strip():
            raise ValueError(f"a limit is NAME=VALUE, got {item!r}")
        settings[name.strip()] = value.strip()
    return settings


def from_settings(settings: Mapping[str, str], base: Limits | None = None) -> Limits:
    """`base` (default: the defaults) with the named limits changed, checked."""
    base = base or Limits()
    kinds = {f.name: type(getattr(base, f.name)) for f in fields(base)}
    changes: dict[str, Any] = {}
    for name, text in settings.items():
        kind = kinds.get(name)
        if kind is None:
            raise ValueError(f"unknown limit {name!r}; limits: {', '.join(kinds)}")
        try:
            changes[name] = kind(text)
        except ValueError:
            noun = "an integer" if kind is int else "a number"
            raise ValueError(f"limit {name} must be {noun}, got {text!r}") from None
    limits = replace(base, **changes)
    limits.check()
    return limits


def from_env_and_flags(env: Mapping[str, str], flags: Iterable[str]) -> Limits:
    """$MOVIEREC_LIMITS (comma-separated), then each --limit flag over it."""
    from_env = [s for s in env.get(LIMITS_ENV, "").split(",") if s.strip()]
    return from_settings({**parse_settings(from_env), **parse_settings(flags)})
