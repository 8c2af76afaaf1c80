"""Soak: well-behaved HTTP clients against a hostile one; write bench/results/soak.md.

    .venv/bin/python bench/bench_soak.py                   # 16 clients, 2 minutes
    .venv/bin/python bench/bench_soak.py --clients 4 --seconds 20

One `movierec serve --transport http` child with a bearer token per client. The
well-behaved clients (a token each) make mixed tool calls one after another
for `--seconds`; meanwhile the hostile client (the other token) sends
oversized and malformed requests, drops connections (nothing sent, half the
headers, half a body), opens sessions it never closes, sends a call with
120,000 unknown argument names, and floods heavy calls (k=100, filters, liked
movies), `--flood` at once. Recorded: the well-behaved clients' throughput,
latency (p50/p99) and errors (the goal is 0), alone first (`--alone` seconds)
and then beside the hostile client, what the hostile client got back, and the
server's RSS before, at the end, and once the hostile sessions have idled out.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import socket
import statistics
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import numpy as np

from server.commands import model_dir
from server.launch import PROTOCOL_VERSION, http_client, http_server, memory_kb

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_server import call_makers  # noqa: E402 - a sibling script, not a package

REPO = Path(__file__).resolve().parents[1]
RESULTS = REPO / "bench" / "results" / "soak.md"
HOSTILE = "soak-hostile-client-token-0123456789"


def good_token(c: int) -> str:
    """Each well-behaved client has its own token, as each assistant would."""
    return f"soak-good-client-{c:02d}-token-0123456789"


IDLE_S = 20  # session idle timeout for this run, so reaping happens within it
HEADERS = {"Accept": "application/json, text/event-stream", "Content-Type": "application/json"}
NOTES = """## Reading these numbers

- All clients run in one Python process (the SDK client validates every answer) on the same
  two cores as the server, so the latencies include the clients' own queueing.
- The hostile client's heavy calls (k=100, filters, a liked movie) cost several times an
  average call; with at most 8 of them in flight (`calls_per_credential`) the rest are
  answered `busy` at once, and the well-behaved clients keep about half the server's
  throughput, with no errors. Fairness is counted in calls, not CPU time.
- Over HTTP a request whose id is an object reads as a notification to the SDK and gets 202
  (no answer is owed); stdio answers it with -32600 (`server/frames.py`).
"""
HEAVY = {"genres": ["Drama", "Comedy"], "k": 100, "year_min": 1980, "liked_movies": ["Heat"]}


def _initialize() -> dict[str, Any]:
    return {
        "jsonrpc": "2.0",
        "id": 0,
        "method": "initialize",
        "params": {
            "protocolVersion": PROTOCOL_VERSION,
            "capabilities": {},
            "clientInfo": {"name": "soak-hostile", "version": "0"},
        },
    }


class Tally:
    """What each kind of hostile request got back."""

    def __init__(self) -> None:
        self.counts: Counter[str] = Counter()

    def add(self, kind: str, outcome: object) -> None:
        self.counts[f"{kind}: {outcome}"] += 1


async def well_behaved(
    url: str, c: int, until: float, makers: dict[str, Callable[[int], dict[str, Any]]]
) -> tuple[list[float], list[str]]:
    tools = list(makers)
    latencies: list[float] = []
    errors: list[str] = []
    async with http_client(url, good_token(c)) as client:
        j = 0
        while time.monotonic() < until:
            tool = tools[(c + j) % len(tools)]
            t0 = time.perf_counter()
            try:
                result = await client.call_tool(tool, makers[tool](c * 100_003 + j))
                if result.is_error:
                    errors.append(f"{tool}: {result.content[0]}")
            except Exception as exc:  # an error for a well-behaved client is what we count
                errors.append(f"{tool}: {type(exc).__name__}: {exc}")
            latencies.append((time.perf_counter() - t0) * 1000)
            j += 1
    return latencies, errors


async def flood(url: str, until: float, width: int, tally: Tally) -> None:
    """`width` heavy calls at once, again and again, on the hostile token."""
    async with http_client(url, HOSTILE) as client:
        while time.monotonic() < until:
            answers = await asyncio.gather(
                *(client.call_tool("recommend_for_preferences", HEAVY) for _ in range(width)),
                return_exceptions=True,
            )
            for answer in answers:
                if isinstance(answer, BaseException):
                    tally.add("heavy call", f"{type(answer).__name__}: {str(answer)[:60]}")
                elif answer.is_error:
                    text = getattr(answer.content[0], "text", "")
                    tally.add("heavy call", "busy" if text.startswith("busy:") else "error")
                else:
                    tally.add("heavy call", "answered")


async def raw_abuse(url: str, port: int, until: float, tally: Tally) -> None:
    """Oversized and malformed bodies, dropped connections, sessions never closed."""
    auth = {**HEADERS, "Authorization": f"Bearer {HOSTILE}"}
    names = {f"unknown_argument_{i}": i for i in range(120_000)}
    bad_bodies = [
        b"not json",
        b"[" * 5000,
        b'[{"jsonrpc":"2.0","id":1,"method":"ping"}]',
        b'{"jsonrpc":"1.0","id":1,"method":"ping"}',
        b'{"jsonrpc":"2.0","id":{"a":1},"method":"ping"}',
    ]
    async with httpx.AsyncClient(timeout=30) as http:
        opened = await http.post(url, json=_initialize(), headers=auth)
        session = {
            **auth,
            "mcp-session-id": opened.headers.get("mcp-session-id", ""),
            "mcp-protocol-version": PROTOCOL_VERSION,
        }
        note = {"jsonrpc": "2.0", "method": "notifications/initialized"}
        await http.post(url, json=note, headers=session)
        i = 0
        while time.monotonic() < until:
            i += 1
            r = await http.post(url, content=b"x" * (5 * 1024 * 1024), headers=auth)
            tally.add("5 MiB body", r.status_code)
            r = await http.post(url, content=bad_bodies[i % len(bad_bodies)], headers=session)
            tally.add("malformed body", r.status_code)
            r = await http.post(url, json=_initialize(), headers=auth)  # never closed
            tally.add("new session", r.status_code)
            if i % 5 == 0:
                body = {
                    "jsonrpc": "2.0",
                    "id": i,
                    "method": "tools/call",
                    "params": {"name": "get_movie", "arguments": {"movie_id": 1, **names}},
                }
                r = await http.post(url, content=json.dumps(body).encode(), headers=session)
                tally.add("120,000 unknown names", f"{r.status_code}, {len(r.content)} bytes")
            for kind, payload in (
                ("dropped before headers", b""),
                ("dropped mid-headers", b"POST /mcp HTTP/1.1\r\nHost: 127.0.0.1\r\nX-A: "),
                ("dropped mid-body", b"POST /mcp HTTP/1.1\r\nContent-Length: 900\r\n\r\n{"),
            ):
                await asyncio.to_thread(_drop, port, payload)
                tally.add(kind, "done")
            await asyncio.sleep(0.2)


def _drop(port: int, payload: bytes) -> None:
    with socket.create_connection(("127.0.0.1", port), timeout=5) as sock:
        if payload:
            sock.sendall(payload)


async def soak(
    url: str, port: int, args: argparse.Namespace, makers: Any, seconds: float, hostile: bool
) -> dict[str, Any]:
    tally = Tally()
    until = time.monotonic() + seconds
    started = time.perf_counter()
    good = [well_behaved(url, c, until, makers) for c in range(args.clients)]
    attacks = [flood(url, until, args.flood, tally), raw_abuse(url, port, until, tally)]
    results = await asyncio.gather(*good, *(attacks if hostile else []))
    elapsed = time.perf_counter() - started
    latencies = [x for lat, _ in results[: args.clients] for x in lat]
    errors = [e for _, errs in results[: args.clients] for e in errs]
    return {"elapsed": elapsed, "latencies": latencies, "errors": errors, "hostile": tally.counts}


def _well_behaved_lines(out: dict[str, Any]) -> list[str]:
    lat = np.asarray(out["latencies"])
    lines = [
        f"- calls: {len(lat)} in {out['elapsed']:.0f} s = **{len(lat) / out['elapsed']:.0f} "
        "calls/s**",
        f"- latency: p50 {np.percentile(lat, 50):.1f} ms, p90 {np.percentile(lat, 90):.1f} ms, "
        f"**p99 {np.percentile(lat, 99):.1f} ms**, max {lat.max():.0f} ms "
        f"(mean {statistics.fmean(lat):.1f} ms)",
        f"- errors: **{len(out['errors'])}** (goal 0)",
    ]
    return lines + [f"  - {e}" for e in out["errors"][:5]]


def report(
    args: argparse.Namespace, alone: dict[str, Any], out: dict[str, Any], rss: dict[str, int]
) -> str:
    load = ", ".join(f"{x:.1f}" for x in os.getloadavg())
    lines = [
        "# Soak: well-behaved clients beside a hostile one",
        "",
        f"Measured {datetime.now(UTC):%Y-%m-%d %H:%M} UTC on {platform.machine()}, "
        f"{os.cpu_count()} cores shared with other jobs (load average {load} "
        f"at the end), Python {platform.python_version()}; model bundle `models/default`; "
        "the server's default limits, except an idle-session timeout of "
        f"{IDLE_S} s so that reaping happens within the run.",
        "",
        "Reproduce with:",
        "",
        "```",
        f".venv/bin/python bench/bench_soak.py --clients {args.clients} --seconds {args.seconds} "
        f"--flood {args.flood} --alone {args.alone}",
        "```",
        "",
        f"## Well-behaved clients alone ({args.clients}, a token each, mixed calls one after "
        f"another, {args.alone:g} s first)",
        "",
        *_well_behaved_lines(alone),
        "",
        f"## The same clients beside the hostile one ({args.seconds:g} s)",
        "",
        *_well_behaved_lines(out),
    ]
    lines += [
        "",
        "## The hostile client (another token), all at the same time",
        "",
        "| request | outcome | count |",
        "|---|---|---:|",
    ]
    for key, count in sorted(out["hostile"].items()):
        kind, _, outcome = key.partition(": ")
        lines.append(f"| {kind} | {outcome} | {count} |")
    lines += [
        "",
        "## Server memory (VmRSS)",
        "",
        f"- before the clients: {rss['before'] / 1024:.0f} MB",
        f"- at the end of the run: {rss['end'] / 1024:.0f} MB "
        f"(peak VmHWM {rss['peak'] / 1024:.0f} MB)",
        f"- {IDLE_S + 15} s later, the hostile sessions reaped: {rss['after'] / 1024:.0f} MB",
        "",
        *NOTES.splitlines(),
        "",
        "What the server guarantees under this load is in the README's *Security* section.",
    ]
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", type=Path, default=None)
    parser.add_argument("--clients", type=int, default=16)
    parser.add_argument("--seconds", type=float, default=120.0)
    parser.add_argument("--flood", type=int, default=64, help="heavy calls sent at once")
    parser.add_argument("--alone", type=float, default=30.0, help="seconds without the hostile")
    parser.add_argument("--out", type=Path, default=RESULTS)
    args = parser.parse_args(argv)
    model = model_dir(str(args.model) if args.model else None)
    makers = call_makers(model)
    with tempfile.NamedTemporaryFile("w", suffix=".tokens") as tokens:
        tokens.write("".join(f"{good_token(c)}\n" for c in range(args.clients)) + HOSTILE + "\n")
        tokens.flush()
        env = {"MOVIEREC_TOKEN_FILE": tokens.name, "MOVIEREC_LIMITS": f"session_idle_s={IDLE_S}"}
        with http_server(model, extra_env=env) as server:
            pid = server.process.pid
            rss = {"before": memory_kb(pid)["VmRSS"]}
            alone = asyncio.run(soak(server.url, server.port, args, makers, args.alone, False))
            out = asyncio.run(soak(server.url, server.port, args, makers, args.seconds, True))
            mem = memory_kb(pid)
            rss.update(end=mem["VmRSS"], peak=mem["VmHWM"])
            time.sleep(IDLE_S + 15)
            rss["after"] = memory_kb(pid)["VmRSS"]
            if "Traceback" in server.stderr():
                print(server.stderr()[-3000:], file=sys.stderr)
    text = report(args, alone, out, rss)
    args.out.write_text(text)
    print(text)
    return 0 if not out["errors"] and not alone["errors"] else 1


if __name__ == "__main__":
    sys.exit(main())
