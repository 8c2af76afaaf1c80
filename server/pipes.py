"""The stdio wire: bytes in and out of the process's stdin and stdout, split into lines.

The SDK's `stdio_server()` reads and writes the standard streams through
`anyio.wrap_file`, which hands every line read, every write and every flush to
a worker thread. On our two-core machines those hops were 0.5-1 ms of each
tool call's latency (bench/results/server.md compares both). When stdin or
stdout is a pipe or socket (how Claude Desktop and every MCP client start a
server), asyncio reads or writes it directly; a regular file or a terminal is
read or written by a worker thread.

Like the SDK, we keep the wire to ourselves while serving: fd 0 reads the null
device and fd 1 writes to stderr, so a stray print (ours or a library's) can
never corrupt a protocol frame. Both are restored on exit.
"""

from __future__ import annotations

import asyncio
import os
import stat
import sys
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from contextlib import asynccontextmanager, contextmanager, suppress
from dataclasses import dataclass
from typing import Any

import anyio
import anyio.to_thread
from mcp.server.mcpserver import MCPServer

from server.limits import Limits

# Far above any request our tools accept (their string and list arguments are
# capped); a longer line is skipped unread and answered as malformed.
MAX_LINE = Limits().max_line_bytes
_CHUNK = 64 * 1024


class Oversized:
    """A line longer than the limit: skipped to its end, never held in memory."""


OVERSIZED = Oversized()


def is_pipe(fd: int) -> bool:
    """Whether fd is a pipe or socket, which asyncio reads and writes without threads."""
    if sys.platform == "win32":
        return False
    try:
        mode = os.fstat(fd).st_mode
    except OSError:
        return False
    return stat.S_ISFIFO(mode) or stat.S_ISSOCK(mode)


def pipes_usable() -> bool:
    """Whether stdin and stdout are both pipes or sockets."""
    return is_pipe(0) and is_pipe(1)


class LineReader:
    """Lines from a byte source; a line over `limit` comes out once as OVERSIZED."""

    def __init__(self, read_chunk: Callable[[], Awaitable[bytes]], limit: int) -> None:
        self._read_chunk = read_chunk
        self._limit = limit
        self._buffer = bytearray()
        self._skipping = False
        self._eof = False
        self._stopped = False
        self._reading = anyio.CancelScope()

    def stop(self) -> None:
        """Read nothing more; the complete lines already read still come out, then None."""
        self._stopped = self._eof = True
        self._reading.cancel()

    async def next_line(self) -> bytes | Oversized | None:
        """The next line (without its newline), OVERSIZED, or None at end of input."""
        while True:
            end = self._buffer.find(b"\n")
            if end >= 0:
                line = bytes(self._buffer[:end])
                del self._buffer[: end + 1]
                if self._skipping:
                    self._skipping = False
                    return OVERSIZED
                if len(line) > self._limit:
                    return OVERSIZED
                return line
            if self._eof:
                return self._last_line()
            if len(self._buffer) > self._limit:
                # Forget what we hold; drop the rest of this line as it arrives.
                self._buffer.clear()
                self._skipping = True
            chunk = b""
            with anyio.CancelScope() as self._reading:
                chunk = await self._read_chunk()
            if not chunk or self._stopped:
                self._eof = True
                chunk = b""
            self._buffer += chunk

    def _last_line(self) -> bytes | Oversized | None:
        """What is left at end of input: an unterminated last line counts as a line."""
        if self._stopped:  # a line cut off by the stop, not by the client
            self._buffer.clear()
            return None
        if self._skipping:
            self._skipping = False
            return OVERSIZED
        if not self._buffer:
            return None
        line = bytes(self._buffer)
        self._buffer.clear()
        return line


@dataclass
class Wire:
    """The protocol's two ends: where lines come from, and how a frame is written."""

    lines: LineReader
    write: Callable[[bytes], Awaitable[None]]
    threaded: bool  # whether either end goes through worker threads


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


async def _pipe_source(fd: int) -> tuple[Callable[[], Awaitable[bytes]], Any]:
    loop = asyncio.get_running_loop()
    reader = asyncio.StreamReader(limit=_CHUNK)
    transport, _ = await loop.connect_read_pipe(
        lambda: asyncio.StreamReaderProtocol(reader), os.fdopen(fd, "rb", 0, closefd=False)
    )
    return (lambda: reader.read(_CHUNK)), transport


async def _pipe_sink(fd: int) -> tuple[Callable[[bytes], Awaitable[None]], Any]:
    loop = asyncio.get_running_loop()
    transport, protocol = await loop.connect_write_pipe(
        asyncio.streams.FlowControlMixin, os.fdopen(fd, "wb", 0, closefd=False)
    )
    # drain() then waits until the pipe took every byte, so nothing is lost at exit.
    transport.set_write_buffer_limits(high=0)
    writer = asyncio.StreamWriter(transport, protocol, None, loop)

    async def write(frame: bytes) -> None:
        writer.write(frame)
        await writer.drain()

    return write, transport


def _thread_source(fd: int) -> Callable[[], Awaitable[bytes]]:
    async def read() -> bytes:
        # Abandoned on cancel: a read from a terminal may never return.
        return await anyio.to_thread.run_sync(os.read, fd, _CHUNK, abandon_on_cancel=True)

    return read


def _thread_sink(fd: int) -> Callable[[bytes], Awaitable[None]]:
    def write_all(frame: bytes) -> None:
        view = memoryview(frame)
        while view:
            view = view[os.write(fd, view) :]

    async def write(frame: bytes) -> None:
        await anyio.to_thread.run_sync(write_all, frame)

    return write


@asynccontextmanager
async def open_wire(limit: int) -> AsyncIterator[Wire]:
    """The process's stdin and stdout as a Wire, claimed for the protocol while open."""
    transports: list[Any] = []
    with _claimed_wire() as (wire_in, wire_out):
        closable = [wire_out]
        try:
            if is_pipe(wire_in):
                read_chunk, transport = await _pipe_source(wire_in)
                transports.append(transport)
                closable.append(wire_in)
            else:
                # Never closed: an abandoned read may still block on it, and a reused
                # descriptor number would then be read from.
                read_chunk = _thread_source(wire_in)
            if is_pipe(wire_out):
                write, transport = await _pipe_sink(wire_out)
                transports.append(transport)
            else:
                write = _thread_sink(wire_out)
            threaded = len(transports) < 2
            yield Wire(LineReader(read_chunk, limit), write, threaded)
        finally:
            for transport in transports:
                transport.close()
            for fd in closable:
                with suppress(OSError):
                    os.close(fd)


async def serve_streams(mcp: MCPServer, read_stream: Any, write_stream: Any) -> None:
    """Run `mcp` over the given message streams: the one place we use SDK internals.

    mcp 2.3 has no public way to run an MCPServer over streams of one's own;
    its `run_stdio_async` does exactly this over its threaded stdio streams.
    pyproject.toml pins the SDK's minor version, and tests/test_sdk_seam.py
    fails loudly if `run_stdio_async` stops doing this.
    """
    server = mcp._lowlevel_server  # noqa: SLF001 - see the docstring
    await server.run(read_stream, write_stream, server.create_initialization_options())
