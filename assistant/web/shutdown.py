"""Graceful shutdown: on SIGTERM the server drains before it stops.

Why: an orchestrator (systemd, Kubernetes, a load balancer's rolling restart) stops a
replica with SIGTERM. uvicorn alone closes its listener at once, cuts the answers being
streamed after ``timeout_graceful_shutdown`` without a word, and a load balancer that
still believes ``/readyz`` sends new questions into a closed port. Here, within
``ASSISTANT_SHUTDOWN_SECONDS`` of the signal:

1. ``/readyz`` answers 503 at once, so the load balancer takes the replica out;
   ``/healthz`` and ``/metrics`` still answer (the process is alive and watched).
2. Every other new request gets 503 with the JSON error and ``Retry-After`` (another
   replica, or this one restarted, will answer), instead of a refused connection.
3. Answers being streamed go on; one still running at :data:`CUT_SHARE` of the window
   ends with an ``error`` event (503, the same message) instead of being cut mid-word.
4. The listener closes when nothing is in flight (after at least :data:`DRAIN_MIN`
   seconds, for the load balancer to see step 1), at the latest at :data:`CLOSE_SHARE`
   of the window; uvicorn then closes the connections and stops the app within what is
   left. (Closing also makes sse-starlette cancel every stream still open, so the cut
   comes first: the ``error`` events are sent by then.)

A second SIGINT (Ctrl+C twice) still stops at once. ``ASSISTANT_SHUTDOWN_SECONDS=0``
stops as plain uvicorn does.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import socket
import time
from collections.abc import AsyncIterator, Callable
from types import FrameType
from typing import Any, TypeVar

import uvicorn
from starlette.types import ASGIApp, Receive, Scope, Send

from assistant import tracing
from assistant.errors import ShuttingDownError
from assistant.web.error_payload import ErrorPayload, request_id_of
from assistant.web.routes import rule_for
from assistant.web.security import route_path

__all__ = ["CLOSE_SHARE", "CUT_SHARE", "DRAIN_MIN", "SHUTTING_DOWN", "Drain", "DrainMiddleware",
           "GracefulServer", "until_cut"]

log = logging.getLogger("assistant.web")

SHUTTING_DOWN = ShuttingDownError.user_message
# Streams still running at this share of ASSISTANT_SHUTDOWN_SECONDS end with an error
# event; the rest of the window is for closing connections and stopping the app.
CUT_SHARE = 0.75
# The listener closes at this share even if a request is still in flight.
CLOSE_SHARE = 0.9
# Seconds /readyz is 503 before the listener closes, even with nothing in flight (at
# most half the window): a load balancer that probes now learns it before the port goes.
DRAIN_MIN = 1.0
# How often a stream waiting for its next event looks at the clock (only while an
# event takes longer than this; nothing polls while idle).
STREAM_POLL = 0.25
T = TypeVar("T")


class Drain:
    """The shutdown's clock and the requests it waits for; one per app.

    Read on the event loop only (the server's tick starts it), so it needs no lock.
    """

    def __init__(self, seconds: float) -> None:
        self.seconds = seconds
        self.started: float | None = None
        self.in_flight = 0  # requests that hold the listener open

    @property
    def draining(self) -> bool:
        return self.started is not None

    def begin(self) -> None:
        if self.started is None:
            self.started = time.monotonic()
            log.warning("Avstängning: tar inte emot nya frågor; pågående svar får %.1f s",
                        self.seconds * CUT_SHARE)

    def elapsed(self) -> float:
        return 0.0 if self.started is None else time.monotonic() - self.started

    def remaining(self) -> float:
        """Seconds left of the window (the whole window before the signal)."""
        return max(0.0, self.seconds - self.elapsed())

    def cut_due(self) -> bool:
        """Whether streams still running must end now."""
        return self.draining and self.elapsed() >= self.seconds * CUT_SHARE

    def poll_timeout(self) -> float:
        """Seconds a stream may wait for its next event before it looks again: until the
        cut while draining, else :data:`STREAM_POLL` (a signal may come meanwhile)."""
        if not self.draining:
            return STREAM_POLL
        return min(STREAM_POLL, max(0.0, self.seconds * CUT_SHARE - self.elapsed()))

    def may_close(self) -> bool:
        """Whether the listener may close: nothing in flight and the load balancer had
        its moment, or time is up."""
        if not self.draining:
            return False
        elapsed = self.elapsed()
        settled = self.in_flight == 0 and elapsed >= min(DRAIN_MIN, self.seconds / 2)
        return settled or elapsed >= self.seconds * CLOSE_SHARE


async def until_cut(events: AsyncIterator[T], drain: Drain) -> AsyncIterator[T]:
    """``events`` until the shutdown's cut, then :class:`ShuttingDownError` (the stream's
    ``error`` event). An event being made then (a slow model) is left to finish on its
    worker thread; nobody waits for it."""
    while True:
        if drain.cut_due():
            raise ShuttingDownError
        pending = asyncio.ensure_future(anext(events))
        while not pending.done():
            await asyncio.wait({pending}, timeout=drain.poll_timeout())
            if not pending.done() and drain.cut_due():
                pending.add_done_callback(_forget)
                raise ShuttingDownError
        try:
            item = pending.result()
        except StopAsyncIteration:
            return
        yield item


def _forget(task: asyncio.Future[Any]) -> None:
    """Retrieve an abandoned event's outcome so asyncio does not log it as lost."""
    if not task.cancelled():
        task.exception()


class DrainMiddleware:
    """Refuses new requests while draining (503, JSON error) and counts those in flight.

    Routes declared ``while_draining`` (health, readiness, metrics) are always served;
    those that ``linger`` (the chat page's heartbeat, open as long as the page is) do not
    hold the listener open.
    """

    def __init__(self, app: ASGIApp, drain: Drain) -> None:
        self.app = app
        self.drain = drain

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        rule = rule_for(str(scope.get("method", "")), route_path(scope))
        if self.drain.draining and not rule.while_draining:
            await self._refuse(scope, send)
            return
        counted = not rule.lingers
        self.drain.in_flight += counted
        try:
            await self.app(scope, receive, send)
        finally:
            self.drain.in_flight -= counted

    async def _refuse(self, scope: Scope, send: Send) -> None:
        failure = ErrorPayload.of(ShuttingDownError())
        body = failure.body(route_path(scope), request_id=request_id_of(scope))
        await send({"type": "http.response.start", "status": 503, "headers": [
            (b"content-type", b"application/json; charset=utf-8"),
            (b"content-length", str(len(body)).encode()),
            (b"retry-after", str(failure.retry_after).encode()),
            (b"cache-control", b"no-store"),
            (b"connection", b"close"),
        ]})
        await send({"type": "http.response.body",
                    "body": b"" if scope["method"] == "HEAD" else body})


class GracefulServer(uvicorn.Server):
    """uvicorn's server, draining (:class:`Drain`) before it does what uvicorn does on
    SIGTERM and SIGINT: the signal is noted, the drain runs on uvicorn's own tick (ten a
    second, which uvicorn makes anyway), and uvicorn's exit is let through when the
    drain allows it."""

    def __init__(self, config: uvicorn.Config, drain: Drain,
                 on_stopped: Callable[[], None] | None = None) -> None:
        super().__init__(config)
        self.drain = drain
        # Run once the server has stopped, before uvicorn raises the signal again (which
        # ends the process before any ``finally`` of the caller runs).
        self.on_stopped = on_stopped
        self._signal: tuple[int, FrameType | None] | None = None

    def handle_exit(self, sig: int, frame: FrameType | None) -> None:
        if self._signal is None and self.drain.seconds > 0:
            self._signal = (sig, frame)  # the tick starts the drain, on the event loop
            return
        # A second signal, or no drain configured: uvicorn's (and sse-starlette's) exit.
        super().handle_exit(sig, frame)

    async def on_tick(self, counter: int) -> bool:
        if self._signal is not None and not self.should_exit:
            self.drain.begin()
            if self.drain.may_close():
                # What is left of the window is uvicorn's to close connections and stop.
                self.config.timeout_graceful_shutdown = max(1, round(self.drain.remaining()))
                super().handle_exit(*self._signal)
        return await super().on_tick(counter)

    async def shutdown(self, sockets: list[socket.socket] | None = None) -> None:
        await super().shutdown(sockets)
        if self.on_stopped is not None:
            self.on_stopped()
        # After a signal uvicorn raises it again once stopped, which ends the process
        # before serve()'s own clean-up: send the buffered spans now, within the window.
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(asyncio.to_thread(tracing.shutdown),
                                   timeout=max(0.5, self.drain.remaining()))
