"""Running a built server over stdio or streamable HTTP.

stdio owns stdout for the protocol, so everything else goes to stderr. HTTP
binds loopback by default with Host/Origin checking on (DNS-rebinding
protection), and puts the bearer-token gate in front when a token is set. The
HTTP socket is bound before the model loads, so a port in use is one line at
once; sessions, body size and read timeouts follow `Limits`.
"""

from __future__ import annotations

import errno
import logging
import socket
from typing import TYPE_CHECKING

import anyio
import anyio.to_thread
from mcp.server.mcpserver import MCPServer
from mcp.server.transport_security import TransportSecuritySettings
from starlette.types import ASGIApp

from server.auth import BearerTokenGate, check_bind, is_loopback
from server.errors import EXIT_UNAVAILABLE, EXIT_USAGE, StartupError
from server.limits import Limits
from server.sessions import SessionGuard, trim_after_sessions_end
from server.slow_clients import timed_protocol

if TYPE_CHECKING:
    from server.app import MovierecServer

log = logging.getLogger("movierec.server")

MCP_PATH = "/mcp"
_LOOPBACK_NAMES = ("127.0.0.1", "localhost", "[::1]")
_WILDCARDS = ("0.0.0.0", "::", "[::]")


def run_stdio(mcp: MovierecServer, streams: str = "own") -> None:
    """Serve over stdio through our streams (`server.stdio`) or, with "sdk", the SDK's."""
    log.info("serving MCP over stdio")

    async def serve() -> None:
        share_workers(mcp.limits)
        await (mcp.run_sdk_stdio_async() if streams == "sdk" else mcp.run_stdio_async())

    anyio.run(serve)


def share_workers(limits: Limits) -> None:
    """Size the worker threads tool bodies run on (called on the event loop)."""
    anyio.to_thread.current_default_thread_limiter().total_tokens = limits.worker_threads


def bind_socket(host: str, port: int) -> socket.socket:
    """A socket bound to host:port (not yet listening), or a StartupError saying why not."""
    try:
        family, kind, proto, _, address = socket.getaddrinfo(
            host.strip("[]"), port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE
        )[0]
    except socket.gaierror as exc:
        raise StartupError(
            f"cannot bind --host {host}: {exc.strerror}; give an address of this machine "
            "(127.0.0.1 is the default)",
            EXIT_USAGE,
        ) from None
    sock = socket.socket(family, kind, proto)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind(address)
    except OSError as exc:
        sock.close()
        raise StartupError(_bind_failure(host, port, exc), _bind_exit(exc)) from None
    return sock


def _bind_failure(host: str, port: int, exc: OSError) -> str:
    if exc.errno == errno.EADDRINUSE:
        return (
            f"port {port} on {host} is already in use by another program; stop it or choose "
            "another --port"
        )
    if exc.errno == errno.EACCES:
        return f"not permitted to bind port {port} on {host}; choose a --port of 1024 or above"
    if exc.errno == errno.EADDRNOTAVAIL:
        return f"cannot bind --host {host}: it is not an address of this machine"
    return f"cannot bind {host}:{port}: {exc.strerror or exc}"


def _bind_exit(exc: OSError) -> int:
    return EXIT_USAGE if exc.errno == errno.EADDRNOTAVAIL else EXIT_UNAVAILABLE


def transport_security(host: str) -> TransportSecuritySettings:
    """Host/Origin allow-lists: loopback names, plus the bound name when that is not loopback.

    A wildcard bind (0.0.0.0) cannot know the names clients will use, so the
    header check is off there; `check_bind` has already made the token mandatory.
    """
    if host in _WILDCARDS:
        log.warning(
            "bound to %s: Host-header checking is off; the bearer token guards access", host
        )
        return TransportSecuritySettings(enable_dns_rebinding_protection=False)
    names = list(_LOOPBACK_NAMES)
    if not is_loopback(host):
        names.append(f"[{host}]" if ":" in host else host)
    return TransportSecuritySettings(
        enable_dns_rebinding_protection=True,
        allowed_hosts=[*names, *(f"{n}:*" for n in names)],
        allowed_origins=[
            f"{scheme}://{n}{port}"
            for n in names
            for scheme in ("http", "https")
            for port in ("", ":*")
        ],
    )


def http_app(
    mcp: MCPServer, host: str, tokens: tuple[str, ...], limits: Limits
) -> tuple[ASGIApp, SessionGuard]:
    """The ASGI app: token gate (when tokens are set), per-credential session cap, the SDK's app."""
    check_bind(host, tokens[0] if tokens else None)
    sdk_app: ASGIApp = mcp.streamable_http_app(
        streamable_http_path=MCP_PATH,
        transport_security=transport_security(host),
        host=host,
        max_request_body_size=limits.max_body_bytes,
        session_idle_timeout=limits.session_idle_s,
        max_sessions=limits.max_sessions,
    )
    guard = SessionGuard(sdk_app, limits.sessions_per_credential, limits.session_idle_s)
    app: ASGIApp = BearerTokenGate(guard, tokens) if tokens else guard
    return app, guard


def run_http(
    mcp: MCPServer,
    sock: socket.socket,
    host: str,
    tokens: tuple[str, ...],
    limits: Limits,
) -> None:
    import asyncio

    import uvicorn
    from sse_starlette import EventSourceResponse

    app, guard = http_app(mcp, host, tokens, limits)
    port = sock.getsockname()[1]
    shown = f"[{host}]" if ":" in host else host
    url = f"http://{shown}:{port}{MCP_PATH}"
    guard_text = (
        f"bearer token required, {len(tokens)} accepted" if tokens else "no token: loopback only"
    )
    # Event streams send a comment line this often, so they never look idle to a proxy.
    EventSourceResponse.DEFAULT_PING_INTERVAL = limits.sse_ping_s  # type: ignore[assignment]
    server = uvicorn.Server(
        uvicorn.Config(
            app,
            log_level="warning",
            access_log=False,
            http=timed_protocol(limits.header_timeout_s, limits.body_timeout_s),
        )
    )

    async def serve() -> None:
        share_workers(limits)
        task = asyncio.create_task(server.serve(sockets=[sock]))
        trimmer = asyncio.create_task(
            trim_after_sessions_end(guard, min(30.0, limits.session_idle_s))
        )
        while not server.started and not task.done():
            await asyncio.sleep(0.02)
        if server.started:
            # Said only once the socket is listening, so it doubles as the readiness signal.
            log.info("serving MCP over streamable HTTP at %s (%s)", url, guard_text)
        try:
            await task
        finally:
            trimmer.cancel()

    asyncio.run(serve())
