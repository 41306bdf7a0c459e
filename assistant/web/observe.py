"""Following one request: its id, its log line, its answer's log line, its metrics.

Why: a municipality's IT department follows a complaint ("the answer at 10.14 was
wrong", "I got an error") through its logs. Every request gets an id, returned as
``X-Request-ID`` and in every JSON error body (:func:`~assistant.web.error_payload.
request_id_of`), and logged with the request's line (method, route, status, duration)
and with its answer's line (outcome, refusal rule, timings, sources). With
``ASSISTANT_LOG_FORMAT=json`` each line is one JSON object
(:class:`assistant.runtime.JsonFormatter`).

The id is a trusted proxy's ``X-Request-ID`` (so the proxy's log and ours share it)
when it is a sane token, at most 64 characters of ``[A-Za-z0-9._-]``; from anyone
else, or anything else, it is a new one: a client must not choose what ends up in the
log, a newline least of all.

:class:`ObserveMiddleware` is pure ASGI (a streamed answer passes through unbuffered)
and the outermost layer, outside :class:`~assistant.web.security.SecurityMiddleware`,
so a request that middleware refuses (401, 404, 429 …) is logged, counted and carries
its id too. The question is not logged unless ``ASSISTANT_LOG_QUESTIONS=1``, and then
masked (:func:`assistant.privacy.mask`).
"""

from __future__ import annotations

import logging
import re
import time
import uuid
from contextvars import ContextVar
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from starlette.datastructures import MutableHeaders
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from assistant.privacy import mask
from assistant.web.auth import ClientIdentity
from assistant.web.routes import rule_for
from assistant.web.security import route_path

if TYPE_CHECKING:
    from assistant.types import Answer
    from assistant.web.metrics import Metrics

__all__ = [
    "REQUEST_ID_HEADER",
    "AnswerLog",
    "ObserveMiddleware",
    "current_request_id",
    "request_id_for",
    "route_label",
    "sane_request_id",
]

REQUEST_ID_HEADER = "x-request-id"
MAX_REQUEST_ID_CHARS = 64
_SANE = re.compile(r"[A-Za-z0-9._-]+")

access_log = logging.getLogger("assistant.access")
answer_log = logging.getLogger("assistant.answer")

# The request being served, for the answer's log line (worker threads and streams run
# in a copy of the request's context).
_request_id: ContextVar[str | None] = ContextVar("assistant_request_id", default=None)


def current_request_id() -> str | None:
    return _request_id.get()


def sane_request_id(value: str | bytes | None) -> str | None:
    """``value`` if it may be logged and echoed as a request id, else ``None``."""
    if isinstance(value, bytes):
        try:
            value = value.decode("ascii")
        except UnicodeDecodeError:
            return None
    if not value or len(value) > MAX_REQUEST_ID_CHARS or not _SANE.fullmatch(value):
        return None
    return value


def request_id_for(scope: Scope, identity: ClientIdentity) -> str:
    """A trusted proxy's sane ``X-Request-ID`` (exactly one), else a new id (uuid4 hex)."""
    client = scope.get("client")
    if identity.is_trusted(client[0] if client else None):
        sent = [v for k, v in scope.get("headers", ()) if k.lower() == b"x-request-id"]
        if len(sent) == 1 and (accepted := sane_request_id(sent[0])) is not None:
            return accepted
    return uuid.uuid4().hex


def route_label(method: str, path: str) -> str:
    """The route a request counts under: its declaration's path (``/api/sources/*`` for
    a prefix), so the metrics' labels are bounded whatever paths clients try."""
    rule = rule_for(method, path)
    return rule.path + "*" if rule.prefix else rule.path


class ObserveMiddleware:
    """Request id, one log line and the metrics per request."""

    def __init__(self, app: ASGIApp, identity: ClientIdentity,
                 metrics: Metrics | None = None) -> None:
        self.app = app
        self.identity = identity
        self.metrics = metrics

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        request_id = request_id_for(scope, self.identity)
        # Starlette's request.state; the same dict in every copy of the scope inward
        # (and outward: an unexpected error's reply is built outside this middleware).
        state = scope.setdefault("state", {})
        state["request_id"] = request_id
        token = _request_id.set(request_id)
        status = 500
        streamed = finished = disconnected = False

        async def watched_receive() -> Message:
            nonlocal disconnected
            message = await receive()
            if message["type"] == "http.disconnect":
                disconnected = True
            return message

        async def tagged_send(message: Message) -> None:
            nonlocal status, streamed, finished
            if message["type"] == "http.response.start":
                status = int(message["status"])
                headers = MutableHeaders(scope=message)
                headers[REQUEST_ID_HEADER] = request_id
                streamed = headers.get("content-type", "").startswith("text/event-stream")
            elif message["type"] == "http.response.body" and not message.get("more_body"):
                finished = True
            await send(message)

        try:
            await self.app(scope, watched_receive, tagged_send)
        finally:
            _request_id.reset(token)
            self._record(scope, request_id, status, time.perf_counter() - started,
                         streamed and disconnected and not finished)

    def _record(self, scope: Scope, request_id: str, status: int, seconds: float,
                left: bool) -> None:
        method = str(scope.get("method", ""))
        route = route_label(method, route_path(scope))
        if self.metrics is not None:
            self.metrics.request(route, method, status, seconds, disconnected=left)
        fields: dict[str, Any] = {
            "event": "request", "request_id": request_id, "method": method, "route": route,
            "status": status, "duration_ms": round(seconds * 1000, 1)}
        if left:
            fields["disconnected"] = True
        access_log.info("%s %s %d %.1f ms request_id=%s", method, route, status,
                        seconds * 1000, request_id, extra={"fields": fields})


def outcome_of(answer: Answer) -> str:
    """``answer`` or ``refused`` (``hedged`` is reserved: an answer that says it is
    unsure, which no rule produces yet)."""
    return "refused" if answer.refused else "answer"


@dataclass
class AnswerLog:
    """One log line and the answer metrics per answer, wherever it was asked (the API,
    ``/v1``, the chat UI)."""

    metrics: Metrics | None = None
    log_questions: bool = False

    def answered(self, answer: Answer, channel: str) -> None:
        outcome = outcome_of(answer)
        rule = (answer.refusal or {}).get("rule")
        if self.metrics is not None:
            self.metrics.answered(channel, outcome, rule, answer.timings_ms,
                                  answer.diagnostics)
        cited = {s.n: s.id for s in answer.sources}
        fields: dict[str, Any] = {
            "event": "answer", "request_id": current_request_id(), "channel": channel,
            "outcome": outcome, "rule": rule, "mode": answer.mode,
            "timings_ms": answer.timings_ms, "sources": answer.retrieved_ids,
            "cited": list(dict.fromkeys(cited[n] for n in answer.citations if n in cited)),
            "flagged": answer.flagged,
        }
        if self.log_questions:
            fields["question"] = mask(answer.question)
        answer_log.info("answer %s rule=%s total=%s ms request_id=%s", outcome, rule,
                        answer.timings_ms.get("total"), fields["request_id"],
                        extra={"fields": fields})

    def rate_limited(self, channel: str) -> None:
        """A question or vote the chat UI refused for the rate limit (its 429 has no
        HTTP status of its own: Gradio's queue answers 200)."""
        if self.metrics is not None:
            self.metrics.rate_limited.labels(channel).inc()
