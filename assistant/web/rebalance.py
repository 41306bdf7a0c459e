"""Several workers: keep-alive connections spread by load, not by the kernel's hash.

``SO_REUSEPORT`` hands each new connection to a worker by a hash of its addresses, and a
keep-alive connection then stays there. Sixteen clients on two workers split 11/5, 13/3
or 10/6 (counted with ``ss``, docs/benchmarks.md#load), and a client waits about its
worker's share times the CPU per answer: the busier worker's clients set the p95.

Each worker counts the requests it has in progress in a slot of a shared array (written
by that worker's event loop only, read by all). A worker more than :data:`MARGIN`
requests ahead of the least busy one answers with ``Connection: close``; the client's
next request opens a new connection, which the kernel hashes again, half the time to
another worker. Connections drift from the busy worker until the counts are within the
margin, and then nothing is closed. Requests through the chat UI's private socket
(:mod:`assistant.web.forward`) are counted but never closed: that connection is the
other worker's, not a client's.
"""

from __future__ import annotations

from collections.abc import MutableSequence

from starlette.types import ASGIApp, Message, Receive, Scope, Send

__all__ = ["MARGIN", "Rebalance"]

# Requests a worker may have in progress beyond the least busy one before it sheds a
# connection: 1 would churn on the ±1 that finishing and resending makes.
MARGIN = 2


class Rebalance:
    """ASGI middleware for one worker (``slot``) of ``load`` (one counter per worker)."""

    def __init__(self, app: ASGIApp, load: MutableSequence[int], slot: int) -> None:
        self.app = app
        self.load = load
        self.slot = slot

    def _ahead(self) -> bool:
        return self.load[self.slot] > min(self.load) + MARGIN

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        server = scope.get("server")
        over_tcp = server is not None and server[1] is not None  # a Unix socket: no port

        async def send_closing(message: Message) -> None:
            if message["type"] == "http.response.start" and over_tcp and self._ahead():
                headers = [(k, v) for k, v in message.get("headers", [])
                           if k.lower() != b"connection"]
                message = {**message, "headers": [*headers, (b"connection", b"close")]}
            await send(message)

        self.load[self.slot] += 1
        try:
            await self.app(scope, receive, send_closing)
        finally:
            self.load[self.slot] -= 1
