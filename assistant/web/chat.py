"""``POST /api/chat`` (JSON or SSE) and ``POST /api/feedback``.

Routes are thin: they validate input against the configured limits, run the blocking
assistant in a worker thread (:class:`~assistant.web.context.ApiContext`) and shape the
result. Origin, key, rate and size checks happen earlier, in :mod:`assistant.web.security`.
"""

from __future__ import annotations

import json
import logging
from collections.abc import AsyncIterator
from dataclasses import asdict
from typing import Any

from fastapi import APIRouter
from fastapi.responses import JSONResponse, Response
from sse_starlette import EventSourceResponse
from starlette.concurrency import run_in_threadpool

from assistant.retrieval.filters import Filters
from assistant.web.context import ApiContext
from assistant.web.error_payload import ANSWER_FAILED, ErrorPayload
from assistant.web.observe import current_request_id
from assistant.web.schemas import ERROR_RESPONSES, ChatRequest, FeedbackRequest, history_of

__all__ = ["build_chat_router", "sse"]

log = logging.getLogger("assistant.web")

_RATINGS = {"up": 1, "down": -1}


def sse(event: str, data: Any) -> dict[str, str]:
    return {"event": event, "data": json.dumps(data, ensure_ascii=False)}


async def chat_events(events: AsyncIterator[tuple[str, Any]]) -> AsyncIterator[dict[str, str]]:
    """The answer as SSE: ``sources``, ``token`` (``{"text": ...}``, already citation-
    checked), ``done`` (the answer object); a failure becomes an ``error`` event with
    its status, because the 200 is already sent."""
    try:
        async for kind, payload in events:
            if kind == "sources":
                yield sse("sources", {"sources": [asdict(s) for s in payload]})
            elif kind == "token":
                yield sse("token", {"text": payload})
            elif kind == "done":
                yield sse("done", payload.to_dict())
    except Exception as exc:
        failure = ErrorPayload.of(exc, ANSWER_FAILED)
        if failure.logged:
            log.exception("streamed answer failed")
        yield sse("error", failure.sse_data(current_request_id()))


def build_chat_router(ctx: ApiContext) -> APIRouter:
    router = APIRouter(responses=ERROR_RESPONSES)

    @router.post("/api/chat", tags=["api"], summary="Ställ en fråga", response_model=None)
    async def chat(body: ChatRequest) -> Response:
        """Returns the answer object (docs/architecture.md); with ``stream: true`` an SSE stream of
        ``sources``, ``token`` (``{"text": ...}``) and ``done`` (the answer object)."""
        history = history_of(body.history)
        question = ctx.question(body.question, history)
        filters = Filters.parse(body.filters)
        if body.stream:
            events = await ctx.events(question, history, filters, body.k)  # 503 up to here
            return EventSourceResponse(chat_events(events), ping=15)
        answer = await ctx.ask(question, history, filters, body.k)
        return JSONResponse(answer.to_dict())

    @router.post("/api/feedback", tags=["api"], summary="Tumme upp/ned med kommentar",
                 status_code=201)
    async def feedback(body: FeedbackRequest) -> dict[str, Any]:
        history = history_of(body.history)
        question = ctx.question(body.question, history)
        rating = int(_RATINGS.get(str(body.rating), body.rating))
        record_id = await run_in_threadpool(
            lambda: ctx.feedback.record(
                question=question, answer=body.answer, rating=rating,
                sources=body.sources, citations=body.citations,
                history=history, comment=body.comment, mode=body.mode, channel="api"))
        return {"id": record_id, "ok": True}

    return router
