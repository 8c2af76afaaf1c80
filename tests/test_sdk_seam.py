"""The one SDK internal the server relies on is still there and still means the same.

`server.pipes.serve_streams` runs an `MCPServer` over our own stdio streams the way the SDK's
own `run_stdio_async` does, through `_lowlevel_server`; mcp 2.3 offers no public way. These
tests fail loudly when an SDK release changes that, instead of the server breaking silently.
"""

from __future__ import annotations

import inspect
from importlib.metadata import version

from mcp.server.lowlevel import Server
from mcp.server.mcpserver import MCPServer


def test_the_sdk_is_the_pinned_minor_version() -> None:
    major, minor = version("mcp").split(".")[:2]
    assert (major, minor) == ("2", "3"), "re-check server.pipes.serve_streams, then the pin"


def test_run_stdio_async_still_runs_the_lowlevel_server_over_its_streams() -> None:
    source = inspect.getsource(MCPServer.run_stdio_async)
    assert "self._lowlevel_server.run(" in source
    assert "create_initialization_options()" in source


def test_the_lowlevel_server_is_what_serve_streams_expects() -> None:
    server = MCPServer(name="seam")
    low = server._lowlevel_server
    assert isinstance(low, Server)
    assert list(inspect.signature(low.run).parameters)[:3] == [
        "read_stream",
        "write_stream",
        "initialization_options",
    ]
    assert low.create_initialization_options().server_name == "seam"
