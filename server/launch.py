"""Starting `movierec serve` as a child process and connecting a real MCP client to it.

Shared by the demo, the tests and the benchmark, which all drive the server
the way an assistant does: as a separate process over stdio or HTTP.
`wire_session` speaks the bare JSON-RPC lines instead of using the SDK client:
the benchmark times the server with it (the SDK client adds its own result
validation to every call), and tests send it frames no real client would.
"""

from __future__ import annotations

import itertools
import json
import os
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager, contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

from mcp import Client
from mcp.client.stdio import StdioServerParameters
from mcp_types.version import LATEST_HANDSHAKE_VERSION


def serve_argv(model: Path | str | None = None, *extra: str) -> list[str]:
    """`python -m server ...` with this interpreter: the same as `movierec serve ...`."""
    argv = [sys.executable, "-m", "server"]
    if model is not None:
        argv += ["--model", str(model)]
    return argv + list(extra)


def stdio_params(
    model: Path | str | None = None, env: dict[str, str] | None = None
) -> StdioServerParameters:
    """The SDK client passes a child only a few variables (HOME, PATH, ...): the profile
    store's location is passed on too, so a child keeps its profiles where its parent says."""
    argv = serve_argv(model)
    passed = {k: os.environ[k] for k in ("MOVIEREC_PROFILES",) if k in os.environ}
    return StdioServerParameters(command=argv[0], args=argv[1:], env={**passed, **(env or {})})


# The version the SDK's own client opens a session with.
PROTOCOL_VERSION = LATEST_HANDSHAKE_VERSION


@dataclass
class WireClient:
    """One stdio server process and the JSON-RPC lines exchanged with it."""

    process: subprocess.Popen[bytes]
    _ids: Iterator[int] = field(default_factory=lambda: itertools.count(1))

    def send(self, message: dict[str, Any] | bytes) -> None:
        line = message if isinstance(message, bytes) else json.dumps(message).encode()
        assert self.process.stdin is not None
        self.process.stdin.write(line + b"\n")
        self.process.stdin.flush()

    def receive(self) -> dict[str, Any]:
        assert self.process.stdout is not None
        line = self.process.stdout.readline()
        if not line:
            raise EOFError(f"the server closed stdout (exit code {self.process.poll()})")
        message: dict[str, Any] = json.loads(line)
        return message

    def request(self, method: str, params: dict[str, Any] | None = None) -> dict[str, Any]:
        """Send one request and return its response, skipping any notifications before it."""
        request_id = next(self._ids)
        message: dict[str, Any] = {"jsonrpc": "2.0", "id": request_id, "method": method}
        if params is not None:
            message["params"] = params
        self.send(message)
        while True:
            answer = self.receive()
            if answer.get("id") == request_id:
                return answer

    def call_tool(self, name: str, arguments: dict[str, Any]) -> dict[str, Any]:
        """The tools/call result (content, structuredContent, isError)."""
        answer = self.request("tools/call", {"name": name, "arguments": arguments})
        if "result" not in answer:
            raise RuntimeError(f"{name} answered a protocol error: {answer.get('error')}")
        result: dict[str, Any] = answer["result"]
        return result


@contextmanager
def wire_session(
    model: Path | str | None = None,
    *,
    stderr: IO[bytes] | int = subprocess.DEVNULL,
    env: dict[str, str] | None = None,
) -> Iterator[WireClient]:
    """`movierec serve` over stdio pipes, initialized; closing stdin ends it on exit."""
    process = subprocess.Popen(
        serve_argv(model), stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=stderr, env=env
    )
    client = WireClient(process)
    try:
        hello = client.request(
            "initialize",
            {
                "protocolVersion": PROTOCOL_VERSION,
                "capabilities": {},
                "clientInfo": {"name": "movierec-wire", "version": "0"},
            },
        )
        if "result" not in hello:
            raise RuntimeError(f"initialize failed: {hello}")
        client.send({"jsonrpc": "2.0", "method": "notifications/initialized"})
        yield client
    finally:
        assert process.stdin is not None
        process.stdin.close()
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
        if process.stdout is not None:
            process.stdout.close()


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


@dataclass
class HttpServer:
    process: subprocess.Popen[bytes]
    url: str
    port: int
    log: IO[str]

    def stderr(self) -> str:
        self.log.flush()
        self.log.seek(0)
        return self.log.read()


def _wait_ready(server: HttpServer, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if server.process.poll() is not None:
            raise RuntimeError(
                f"server exited with {server.process.returncode}:\n{server.stderr()[-3000:]}"
            )
        try:
            with socket.create_connection(("127.0.0.1", server.port), timeout=0.2):
                return
        except OSError:
            time.sleep(0.05)
    raise TimeoutError(f"server not ready after {timeout} s:\n{server.stderr()[-3000:]}")


@contextmanager
def http_server(
    model: Path | str | None,
    *,
    token: str | None = None,
    port: int | None = None,
    extra_env: dict[str, str] | None = None,
    timeout: float = 90.0,
) -> Iterator[HttpServer]:
    """`movierec serve --transport http` on a free loopback port, stopped on exit."""
    port = port or free_port()
    env = {k: v for k, v in os.environ.items() if k != "MOVIEREC_TOKEN"}
    if token:
        env["MOVIEREC_TOKEN"] = token
    env.update(extra_env or {})
    argv = serve_argv(model, "--transport", "http", "--port", str(port))
    with tempfile.TemporaryFile("w+") as log:
        process = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=log, stderr=log, env=env)
        server = HttpServer(process, f"http://127.0.0.1:{port}/mcp", port, log)
        try:
            _wait_ready(server, timeout)
            yield server
        finally:
            process.terminate()
            try:
                process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()


@asynccontextmanager
async def http_client(url: str, token: str | None = None) -> AsyncIterator[Client]:
    """A connected MCP client over streamable HTTP, sending the bearer token when given."""
    import httpx2
    from mcp.client.streamable_http import streamable_http_client

    headers = {"Authorization": f"Bearer {token}"} if token else {}
    async with httpx2.AsyncClient(headers=headers, timeout=httpx2.Timeout(30, read=300)) as http:
        async with Client(streamable_http_client(url, http_client=http)) as client:
            yield client


def memory_kb(pid: int) -> dict[str, int]:
    """VmRSS (now) and VmHWM (peak) of a process, in kB, from /proc."""
    out: dict[str, int] = {}
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        key, _, value = line.partition(":")
        if key in ("VmRSS", "VmHWM"):
            out[key] = int(value.split()[0])
    return out
