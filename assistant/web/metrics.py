"""Prometheus metrics of one app: ``GET /metrics``, for the operator's alerts.

Why one registry per app and not the library's global one: tests build many apps in one
process, and each must count only its own requests; a server is one app anyway. The
route is the operator's (:data:`assistant.web.routes.ADMIN`): without
``ASSISTANT_METRICS_KEY`` presented as ``Authorization: Bearer KEY`` it answers 404, like
a route that does not exist.

What is counted, and where:

* requests by route (the declaration's path in :mod:`assistant.web.routes`, so the label
  set is bounded whatever paths a scanner tries), method and status, and their duration;
  rate-limit rejections (429) and streams the client left before they ended, by route
  (:class:`~assistant.web.observe.ObserveMiddleware`, outside the security middleware,
  so what it refuses is counted too);
* answers by channel and outcome (``answer``, ``refused``; ``hedged`` is reserved for
  answers that say they are unsure), refusals by rule, and the answer's own timings
  (``retrieve``, ``generate``, ``total``) as histograms; from the answer's diagnostics,
  citation markers the check removed, and failed model calls by step and kind with the
  fallback each led to (:class:`~assistant.web.observe.AnswerLog`);
* admin ingest jobs by kind and outcome, and their duration;
* the index (generation, documents, passages), read when scraped, and build info.

With several workers (``assistant serve --workers N``) each worker counts in files of
prometheus_client's multiprocess mode (``PROMETHEUS_MULTIPROC_DIR``, set by ``serve`` for
its workers and emptied at start), and a scrape, whichever worker it reaches, reads every
worker's files: counters and histograms are summed over the workers. The index gauges and
build info are the scraped worker's own (every worker answers from the same index).
"""

from __future__ import annotations

import os
from collections.abc import Iterator, Mapping
from importlib import metadata
from typing import TYPE_CHECKING

from fastapi import APIRouter
from fastapi.responses import Response
from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Histogram,
    Info,
    generate_latest,
)
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

if TYPE_CHECKING:
    from assistant.answer import Assistant
    from assistant.types import AnswerDiagnostics

__all__ = ["ANSWER_STAGES", "MULTIPROC_ENV", "OUTCOMES", "Metrics", "build_metrics_router"]

# prometheus_client's own variable: the folder its multiprocess mode counts in.
MULTIPROC_ENV = "PROMETHEUS_MULTIPROC_DIR"

# The answer's timings_ms keys that get a histogram (others are not exported).
ANSWER_STAGES = ("retrieve", "generate", "total")
OUTCOMES = ("answer", "refused", "hedged")
# Seconds: a request is a page (ms) or an answer (tens of ms to seconds with a model).
_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0)


class _IndexCollector(Collector):
    """The index the server answers from, read at scrape time (it changes under a
    running server: assistant.retrieval.hybrid's live reload)."""

    def __init__(self, assistant: Assistant) -> None:
        self.assistant = assistant

    def collect(self) -> Iterator[Metric]:
        snapshot = self.assistant.retriever.snapshot
        manifest = snapshot.manifest
        yield GaugeMetricFamily("assistant_index_generation",
                                "Indexets generation (ökar vid varje ingest som ändrar något)",
                                value=snapshot.generation)
        yield GaugeMetricFamily("assistant_index_documents", "Dokument i indexet",
                                value=len(manifest))
        yield GaugeMetricFamily("assistant_index_passages", "Passager i indexet",
                                value=sum(d.n_chunks for d in manifest.values()))


class Metrics:
    """Every metric of one app, in its own registry (what a scrape reads).

    In multiprocess mode (:data:`MULTIPROC_ENV` set before prometheus_client was
    imported, as ``serve`` does for its workers) the counters and histograms are kept out
    of it: their values live in the shared files, which the registry's
    ``MultiProcessCollector`` reads for every worker at once.
    """

    def __init__(self, assistant: Assistant | None = None,
                 build: Mapping[str, str] | None = None) -> None:
        self.registry = CollectorRegistry()
        self.multiprocess = bool(os.environ.get(MULTIPROC_ENV))
        r: CollectorRegistry | None = self.registry
        if self.multiprocess:
            from prometheus_client.multiprocess import MultiProcessCollector

            MultiProcessCollector(self.registry)
            r = None  # counted in the files, not collected from this process's memory
        self.requests = Counter("assistant_http_requests", "HTTP-förfrågningar",
                                ["route", "method", "status"], registry=r)
        self.request_seconds = Histogram("assistant_http_request_duration_seconds",
                                         "Tid per förfrågan (strömmade svar: till slutet)",
                                         ["route"], buckets=_BUCKETS, registry=r)
        self.rate_limited = Counter("assistant_rate_limited", "Avvisade av hastighetsgränsen",
                                    ["route"], registry=r)
        self.stream_disconnects = Counter("assistant_stream_disconnects",
                                          "Strömmade svar som klienten lämnade före slutet",
                                          ["route"], registry=r)
        self.answers = Counter("assistant_answers", "Svar per kanal och utfall",
                               ["channel", "outcome"], registry=r)
        self.refusals = Counter("assistant_refusals", "Avböjda svar per regel", ["rule"],
                                registry=r)
        self.citations_dropped = Counter(
            "assistant_citations_dropped", "Källhänvisningar som inte pekar på någon källa, "
            "borttagna av kontrollen", ["channel"], registry=r)
        self.llm_errors = Counter("assistant_llm_errors", "Misslyckade anrop till språkmodellen",
                                  ["step", "kind"], registry=r)
        self.llm_fallbacks = Counter(
            "assistant_llm_fallbacks", "Steg som gick vidare utan språkmodellen efter ett fel "
            "(condense: frågan som den är; answer: det extraktiva svaret)", ["step"],
            registry=r)
        self.ingest_jobs = Counter("assistant_ingest_jobs", "Indexeringsjobb från "
                                   "administrationen per slag och utfall", ["kind", "outcome"],
                                   registry=r)
        self.ingest_seconds = Histogram("assistant_ingest_job_duration_seconds",
                                        "Tid per indexeringsjobb (från start till klart)",
                                        ["kind"], buckets=_BUCKETS, registry=r)
        self.answer_seconds = Histogram("assistant_answer_duration_seconds",
                                        "Svarets tider per steg (timings_ms)", ["stage"],
                                        buckets=_BUCKETS, registry=r)
        Info("assistant_build", "Version och läge", registry=self.registry).info(
            {"version": _version(), **(build or {})})
        if assistant is not None:
            self.registry.register(_IndexCollector(assistant))

    def request(self, route: str, method: str, status: int, seconds: float,
                disconnected: bool = False) -> None:
        self.requests.labels(route, method, str(status)).inc()
        self.request_seconds.labels(route).observe(seconds)
        if status == 429:
            self.rate_limited.labels(route).inc()
        if disconnected:
            self.stream_disconnects.labels(route).inc()

    def answered(self, channel: str, outcome: str, rule: str | None,
                 timings_ms: Mapping[str, float],
                 diagnostics: AnswerDiagnostics | None = None) -> None:
        self.answers.labels(channel, outcome).inc()
        if diagnostics is not None:
            if diagnostics.dropped_citations:
                self.citations_dropped.labels(channel).inc(diagnostics.dropped_citations)
            for step, kind in diagnostics.llm_errors:
                self.llm_errors.labels(step, kind).inc()
                self.llm_fallbacks.labels(step).inc()
        if outcome == "refused":
            self.refusals.labels(rule or "unknown").inc()
        for stage in ANSWER_STAGES:
            value = timings_ms.get(stage)
            if isinstance(value, (int, float)):
                self.answer_seconds.labels(stage).observe(value / 1000)

    def ingested(self, kind: str, outcome: str, seconds: float) -> None:
        """One admin ingest job ended (:class:`assistant.web.admin.Editor`)."""
        self.ingest_jobs.labels(kind, outcome).inc()
        self.ingest_seconds.labels(kind).observe(seconds)

    def render(self) -> bytes:
        return generate_latest(self.registry)


def _version() -> str:
    try:
        return metadata.version("assistant")
    except metadata.PackageNotFoundError:
        return "unknown"


def build_metrics_router(metrics: Metrics) -> APIRouter:
    router = APIRouter()

    @router.get("/metrics", include_in_schema=False)
    async def scrape() -> Response:
        """Prometheus' text format. Only reached with the operator's key (the security
        middleware answers 404 otherwise)."""
        return Response(metrics.render(), media_type=CONTENT_TYPE_LATEST)

    return router
