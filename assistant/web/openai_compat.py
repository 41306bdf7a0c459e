"""The OpenAI-compatible endpoint: ``GET /v1/models`` and ``POST /v1/chat/completions``.

Any OpenAI client (or chat front end) can talk to the assistant: the last user message is
the question, earlier user/assistant messages the history, and the answer's sources follow
as a numbered plain-text list in the content (the wire format has no field for them).
"""

from __future__ import annotations

import json
import logging
import time
import uuid
from collections.abc import AsyncIterator
from typing import Any

from fastapi import APIRouter
from fastapi.responses import JSONResponse, Response
from sse_starlette import EventSourceResponse

from assistant.citations import render_sources_text
from assistant.errors import ApiError
from assistant.history import ROLES, Message
from assistant.retrieval.filters import Filters
from assistant.types import Answer
from assistant.web.context import ApiContext
from assistant.web.error_payload import ANSWER_FAILED, ErrorPayload
from assistant.web.schemas import ERROR_RESPONSES, OpenAIChatRequest, OpenAIMessage

__all__ = ["MODEL_ID", "SOURCES_HEADING", "Completion", "build_openai_router", "openai_content"]

log = logging.getLogger("assistant.web")

MODEL_ID = "skolassistent"
SOURCES_HEADING = "Källor:"


class Completion:
    """One ``chat.completion`` answer, whole or as chunks; tokens are counted as words
    (there is no tokenizer for the extractive "model", and clients only display them)."""

    def __init__(self, model: str, prompt_tokens: int) -> None:
        self.id = f"chatcmpl-{uuid.uuid4().hex[:24]}"
        self.created = int(time.time())
        self.model = model
        self.prompt_tokens = prompt_tokens

    def _envelope(self, kind: str, **fields: Any) -> dict[str, Any]:
        return {"id": self.id, "object": kind, "created": self.created, "model": self.model,
                **fields}

    def _usage(self, content: str) -> dict[str, int]:
        completion_tokens = len(content.split())
        return {"prompt_tokens": self.prompt_tokens, "completion_tokens": completion_tokens,
                "total_tokens": self.prompt_tokens + completion_tokens}

    def message(self, content: str) -> dict[str, Any]:
        return self._envelope(
            "chat.completion",
            choices=[{"index": 0, "finish_reason": "stop", "logprobs": None,
                      "message": {"role": "assistant", "content": content}}],
            usage=self._usage(content))

    def chunk(self, delta: dict[str, Any], finish: str | None = None) -> dict[str, str]:
        return {"data": json.dumps(self._envelope(
            "chat.completion.chunk",
            choices=[{"index": 0, "delta": delta, "logprobs": None, "finish_reason": finish}]),
            ensure_ascii=False)}

    def usage_chunk(self, streamed: str) -> dict[str, str]:
        return {"data": json.dumps(self._envelope(
            "chat.completion.chunk", choices=[], usage=self._usage(streamed)))}


def openai_content(answer: Answer) -> str:
    """Answer text followed by the cited sources as a numbered plain-text list."""
    listing = render_sources_text(answer)
    if not listing:
        return answer.answer
    return f"{answer.answer}\n\n{SOURCES_HEADING}\n{listing}"


def _tail(streamed: str, answer: Answer) -> str:
    """What a streamed completion still needs after the tokens: any text the final
    citation check added, then the sources list."""
    full = openai_content(answer)
    if full.startswith(streamed):
        return full[len(streamed):]
    stripped = streamed.rstrip()
    if full.startswith(stripped):
        return full[len(stripped):]
    listing = render_sources_text(answer)
    return f"\n\n{SOURCES_HEADING}\n{listing}" if listing else ""


def split_conversation(messages: list[OpenAIMessage]) -> tuple[list[OpenAIMessage], str,
                                                                list[Message]]:
    """The conversation turns (system messages dropped), the question (the last user
    message) and the history before it; 422 unless the conversation ends with a question."""
    turns = [m for m in messages if m.role in ROLES]
    if not turns or turns[-1].role != "user":
        raise ApiError(422, "Sista meddelandet ska vara en fråga från användaren.")
    history = [Message(role="user" if m.role == "user" else "assistant", content=m.text())
               for m in turns[:-1]]
    return turns, turns[-1].text(), history


async def completion_events(events: AsyncIterator[tuple[str, Any]], completion: Completion,
                            include_usage: bool) -> AsyncIterator[dict[str, str]]:
    """Chunks in OpenAI's streaming shape, content already citation-checked. A failure
    after the 200 is an error chunk in OpenAI's error shape (what OpenAI's own streams
    send; its clients raise it), never more text and never ``finish_reason: stop``."""
    yield completion.chunk({"role": "assistant", "content": ""})
    streamed = ""
    try:
        async for kind, payload in events:
            if kind == "token":
                streamed += payload
                yield completion.chunk({"content": payload})
            elif kind == "done" and (tail := _tail(streamed, payload)):
                streamed += tail
                yield completion.chunk({"content": tail})
    except Exception as exc:
        failure = ErrorPayload.of(exc, ANSWER_FAILED)
        if failure.logged:
            log.exception("streamed completion failed")
        yield {"data": json.dumps(failure.openai(), ensure_ascii=False)}
        return
    yield completion.chunk({}, "stop")
    if include_usage:
        yield completion.usage_chunk(streamed)
    yield {"data": "[DONE]"}


def build_openai_router(ctx: ApiContext) -> APIRouter:
    router = APIRouter(responses=ERROR_RESPONSES)

    @router.get("/v1/models", tags=["openai"], summary="Modellista (OpenAI-kompatibel)")
    async def models() -> dict[str, Any]:
        return {"object": "list", "data": [
            {"id": MODEL_ID, "object": "model", "created": 0, "owned_by": "assistant"}]}

    @router.post("/v1/chat/completions", tags=["openai"],
                 summary="Chat completions (OpenAI-kompatibel)", response_model=None)
    async def completions(body: OpenAIChatRequest) -> Response:
        """The last user message is the question, earlier user/assistant messages the
        history; the answer's sources follow as numbered references in the content."""
        turns, text, history = split_conversation(body.messages)
        question = ctx.question(text, history)
        filters = Filters.parse(body.filters)
        completion = Completion(model=body.model or MODEL_ID,
                                prompt_tokens=sum(len(m.text().split()) for m in turns))
        if body.stream:
            include_usage = bool((body.stream_options or {}).get("include_usage"))
            events = await ctx.events(question, history, filters,
                                      channel="v1")  # 503 up to here
            return EventSourceResponse(completion_events(events, completion, include_usage),
                                       ping=15)
        answer = await ctx.ask(question, history, filters, channel="v1")
        return JSONResponse(completion.message(openai_content(answer)))

    return router
