"""One MCP session over stdio: every line answered, and calls already read finished on exit.

Between the wire (`server.pipes`) and the SDK's message streams:

- each line goes through `server.frames.read_line`: a message goes on to the
  SDK, anything else is answered here with a JSON-RPC error, so the client never
  waits forever for a line the SDK dropped;
- requests passed on are counted until their answer is written, so when stdin
  ends (EOF) or the user presses Ctrl-C (SIGINT) reading stops and the calls
  already read are still answered (for at most `Limits.drain_s`), then the
  server exits 0 after one log line; a second Ctrl-C exits at once (status 130);
- a client that closes its end while we answer ends the session quietly.
"""

from __future__ import annotations

import asyncio
import logging
import os
import signal
from collections.abc import Callable
from typing import Any

import anyio
import anyio.abc
import mcp_types
from mcp.server.mcpserver import MCPServer
from mcp.shared.message import SessionMessage

from server.frames import Refusal, oversized, read_line
from server.limits import Limits
from server.pipes import OVERSIZED, Wire, open_wire, serve_streams

log = logging.getLogger("movierec.server")

INTERRUPTED_AGAIN = 130  # the shell's status for a process ended by SIGINT


class Pending:
    """Requests passed to the SDK and not yet answered, by id."""

    def __init__(self) -> None:
        self._ids: dict[tuple[type, Any], int] = {}
        self.read = 0
        self._empty = anyio.Event()
        self._empty.set()

    def add(self, ident: Any) -> None:
        key = (type(ident), ident)
        self._ids[key] = self._ids.get(key, 0) + 1
        self.read += 1
        if self._empty.is_set():
            self._empty = anyio.Event()

    def done(self, ident: Any) -> None:
        key = (type(ident), ident)
        left = self._ids.get(key, 0) - 1
        if left > 0:
            self._ids[key] = left
        else:
            self._ids.pop(key, None)
        if not self._ids:
            self._empty.set()

    def __len__(self) -> int:
        return sum(self._ids.values())

    async def drained(self, seconds: float) -> bool:
        """Wait until every request is answered, at most `seconds`; whether they all were."""
        with anyio.move_on_after(seconds):
            await self._empty.wait()
        return not self._ids


def _cancelled_request(message: mcp_types.JSONRPCMessage) -> Any:
    """The id a notifications/cancelled names (the SDK sends no answer for it), else None."""
    if isinstance(message, mcp_types.JSONRPCNotification) and (
        message.method == "notifications/cancelled"
    ):
        return (message.params or {}).get("requestId")
    return None


class StdioSession:
    """Reads lines into the SDK and writes its answers, until EOF, Ctrl-C or a closed pipe."""

    def __init__(self, wire: Wire, limits: Limits) -> None:
        self._wire = wire
        self._limits = limits
        self.pending = Pending()
        self.interrupted = False
        self.reason = "the client closed stdin"

    def interrupt(self) -> None:
        """Stop reading (from a signal handler); the calls already read are still answered."""
        self.interrupted = True
        self.reason = "interrupted"
        self._wire.lines.stop()
        log.info(
            "interrupted: answering the calls already read (at most %g s), then stopping; "
            "interrupt again to stop at once",
            self._limits.drain_s,
        )

    async def run(self, mcp: MCPServer) -> None:
        to_sdk, from_client = anyio.create_memory_object_stream[SessionMessage | Exception](0)
        to_client, from_sdk = anyio.create_memory_object_stream[SessionMessage | Refusal](16)
        async with anyio.create_task_group() as tg:
            tg.start_soon(self._write_answers, from_sdk, tg.cancel_scope)
            tg.start_soon(serve_streams, mcp, from_client, to_client.clone())
            async with to_client, to_sdk:
                await self._read_lines(to_sdk, to_client)
                answered = await self.pending.drained(self._limits.drain_s)
                self._log_stop(answered)

    async def _read_lines(
        self,
        to_sdk: anyio.abc.ObjectSendStream[SessionMessage | Exception],
        to_client: anyio.abc.ObjectSendStream[SessionMessage | Refusal],
    ) -> None:
        limit = self._limits.max_line_bytes
        while True:
            line = await self._wire.lines.next_line()
            if line is None:
                return
            item = oversized(limit) if line is OVERSIZED else read_line(line)  # type: ignore[arg-type]
            if item is None:
                continue
            if isinstance(item, Refusal):
                await to_client.send(item)
                continue
            await to_sdk.send(SessionMessage(item))
            if isinstance(item, mcp_types.JSONRPCRequest):
                self.pending.add(item.id)
            cancelled = _cancelled_request(item)
            if cancelled is not None:
                self.pending.done(cancelled)

    async def _write_answers(
        self,
        from_sdk: anyio.abc.ObjectReceiveStream[SessionMessage | Refusal],
        everything: anyio.CancelScope,
    ) -> None:
        async with from_sdk:
            async for item in from_sdk:
                if isinstance(item, Refusal):
                    frame = item.frame()
                else:
                    message = item.message
                    text = message.model_dump_json(by_alias=True, exclude_unset=True)
                    frame = text.encode() + b"\n"
                try:
                    await self._wire.write(frame)
                except (BrokenPipeError, ConnectionResetError):
                    # The client went away mid-answer: nobody is left to serve, so end quietly.
                    log.info("the client closed its end of the pipe; stopping")
                    everything.cancel()
                    return
                if isinstance(item, SessionMessage) and isinstance(
                    item.message, mcp_types.JSONRPCResponse | mcp_types.JSONRPCError
                ):
                    self.pending.done(item.message.id)

    def _log_stop(self, answered: bool) -> None:
        if answered and self.interrupted:
            return  # said when interrupted
        if answered:
            log.info("%s: answered all %d requests read; stopping", self.reason, self.pending.read)
        else:
            log.warning(
                "%s: %d of %d requests read were still unanswered after %g s; stopping",
                self.reason,
                len(self.pending),
                self.pending.read,
                self._limits.drain_s,
            )


def _exit_at_once() -> None:
    os.write(2, b"movierec: interrupted again; stopping at once\n")
    os._exit(INTERRUPTED_AGAIN)


def _install_interrupt(session: StdioSession) -> Callable[[], None]:
    """Ctrl-C stops reading; a second one exits at once. Returns the uninstaller."""
    loop = asyncio.get_running_loop()

    def on_interrupt() -> None:
        # One handler for both: two signals that arrive together both land here.
        if session.interrupted:
            _exit_at_once()
        session.interrupt()

    def uninstall() -> None:
        loop.remove_signal_handler(signal.SIGINT)

    loop.add_signal_handler(signal.SIGINT, on_interrupt)
    return uninstall


async def serve_stdio(mcp: MCPServer, limits: Limits) -> None:
    """Serve `mcp` over this process's stdin and stdout until EOF, Ctrl-C or a closed pipe."""
    async with open_wire(limits.max_line_bytes) as wire:
        if wire.threaded:
            log.info("stdin or stdout is not a pipe: using threaded stdio streams for it")
        else:
            log.info("stdio over pipes, read and written by the event loop")
        session = StdioSession(wire, limits)
        uninstall = _install_interrupt(session)
        try:
            await session.run(mcp)
        finally:
            uninstall()
