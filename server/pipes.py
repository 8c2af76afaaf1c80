"""stdio served through the event loop's own pipe transports.

The SDK's `stdio_server()` reads and writes the standard streams through
`anyio.wrap_file`, which hands every line read, every write and every flush to
a worker thread. On our two-core machines those hops were 0.5-1 ms of each
tool call's latency. When stdin and stdout are pipes (how Claude Desktop and
every MCP client start a server), asyncio can read and write them directly;
otherwise (a regular file, Windows) we leave it to the SDK.

Like the SDK, we keep the wire to ourselves while serving: fd 0 reads the null
device and fd 1 writes to stderr, so a stray print (ours or a library's) can
never corrupt a protocol frame. Both are restored on exit.
"""

from __future__ import annotations

import asyncio
import os
import stat
import sys
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager, contextmanager, suppress
from typing import Any, BinaryIO

from mcp.server.mcpserver import MCPServer
from mcp.server.stdio import stdio_server

# Far above any request our tools accept (their string and list arguments are
# capped); a longer line is answered as malformed instead of stopping the server.
MAX_LINE = 4 * 1024 * 1024
OVERSIZED = "<a line over 4 MiB was dropped>"


def pipes_usable() -> bool:
    """Whether stdin and stdout are pipes or sockets, which asyncio reads without threads."""
    if sys.platform == "win32":
        return False
    try:
        modes = [os.fstat(fd).st_mode for fd in (0, 1)]
    except OSError:
        return False
    return all(stat.S_ISFIFO(m) or stat.S_ISSOCK(m) for m in modes)


class _Lines:
    """The protocol's input as text lines: what the SDK iterates over."""

    def __init__(self, reader: asyncio.StreamReader) -> None:
        self._reader = reader

    def __aiter__(self) -> _Lines:
        return self

    async def __anext__(self) -> str:
        try:
            line = await self._reader.readline()
        except ValueError:
            # Over MAX_LINE: the reader has skipped it; hand the SDK something that
            # fails JSON parsing, so it answers a parse error and reads on.
            return OVERSIZED
        if not line:
            raise StopAsyncIteration
        return line.decode("utf-8", errors="replace")


class _Frames:
    """The protocol's output: `write` queues a frame, `flush` waits until the pipe took it."""

    def __init__(self, writer: asyncio.StreamWriter) -> None:
        self._writer = writer

    async def write(self, text: str) -> None:
        self._writer.write(text.encode("utf-8"))

    async def flush(self) -> None:
        await self._writer.drain()


@contextmanager
def _claimed_wire() -> Iterator[tuple[int, int]]:
    """Private duplicates of fds 0 and 1 for the protocol; fd 0 -> null, fd 1 -> stderr."""
    sys.stdout.flush()
    blocking = [os.get_blocking(fd) for fd in (0, 1)]
    wire_in, wire_out = os.dup(0), os.dup(1)
    saved_in, saved_out = os.dup(0), os.dup(1)
    null = os.open(os.devnull, os.O_RDONLY)
    try:
        os.dup2(null, 0)
        os.dup2(2, 1)
        yield wire_in, wire_out
    finally:
        os.close(null)
        with suppress(OSError):
            sys.stdout.flush()
        os.dup2(saved_in, 0)
        os.dup2(saved_out, 1)
        os.close(saved_in)
        os.close(saved_out)
        # The pipe transports made the shared descriptions non-blocking.
        for fd, was in zip((0, 1), blocking, strict=True):
            with suppress(OSError):
                os.set_blocking(fd, was)


@asynccontextmanager
async def pipe_streams() -> AsyncIterator[tuple[Any, Any]]:
    """The SDK's (read, write) message streams over stdin/stdout pipes, without threads."""
    # Any: stdio_server is unannotated, and the stream protocols are private to the SDK.
    loop = asyncio.get_running_loop()
    with _claimed_wire() as (wire_in, wire_out):
        stdin: BinaryIO = os.fdopen(wire_in, "rb", buffering=0)
        stdout: BinaryIO = os.fdopen(wire_out, "wb", buffering=0)
        reader = asyncio.StreamReader(limit=MAX_LINE)
        read_transport, _ = await loop.connect_read_pipe(
            lambda: asyncio.StreamReaderProtocol(reader), stdin
        )
        write_transport, protocol = await loop.connect_write_pipe(
            asyncio.streams.FlowControlMixin, stdout
        )
        writer = asyncio.StreamWriter(write_transport, protocol, reader, loop)
        try:
            async with stdio_server(
                stdin=_Lines(reader),  # type: ignore[arg-type]  # the SDK only iterates it
                stdout=_Frames(writer),  # type: ignore[arg-type]  # it only awaits write, flush
            ) as streams:
                yield streams
        finally:
            read_transport.close()
            write_transport.close()


async def serve_streams(mcp: MCPServer, read_stream: Any, write_stream: Any) -> None:
    """Run `mcp` over the given message streams: the one place we use SDK internals.

    mcp 2.3 has no public way to run an MCPServer over streams of one's own;
    its `run_stdio_async` does exactly this over its threaded stdio streams.
    pyproject.toml pins the SDK's minor version, and tests/test_server_pipes.py
    fails loudly if `run_stdio_async` stops doing this.
    """
    server = mcp._lowlevel_server  # noqa: SLF001 - see the docstring
    await server.run(read_stream, write_stream, server.create_initialization_options())
