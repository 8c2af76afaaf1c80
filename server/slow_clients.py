"""HTTP read timeouts: a connection that is slow to send its headers or its body is closed.

uvicorn closes a connection that stays idle after an answer (keep-alive), but
waits forever for headers that never end or a body that never arrives. This
protocol, uvicorn's own h11 protocol plus two timers, closes such connections:
`header_timeout_s` from the connection (or the end of the previous answer) to
the end of the headers, however slowly bytes trickle in, and `body_timeout_s`
from the headers to the end of the body. Nothing times out while the server
answers, so the event streams of streamable HTTP stay open (kept alive by
their pings).
"""

from __future__ import annotations

import asyncio
from typing import Any

from uvicorn.protocols.http.h11_impl import H11Protocol


class _TimedH11Protocol(H11Protocol):
    header_timeout_s: float = 10.0
    body_timeout_s: float = 30.0

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._header_timer: asyncio.TimerHandle | None = None
        self._body_timer: asyncio.TimerHandle | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        super().connection_made(transport)  # type: ignore[arg-type]
        self._watch()

    def data_received(self, data: bytes) -> None:
        super().data_received(data)
        self._watch()

    def on_response_complete(self) -> None:
        super().on_response_complete()
        self._watch()

    def connection_lost(self, exc: Exception | None) -> None:
        self._header_timer = _cancelled(self._header_timer)
        self._body_timer = _cancelled(self._body_timer)
        super().connection_lost(exc)

    def _awaiting_headers(self) -> bool:
        return self.cycle is None or self.cycle.response_complete

    def _watch(self) -> None:
        """Arm the timer for what the client owes now; data arriving never re-arms it."""
        if self.transport.is_closing():
            return
        if self._awaiting_headers():
            self._body_timer = _cancelled(self._body_timer)
            if self._header_timer is None:
                self._header_timer = self.loop.call_later(self.header_timeout_s, self._expire)
            return
        self._header_timer = _cancelled(self._header_timer)
        if not self.cycle.more_body:
            self._body_timer = _cancelled(self._body_timer)
        elif self._body_timer is None:
            self._body_timer = self.loop.call_later(self.body_timeout_s, self._expire)

    def _expire(self) -> None:
        self._header_timer = self._body_timer = None
        late_headers = self._awaiting_headers()
        if late_headers or self.cycle.more_body:
            what = "headers" if late_headers else "request body"
            self.logger.info("closing a connection that was too slow to send its %s", what)
            self.transport.close()


def _cancelled(timer: asyncio.TimerHandle | None) -> asyncio.TimerHandle | None:
    """Cancels `timer` if set; returns what the slot holds after (always None)."""
    if timer is not None:
        timer.cancel()
    return None


def timed_protocol(header_timeout_s: float, body_timeout_s: float) -> type[H11Protocol]:
    """uvicorn's h11 protocol with these header and body read timeouts (for `Config(http=...)`)."""
    return type(
        "TimedH11Protocol",
        (_TimedH11Protocol,),
        {"header_timeout_s": header_timeout_s, "body_timeout_s": body_timeout_s},
    )
