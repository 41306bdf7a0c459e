"""The workers' connection rebalancing (assistant.web.rebalance), as ASGI: a worker more
than MARGIN requests ahead of the least busy one closes the connection it answers on;
within the margin, or on the UI's Unix socket, it keeps it open; the counter is back
where it was after each request, failed ones too."""

from __future__ import annotations

import asyncio
from collections.abc import MutableMapping
from typing import Any

import pytest

from assistant.web.rebalance import MARGIN, Rebalance

TCP = ("127.0.0.1", 8000)
UNIX = ("/tmp/state/ui.sock", None)


async def _app(scope: Any, receive: Any, send: Any) -> None:
    if scope["path"] == "/boom":
        raise RuntimeError("boom")
    await send({"type": "http.response.start", "status": 200,
                "headers": [(b"content-type", b"text/plain"), (b"connection", b"keep-alive")]})
    await send({"type": "http.response.body", "body": b"ok"})


def _request(load: list[int], slot: int, server: tuple[str, int | None] = TCP,
             path: str = "/api/chat") -> dict[bytes, bytes]:
    sent: list[MutableMapping[str, Any]] = []

    async def receive() -> dict[str, Any]:
        return {"type": "http.request", "body": b"", "more_body": False}

    async def send(message: MutableMapping[str, Any]) -> None:
        sent.append(message)

    scope = {"type": "http", "path": path, "server": server, "headers": []}
    asyncio.run(Rebalance(_app, load, slot)(scope, receive, send))
    start = next(m for m in sent if m["type"] == "http.response.start")
    headers: dict[bytes, bytes] = {}
    for key, value in start["headers"]:
        assert key not in headers, f"{key!r} twice"
        headers[key] = value
    return headers


def test_a_worker_ahead_of_the_least_busy_closes_the_connection() -> None:
    load = [MARGIN, 0]  # this request makes slot 0 MARGIN + 1 ahead
    assert _request(load, 0)[b"connection"] == b"close"
    assert load == [MARGIN, 0]


def test_within_the_margin_the_connection_stays_open() -> None:
    load = [MARGIN - 1, 0]
    assert _request(load, 0)[b"connection"] == b"keep-alive"
    assert _request([0, 5], 0)[b"connection"] == b"keep-alive"  # the other one is busier


def test_the_ui_socket_is_counted_but_never_closed() -> None:
    load = [MARGIN + 3, 0]
    assert _request(load, 0, server=UNIX)[b"connection"] == b"keep-alive"
    assert load == [MARGIN + 3, 0]


def test_a_failed_request_gives_its_count_back() -> None:
    load = [0, 0]
    with pytest.raises(RuntimeError):
        _request(load, 1, path="/boom")
    assert load == [0, 0]
