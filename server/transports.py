"""Running a built server over stdio or streamable HTTP.

stdio owns stdout for the protocol, so everything else goes to stderr. HTTP
binds loopback by default with Host/Origin checking on (DNS-rebinding
protection), and puts the bearer-token gate in front when a token is set.
"""

from __future__ import annotations

import logging

import anyio
from mcp.server.mcpserver import MCPServer
from mcp.server.transport_security import TransportSecuritySettings
from starlette.types import ASGIApp

from server.auth import BearerTokenGate, check_bind, is_loopback

log = logging.getLogger("movierec.server")

MCP_PATH = "/mcp"
_LOOPBACK_NAMES = ("127.0.0.1", "localhost", "[::1]")
_WILDCARDS = ("0.0.0.0", "::", "[::]")


def run_stdio(mcp: MCPServer) -> None:
    log.info("serving MCP over stdio")
    anyio.run(mcp.run_stdio_async)


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


def http_app(mcp: MCPServer, host: str, token: str | None) -> ASGIApp:
    check_bind(host, token)
    app: ASGIApp = mcp.streamable_http_app(
        streamable_http_path=MCP_PATH, transport_security=transport_security(host), host=host
    )
    return BearerTokenGate(app, token) if token else app


def run_http(mcp: MCPServer, host: str, port: int, token: str | None) -> None:
    import asyncio

    import uvicorn

    app = http_app(mcp, host, token)
    shown = f"[{host}]" if ":" in host else host
    url = f"http://{shown}:{port}{MCP_PATH}"
    guard = "bearer token required" if token else "no token: loopback only"
    server = uvicorn.Server(
        uvicorn.Config(app, host=host, port=port, log_level="warning", access_log=False)
    )

    async def serve() -> None:
        task = asyncio.create_task(server.serve())
        while not server.started and not task.done():
            await asyncio.sleep(0.02)
        if server.started:
            # Said only once the socket is bound, so it doubles as the readiness signal.
            log.info("serving MCP over streamable HTTP at %s (%s)", url, guard)
        await task

    asyncio.run(serve())
