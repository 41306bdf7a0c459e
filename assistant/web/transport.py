"""How connections are read: h11, with a deadline for the request head.

uvicorn's default parser (httptools, when installed) buffers request headers of any
size, and no uvicorn parser limits how long a client may take to send them: a client
that trickles a header line every few seconds holds a connection (and its memory) for
as long as it likes, and a few hundred of them fill the server ("slowloris"). So the
server reads with h11, which refuses a request head larger than its buffer limit, and
this protocol closes a connection whose request line and headers have not all arrived
within ``ASSISTANT_HEADER_TIMEOUT`` seconds of its first byte (or of its opening).
The request body and streamed answers are not limited by it: once a request's head is
read, the deadline is off until the next request on the connection begins.
"""

from __future__ import annotations

import asyncio

import h11
from uvicorn.protocols.http.h11_impl import H11Protocol

__all__ = ["HeadDeadlineProtocol", "head_deadline_protocol"]


class HeadDeadlineProtocol(H11Protocol):
    """uvicorn's h11 protocol, closing connections that are slow to send a request head."""

    head_timeout: float = 10.0
    _head_deadline: asyncio.TimerHandle | None = None

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        self._arm_head_deadline()

    def data_received(self, data: bytes) -> None:
        super().data_received(data)
        if self.conn.their_state is h11.IDLE:
            # A request has begun (or the client is idle between requests, where
            # uvicorn's keep-alive timeout, which this data just cancelled, applied).
            self._arm_head_deadline()
        else:
            self._cancel_head_deadline()

    def connection_lost(self, exc: Exception | None) -> None:
        self._cancel_head_deadline()
        super().connection_lost(exc)

    def _arm_head_deadline(self) -> None:
        if self._head_deadline is None:
            self._head_deadline = self.loop.call_later(self.head_timeout, self._head_too_slow)

    def _cancel_head_deadline(self) -> None:
        if self._head_deadline is not None:
            self._head_deadline.cancel()
            self._head_deadline = None

    def _head_too_slow(self) -> None:
        self._head_deadline = None
        if self.conn.their_state is h11.IDLE and not self.transport.is_closing():
            self.transport.close()


def head_deadline_protocol(timeout: float) -> type[HeadDeadlineProtocol]:
    """The protocol class with ``timeout`` seconds for a request head."""
    return type("HeadDeadlineProtocol", (HeadDeadlineProtocol,), {"head_timeout": timeout})
