"""The chat UI with several workers: built in one worker, reached from the others.

Why: Gradio keeps each chat page's queue in its process's memory. A page sends its
question (``POST /gradio_api/queue/join``) and reads the answer (``GET
/gradio_api/queue/data``) over different connections, and with several workers the kernel
may hand them to different processes: the second would not know the session (404) and
the page would hang. So only the first worker (slot 0) builds the UI; it also listens on
a private Unix socket in the state folder, where requests go straight to the UI. Every
other worker answers the UI's routes by passing them on to that socket, after its own
checks (host, origin, credential, rate limit, metrics), so they are checked once, where
the client connected. The other workers also save Gradio's memory and start-up.

The client's address travels in :data:`CLIENT_HEADER` (the UI's own rate limit counts it);
the socket's folder is the server's alone (0700), and the header is believed only on it.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

from starlette.types import ASGIApp, Receive, Scope, Send

from assistant.web.error_payload import ErrorPayload, request_id_of
from assistant.web.loading import LOADING_MESSAGE, LOADING_RETRY
from assistant.web.security import route_path

__all__ = ["CLIENT_HEADER", "UI_SOCKET", "UiForward", "UiSocketApp"]

log = logging.getLogger("assistant.web")

UI_SOCKET = "ui.sock"
CLIENT_HEADER = "x-assistant-client"
# Not passed on: they describe one connection, not the request (RFC 9110, 7.6.1).
HOP_BY_HOP = frozenset({"connection", "keep-alive", "proxy-authenticate",
                        "proxy-authorization", "te", "trailer", "transfer-encoding",
                        "upgrade", "proxy-connection", CLIENT_HEADER})


class UiForward:
    """Stands where the UI slot stands (:class:`~assistant.web.loading.UiSlot`) in a worker
    that does not build the UI: the same ASGI app, status and lifespan, passing every
    request on to the UI worker's socket and streaming its answer back."""

    def __init__(self, socket_path: Path, root_path: str) -> None:
        self.socket_path = socket_path
        self.root = root_path.rstrip("/").encode("ascii")
        self._client: Any = None  # httpx.AsyncClient while the app runs

    @property
    def app(self) -> ASGIApp | None:
        return None  # no Gradio app in this process

    def status(self) -> dict[str, Any]:
        """For ``/readyz``: the UI is another worker's, which reports its own state."""
        return {"ok": True, "state": "forwarded"}

    def wait(self, timeout: float | None = None) -> bool:
        return True

    @asynccontextmanager
    async def running(self) -> AsyncIterator[None]:
        import httpx

        transport = httpx.AsyncHTTPTransport(uds=str(self.socket_path))
        async with httpx.AsyncClient(transport=transport, timeout=None) as client:
            self._client = client
            try:
                yield
            finally:
                self._client = None

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or self._client is None:
            return
        import httpx

        raw: bytes = scope.get("raw_path") or scope["path"].encode()
        if self.root and raw.startswith(self.root):
            raw = raw[len(self.root):] or b"/"  # the UI worker's server adds it again
        query = scope.get("query_string", b"")
        url = "http://ui" + raw.decode("latin-1") + ("?" + query.decode("latin-1")
                                                      if query else "")
        headers = [(k, v) for k, v in scope["headers"] if k.decode("latin-1").lower()
                   not in HOP_BY_HOP]
        client = scope.get("client")
        if client:
            headers.append((CLIENT_HEADER.encode(), f"{client[0]}:{client[1]}".encode()))
        body_done = asyncio.Event()

        async def body() -> AsyncIterator[bytes]:
            while True:
                message = await receive()
                if message["type"] == "http.disconnect":
                    break
                yield message.get("body", b"")
                if not message.get("more_body", False):
                    break
            body_done.set()

        request = self._client.build_request(scope["method"], url, headers=headers,
                                             content=body())
        try:
            response = await self._client.send(request, stream=True)
        except httpx.TransportError as exc:  # the UI worker is (re)starting
            log.warning("Chattsidans arbetsprocess svarar inte: %s", exc)
            await _unavailable(scope, send)
            return
        try:
            await send({"type": "http.response.start", "status": response.status_code,
                        "headers": [(k, v) for k, v in response.headers.raw
                                    if k.decode("latin-1").lower() not in HOP_BY_HOP]})
            await _relay(response, receive, send, body_done)
        finally:
            await response.aclose()


async def _relay(response: Any, receive: Receive, send: Send, body_done: asyncio.Event) -> None:
    """The UI worker's answer, chunk by chunk as it comes (the queue's event streams), until
    it ends or the client leaves (then the UI worker's stream is closed too)."""
    async def left() -> None:
        await body_done.wait()
        while (await receive())["type"] != "http.disconnect":
            pass

    async def copy() -> None:
        async for chunk in response.aiter_raw():
            await send({"type": "http.response.body", "body": chunk, "more_body": True})
        await send({"type": "http.response.body", "body": b"", "more_body": False})

    copying = asyncio.ensure_future(copy())
    watching = asyncio.ensure_future(left())
    try:
        await asyncio.wait({copying, watching}, return_when=asyncio.FIRST_COMPLETED)
    finally:
        for task in (copying, watching):
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
    if copying.done() and not copying.cancelled() and copying.exception() is not None:
        raise copying.exception()  # type: ignore[misc]


async def _unavailable(scope: Scope, send: Send) -> None:
    body = ErrorPayload(503, LOADING_MESSAGE, LOADING_RETRY).body(
        route_path(scope), request_id=request_id_of(scope))
    await send({"type": "http.response.start", "status": 503, "headers": [
        (b"content-type", b"application/json; charset=utf-8"),
        (b"content-length", str(len(body)).encode()),
        (b"cache-control", b"no-store"),
        (b"retry-after", str(LOADING_RETRY).encode()),
    ]})
    await send({"type": "http.response.body", "body": body})


class UiSocketApp:
    """The UI worker's app: requests on the private socket go to the UI itself (checked
    already by the worker that passed them on), with the client's address restored;
    everything else to the whole app."""

    def __init__(self, app: ASGIApp, ui: ASGIApp, socket_path: Path) -> None:
        self.app = app
        self.ui = ui
        self.socket_path = str(socket_path)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        server = scope.get("server")
        if scope["type"] != "http" or not server or server[0] != self.socket_path:
            await self.app(scope, receive, send)
            return
        client = None
        kept: list[tuple[bytes, bytes]] = []
        for key, value in scope["headers"]:
            if key == CLIENT_HEADER.encode():
                host, _, port = value.decode("latin-1").rpartition(":")
                client = (host, int(port)) if port.isdigit() else None
            else:
                kept.append((key, value))
        await self.ui({**scope, "headers": kept, "client": client}, receive, send)
