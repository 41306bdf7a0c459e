"""Many clients at once, and a rate limit that stops one client without hurting others."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable

import httpx
import pytest

from tests.web.conftest import QUESTION, TROLLHATTAN_DOC, LiveServer

pytestmark = pytest.mark.slow


def test_twenty_concurrent_chats(live_server: LiveServer) -> None:
    async def run() -> list[httpx.Response]:
        limits = httpx.Limits(max_connections=20)
        async with httpx.AsyncClient(base_url=live_server.url, timeout=120,
                                     limits=limits) as client:
            async def one(i: int) -> httpx.Response:
                stream = i % 2 == 1  # half of them streamed
                return await client.post("/api/chat", json={"question": QUESTION,
                                                            "stream": stream})
            return await asyncio.gather(*(one(i) for i in range(20)))

    started = time.monotonic()
    responses = asyncio.run(run())
    elapsed = time.monotonic() - started
    assert [r.status_code for r in responses] == [200] * 20
    for i, response in enumerate(responses):
        if i % 2:
            assert "event: done" in response.text and TROLLHATTAN_DOC in response.text
            continue
        data = response.json()
        cited = {s["id"] for s in data["sources"] if s["n"] in data["citations"]}
        assert not data["refused"] and TROLLHATTAN_DOC in cited
    # The event loop stays free while answers are computed in worker threads.
    assert httpx.get(f"{live_server.url}/healthz", timeout=5).status_code == 200
    assert elapsed < 90


def test_rate_limit_is_per_client(server_factory: Callable[..., LiveServer]) -> None:
    # Behind a trusted proxy (here: loopback) its X-Forwarded-For names the client.
    server = server_factory(rate_limit="3/minute", allowed_origins=["http://intra.test"],
                            trusted_proxies=["127.0.0.1"])
    a = {"X-Forwarded-For": "10.0.0.1"}
    b = {"X-Forwarded-For": "10.0.0.2"}
    url = f"{server.url}/api/chat"
    body = {"question": QUESTION}
    for _ in range(3):
        assert httpx.post(url, json=body, headers=a, timeout=60).status_code == 200
    limited = httpx.post(url, json=body, headers={**a, "Origin": "http://intra.test"})
    assert limited.status_code == 429
    retry_after = int(limited.headers["retry-after"])
    assert 0 < retry_after <= 60
    assert str(retry_after) in limited.json()["error"]
    # A browser on an allowed origin can read the 429 and its Retry-After.
    assert limited.headers["access-control-allow-origin"] == "http://intra.test"
    assert "Retry-After" in limited.headers["access-control-expose-headers"]
    # Another client is unaffected, and reading endpoints are not limited.
    other = httpx.post(url, json=body, headers=b, timeout=60)
    assert other.status_code == 200 and TROLLHATTAN_DOC in other.text
    assert httpx.get(f"{server.url}/healthz", headers=a).status_code == 200
    v1 = httpx.post(f"{server.url}/v1/chat/completions", headers=a,
                    json={"messages": [{"role": "user", "content": QUESTION}]})
    assert v1.status_code == 429 and v1.json()["error"]["code"] == "rate_limit_exceeded"
