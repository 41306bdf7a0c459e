"""Optional OpenTelemetry traces: where a slow answer spent its time.

Why optional and off by default: the assistant runs offline on municipal machines and
most installations have no collector. Spans are made only once :func:`setup` (a server
with ``ASSISTANT_OTEL`` or ``OTEL_EXPORTER_OTLP_ENDPOINT`` set) or :func:`use_provider`
(tests) has chosen a tracer; until then :func:`span` is an empty context manager that
imports nothing, so the answer chain pays one global read per stage. The SDK and the
OTLP/HTTP exporter are the ``otel`` extra (``pip install .[otel]``).

Spans carry counts, names and timings, never a question's text (docs/privacy.md).
The span tree of one question (tests/test_tracing.py holds it to this)::

    assistant.question
    ├── assistant.condense          (assistant.llm inside it when a model rewrites)
    ├── assistant.retrieve
    │   ├── assistant.retrieve.dense
    │   ├── assistant.retrieve.lexical
    │   └── assistant.retrieve.fusion
    └── assistant.answer
        ├── assistant.llm           (LLM mode)
        └── assistant.citations
"""

from __future__ import annotations

import contextlib
import logging
import os
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any, TypeVar

from assistant.errors import ConfigError

if TYPE_CHECKING:
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.trace import Span, Tracer

__all__ = ["ENDPOINT_VARIABLES", "endpoint", "set_attributes", "setup", "shutdown", "span",
           "traced", "use_provider"]

log = logging.getLogger("assistant.tracing")

SERVICE_NAME = "skolassistenten"
# The exporter's own variables: either one set means an operator wants traces.
ENDPOINT_VARIABLES = ("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", "OTEL_EXPORTER_OTLP_ENDPOINT")

_tracer: Tracer | None = None
_provider: TracerProvider | None = None  # the one setup() made, flushed by shutdown()
T = TypeVar("T")


def endpoint(assistant_otel: str | None) -> str | None:
    """Where traces go: ``ASSISTANT_OTEL`` (an OTLP/HTTP base URL such as
    ``http://collector:4318``) or the standard variables; ``None`` = no traces."""
    if assistant_otel:
        return assistant_otel
    return next((os.environ[v] for v in ENDPOINT_VARIABLES if os.environ.get(v)), None)


def setup(assistant_otel: str | None) -> bool:
    """Export spans over OTLP/HTTP when an endpoint is configured; once, at server start.

    Returns whether traces are on. OpenTelemetry's global provider is left alone (it can
    be set once per process, and Chroma reads it): the assistant keeps its own.
    ``ASSISTANT_OTEL`` without the ``otel`` extra is a
    :class:`~assistant.errors.ConfigError` naming the fix; the standard variable alone
    (it may be meant for another program) only logs a warning.
    """
    global _provider
    url = endpoint(assistant_otel)
    if url is None:
        return False
    try:
        from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
        from opentelemetry.sdk.resources import Resource
        from opentelemetry.sdk.trace import TracerProvider
        from opentelemetry.sdk.trace.export import BatchSpanProcessor
    except ImportError:
        message = ("Spårning (OpenTelemetry) är inte installerad: kör pip install "
                   "'.[otel]' eller ta bort ASSISTANT_OTEL.")
        if assistant_otel:
            raise ConfigError(message) from None
        log.warning("%s (OTEL_EXPORTER_OTLP_ENDPOINT is set; no traces)", message)
        return False
    # ASSISTANT_OTEL is a base URL like the standard variable; the exporter wants the
    # traces path spelled out when it is handed an endpoint.
    exporter = OTLPSpanExporter(endpoint=f"{assistant_otel.rstrip('/')}/v1/traces") \
        if assistant_otel else OTLPSpanExporter()
    provider = TracerProvider(resource=Resource.create({"service.name": SERVICE_NAME}))
    provider.add_span_processor(BatchSpanProcessor(exporter))
    _provider = provider
    use_provider(provider)
    log.warning("Spårning: OpenTelemetry-spann skickas till %s", url)
    return True


def use_provider(provider: Any | None) -> None:
    """Make spans with ``provider`` (an SDK ``TracerProvider``); ``None``: none again.
    Tests install one with an in-memory exporter; the global provider of OpenTelemetry
    can be set only once per process, so the assistant keeps its own reference."""
    global _tracer
    _tracer = None if provider is None else provider.get_tracer("assistant")


def shutdown() -> None:
    """Send the spans still buffered (the server calls this when it stops)."""
    global _provider
    if _provider is not None:
        _provider.shutdown()
        _provider = None
    use_provider(None)


@contextlib.contextmanager
def span(name: str, **attributes: Any) -> Iterator[Span | None]:
    """A span named ``name`` around the block, child of the current one; the span is
    yielded so the block can add attributes (``None`` when traces are off). An
    exception leaving the block is recorded on the span and raised on."""
    tracer = _tracer
    if tracer is None:
        yield None
        return
    with tracer.start_as_current_span(name, attributes=_clean(attributes)) as current:
        yield current


def traced(name: str, items: Iterator[T], **attributes: Any) -> Iterator[T]:
    """``items`` inside one span that lasts until they are exhausted or closed.

    Why not ``with span(...)`` around ``yield``: the web app resumes a stream on worker
    threads, each with its own copy of the context, and a context attached in one
    cannot be detached in another. The span is made current only while the next item
    is computed, so what runs then nests under it, wherever it runs.
    """
    tracer = _tracer
    if tracer is None:
        yield from items
        return
    from opentelemetry import trace

    current = tracer.start_span(name, attributes=_clean(attributes))
    try:
        while True:
            with trace.use_span(current, end_on_exit=False):
                try:
                    item = next(items)
                except StopIteration:
                    return
            yield item
    except GeneratorExit:
        current.set_attribute("assistant.abandoned", True)  # the client went away
        raise
    finally:
        close = getattr(items, "close", None)
        if close is not None:
            with trace.use_span(current, end_on_exit=False):
                close()
        current.end()


def set_attributes(current: Span | None, **attributes: Any) -> None:
    """Attributes known only at the end of a block (``current`` from :func:`span`)."""
    if current is not None:
        current.set_attributes(_clean(attributes))


def _clean(attributes: dict[str, Any]) -> dict[str, Any]:
    """OpenTelemetry takes str, bool, int, float (and lists of them); ``None`` is left out."""
    return {f"assistant.{k}": v for k, v in attributes.items() if v is not None}
