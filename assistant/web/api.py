"""The JSON/SSE HTTP API and the OpenAI-compatible endpoint.

Routes are thin: they validate input against the configured limits, run the
blocking (CPU-bound) assistant in a worker thread so the event loop keeps
serving other clients, and shape the result. Origin, key, rate and size checks
happen earlier, in :mod:`assistant.web.security`; the plain pages (widget,
source page, /docs) are in :mod:`assistant.web.pages`.
"""

from __future__ import annotations

import json
import logging
import re
import time
import uuid
from collections.abc import AsyncIterator, Sequence
from dataclasses import asdict, dataclass
from typing import TYPE_CHECKING, Any, Literal

from fastapi import APIRouter, FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response
from pydantic import BaseModel, ConfigDict, Field, field_validator
from pydantic_core import PydanticCustomError
from sse_starlette import EventSourceResponse
from starlette.concurrency import iterate_in_threadpool, run_in_threadpool
from starlette.exceptions import HTTPException as StarletteHTTPException

from assistant.citations import render_sources_text
from assistant.retrieval.hybrid import FilterError, Filters
from assistant.retrieval.store import IndexUnavailableError
from assistant.types import Answer, Chunk
from assistant.web.feedback import MAX_COMMENT_CHARS, FeedbackStore
from assistant.web.pages import source_response
from assistant.web.security import error_body, question_problem, route_path

if TYPE_CHECKING:
    from assistant.answer import Assistant
    from assistant.config import Settings

log = logging.getLogger("assistant.web")

MODEL_ID = "skolassistent"
SOURCES_HEADING = "Källor:"
FAILED = "Något gick fel när svaret togs fram."


# --- errors -------------------------------------------------------------------------------


class ApiError(Exception):
    """A client-facing error: the message is shown to users as-is, so it is Swedish."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


def _error_response(request: Request, status: int, message: str,
                    headers: dict[str, str] | None = None) -> Response:
    return Response(error_body(route_path(request.scope), status, message), status_code=status,
                    media_type="application/json", headers=headers)


_PYDANTIC_SV = {
    "missing": "saknas",
    "string_type": "ska vara text",
    "text_invalid": "innehåller ogiltiga tecken",
    "bool_type": "ska vara true eller false",
    "bool_parsing": "ska vara true eller false",
    "int_type": "ska vara ett heltal",
    "int_parsing": "ska vara ett heltal",
    "int_from_float": "ska vara ett heltal",
    "finite_number": "ska vara ett tal",
    "list_type": "ska vara en lista",
    "dict_type": "ska vara ett objekt",
    "model_type": "ska vara ett objekt",
    "model_attributes_type": "ska vara ett objekt",
    "literal_error": "har ett otillåtet värde",
    "json_invalid": "är inte giltig JSON",
    "string_too_long": "är för lång",
    "string_too_short": "är för kort",
    "too_long": "har för många element",
    "too_short": "har för få element",
    "greater_than_equal": "är för litet",
    "less_than_equal": "är för stort",
}

# Errors the framework raises itself (all of ours are ApiError), in Swedish.
_HTTP_SV = {
    400: "Ogiltig förfrågan: innehållet kunde inte läsas (ska vara JSON i UTF-8).",
    404: "Hittades inte.",
    413: "Förfrågan är för stor.",
    405: "Metoden stöds inte här.",
}


def readable_validation(exc: RequestValidationError) -> str:
    """One Swedish sentence naming each bad field, instead of FastAPI's nested detail list."""
    parts: list[str] = []
    for err in exc.errors():
        if err.get("type") == "json_invalid":
            parts.append("innehållet är inte giltig JSON")
            continue
        loc = [str(x) for x in err.get("loc", ()) if x != "body"]
        field = ".".join(loc) or "förfrågan"
        what = _PYDANTIC_SV.get(str(err.get("type")), str(err.get("msg", "är ogiltigt")))
        parts.append(f"{field} {what}")
    return "Ogiltig förfrågan: " + "; ".join(dict.fromkeys(parts)) + "."


def install_error_handlers(app: FastAPI) -> None:
    """Every error the API returns is JSON with a readable ``error`` text, never a trace."""

    @app.exception_handler(ApiError)
    async def _api_error(request: Request, exc: ApiError) -> Response:
        return _error_response(request, exc.status, exc.message)

    @app.exception_handler(FilterError)
    async def _filter(request: Request, exc: FilterError) -> Response:
        return _error_response(request, 422, str(exc))

    @app.exception_handler(IndexUnavailableError)
    async def _no_index(request: Request, exc: IndexUnavailableError) -> Response:
        return _error_response(request, 503, str(exc))

    @app.exception_handler(RequestValidationError)
    async def _validation(request: Request, exc: RequestValidationError) -> Response:
        return _error_response(request, 422, readable_validation(exc))

    @app.exception_handler(StarletteHTTPException)
    async def _http(request: Request, exc: StarletteHTTPException) -> Response:
        message = _HTTP_SV.get(exc.status_code, "Fel i förfrågan.")
        return _error_response(request, exc.status_code, message,
                               dict(exc.headers) if exc.headers else None)

    @app.exception_handler(Exception)
    async def _unexpected(request: Request, exc: Exception) -> Response:
        # The traceback goes to the server log (Starlette re-raises), never to the client.
        return _error_response(request, 500, "Något gick fel på servern. Försök igen.")


# --- request models -----------------------------------------------------------------------

_SURROGATE = re.compile("[\ud800-\udfff]")


def _has_surrogate(value: object) -> bool:
    if isinstance(value, str):
        return _SURROGATE.search(value) is not None
    if isinstance(value, dict):
        return any(_has_surrogate(k) or _has_surrogate(v) for k, v in value.items())
    if isinstance(value, list):
        return any(_has_surrogate(v) for v in value)
    return False


class RequestModel(BaseModel):
    """Unknown fields are ignored (clients may send more than we read); text with an
    unpaired surrogate (valid as a JSON escape, not as UTF-8) is refused up front,
    because the embedder and SQLite would otherwise fail on it with a 500."""

    model_config = ConfigDict(extra="ignore")

    @field_validator("*", mode="before")
    @classmethod
    def _encodable(cls, value: Any) -> Any:
        if _has_surrogate(value):
            raise PydanticCustomError("text_invalid", "contains unpaired surrogates")
        return value


class HistoryMessage(RequestModel):
    role: Literal["user", "assistant"]
    content: str


class ChatRequest(RequestModel):
    """``POST /api/chat``; limits that are configurable are checked in the route."""

    question: str = Field(description="Frågan (högst ASSISTANT_MAX_QUESTION_CHARS tecken).",
                          examples=["Vad gjorde Trollhättan mot segregation?"])
    history: list[HistoryMessage] = Field(
        default_factory=list,
        description="Tidigare meddelanden (högst ASSISTANT_MAX_HISTORY_TURNS), äldst först.")
    filters: dict[str, str] | None = Field(
        None, description="municipality, doc_id, date_from, date_to (ISO-datum).",
        examples=[{"municipality": "Trollhättan"}])
    stream: bool = Field(False, description="true: SSE-händelser sources, token, done.")
    k: int | None = Field(None, ge=1, le=50, description="Antal passager att hämta.")


class FeedbackRequest(RequestModel):
    question: str = Field(min_length=1)
    answer: str = Field(max_length=50_000)
    rating: Literal[1, -1, "up", "down"] = Field(description="1/up = tumme upp, -1/down = ned.")
    comment: str | None = Field(None, max_length=MAX_COMMENT_CHARS)
    sources: list[dict[str, Any]] = Field(default_factory=list, max_length=50)
    citations: list[int] = Field(default_factory=list, max_length=200)
    history: list[HistoryMessage] = Field(default_factory=list)
    mode: str | None = Field(None, max_length=100)


class OpenAIMessage(RequestModel):
    role: str
    content: str | list[dict[str, Any]] | None = None

    def text(self) -> str:
        """Text of a message, also for the list-of-parts form newer clients send."""
        if isinstance(self.content, str):
            return self.content
        if isinstance(self.content, list):
            return "".join(str(p.get("text", "")) for p in self.content
                           if isinstance(p, dict) and p.get("type", "text") == "text")
        return ""


class OpenAIChatRequest(RequestModel):
    model: str | None = None
    messages: list[OpenAIMessage] = Field(min_length=1)
    stream: bool = False
    stream_options: dict[str, Any] | None = None
    filters: dict[str, str] | None = None  # extension: same filters as /api/chat


class ErrorBody(BaseModel):
    error: str = Field(description="Felet i klartext (svenska).")


ERROR_RESPONSES: dict[int | str, dict[str, Any]] = {
    status: {"model": ErrorBody, "description": text} for status, text in (
        (401, "API-nyckel saknas eller är ogiltig"),
        (403, "Ursprunget (Origin) är inte tillåtet"),
        (413, "För stor förfrågan"),
        (422, "Ogiltig fråga, historik eller filter"),
        (429, "För många förfrågningar; se Retry-After"),
    )
}


# --- shared context -----------------------------------------------------------------------


@dataclass
class ApiContext:
    """What the routes share: one per app, so differently configured apps can coexist."""

    settings: Settings
    assistant: Assistant
    feedback: FeedbackStore

    def question(self, text: str, history_length: int) -> str:
        """The stripped question, if it and the history are within the configured limits;
        else a 422 whose message says what to change."""
        text = text.strip()
        problem = question_problem(text, self.settings.max_question_chars)
        if problem:
            raise ApiError(422, problem)
        limit = self.settings.max_history_turns
        if history_length > limit:
            raise ApiError(422, f"Historiken är för lång ({history_length} meddelanden, "
                                f"högst {limit}).")
        return text

    # Answering is blocking and CPU-bound: it runs in worker threads so the event loop
    # keeps serving other clients (and streams) meanwhile.

    async def ask(self, question: str, history: list[dict[str, str]], filters: Filters,
                  k: int | None = None) -> Answer:
        return await run_in_threadpool(self.assistant.ask, question, history, k, filters)

    def events(self, question: str, history: list[dict[str, str]], filters: Filters,
               k: int | None = None) -> AsyncIterator[tuple[str, Any]]:
        return iterate_in_threadpool(
            self.assistant.stream(question, history, k=k, filters=filters))


def _history(messages: Sequence[HistoryMessage]) -> list[dict[str, str]]:
    return [{"role": m.role, "content": m.content} for m in messages]


def sse(event: str, data: Any) -> dict[str, str]:
    return {"event": event, "data": json.dumps(data, ensure_ascii=False)}


def _doc_text(chunks: Sequence[Chunk]) -> str:
    """The document reassembled from its overlapping chunks via their offsets."""
    out = ""
    covered = 0
    for c in chunks:
        if c.end - c.start != len(c.text):  # offsets unusable: fall back to plain joining
            return "\n\n".join(ch.text for ch in chunks)
        if c.start > covered:
            out += "\n\n" if out else ""
            out += c.text
        else:
            out += c.text[covered - c.start:]
        covered = max(covered, c.end)
    return out


def _load_source(ctx: ApiContext, doc_id: str) -> dict[str, Any] | None:
    """One document as the running retriever knows it. The id is only ever a key into
    the manifest, never a path, so ``../../etc/passwd`` is simply not found."""
    record = ctx.assistant.retriever.manifest.get(doc_id)
    if record is None:
        return None
    got = ctx.assistant.store.chunks.get(
        where={"$and": [{"doc_id": doc_id}, {"doc_hash": record.doc_hash}]},
        include=["documents", "metadatas"])
    chunks = sorted(
        (Chunk.from_record(cid, text or "", dict(meta))
         for cid, text, meta in zip(got["ids"], got["documents"] or [], got["metadatas"] or [],
                                    strict=True)),
        key=lambda c: c.ordinal)
    return {
        "id": record.doc_id, "title": record.title, "municipality": record.municipality,
        "date": record.date, "url": record.url,
        "text": _doc_text(chunks),
        "chunks": [{"chunk_id": c.chunk_id, "ordinal": c.ordinal, "start": c.start,
                    "end": c.end, "text": c.text} for c in chunks],
    }


# --- routes -------------------------------------------------------------------------------


def build_router(ctx: ApiContext) -> APIRouter:
    router = APIRouter(responses=ERROR_RESPONSES)

    @router.get("/healthz", tags=["drift"], summary="Hälsokontroll")
    async def healthz() -> dict[str, Any]:
        return {"status": "ok", "mode": ctx.assistant.mode, "mode_label": ctx.assistant.mode_label}

    @router.post("/api/chat", tags=["api"], summary="Ställ en fråga", response_model=None)
    async def chat(body: ChatRequest) -> Response:
        """Returns the answer object of DESIGN.md; with ``stream: true`` an SSE stream of
        ``sources``, ``token`` (``{"text": ...}``) and ``done`` (the answer object)."""
        question = ctx.question(body.question, len(body.history))
        filters = Filters.parse(body.filters)
        history = _history(body.history)
        if not body.stream:
            answer = await ctx.ask(question, history, filters, body.k)
            return JSONResponse(answer.to_dict())

        async def events() -> AsyncIterator[dict[str, str]]:
            try:
                async for kind, payload in ctx.events(question, history, filters, body.k):
                    if kind == "sources":
                        yield sse("sources", {"sources": [asdict(s) for s in payload]})
                    elif kind == "token":
                        yield sse("token", {"text": payload})
                    elif kind == "done":
                        yield sse("done", payload.to_dict())
            except IndexUnavailableError as exc:
                yield sse("error", {"error": str(exc), "status": 503})
            except Exception:
                log.exception("streamed answer failed")
                yield sse("error", {"error": FAILED, "status": 500})

        return EventSourceResponse(events(), ping=15)

    @router.post("/api/feedback", tags=["api"], summary="Tumme upp/ned med kommentar",
                 status_code=201)
    async def feedback(body: FeedbackRequest) -> dict[str, Any]:
        question = ctx.question(body.question, len(body.history))
        rating = {"up": 1, "down": -1}.get(str(body.rating), body.rating)
        record_id = await run_in_threadpool(
            lambda: ctx.feedback.record(
                question=question, answer=body.answer, rating=int(rating),
                sources=body.sources, citations=body.citations,
                history=_history(body.history), comment=body.comment, mode=body.mode,
                channel="api"))
        return {"id": record_id, "ok": True}

    @router.get("/api/sources/{doc_id:path}", tags=["api"], summary="En källa med dess stycken",
                response_model=None)
    async def source(doc_id: str, request: Request) -> Response:
        """Metadata and passages of one document; an HTML page when a browser asks
        (the widget's and the UI's "open source" link for articles without a URL)."""
        data = await run_in_threadpool(_load_source, ctx, doc_id)
        if data is None:
            raise ApiError(404, f"Källan {doc_id!r} finns inte i indexet.")
        accept = request.headers.get("accept", "")
        if "text/html" in accept and "application/json" not in accept:
            return source_response(data)
        return JSONResponse(data)

    # --- OpenAI-compatible -------------------------------------------------------------

    @router.get("/v1/models", tags=["openai"], summary="Modellista (OpenAI-kompatibel)")
    async def models() -> dict[str, Any]:
        return {"object": "list", "data": [
            {"id": MODEL_ID, "object": "model", "created": 0, "owned_by": "assistant"}]}

    @router.post("/v1/chat/completions", tags=["openai"],
                 summary="Chat completions (OpenAI-kompatibel)", response_model=None)
    async def completions(body: OpenAIChatRequest) -> Response:
        """The last user message is the question, earlier user/assistant messages the
        history; the answer's sources follow as numbered references in the content."""
        turns = [m for m in body.messages if m.role in ("user", "assistant")]
        if not turns or turns[-1].role != "user":
            raise ApiError(422, "Sista meddelandet ska vara en fråga från användaren.")
        history = [{"role": m.role, "content": m.text()} for m in turns[:-1]]
        question = ctx.question(turns[-1].text(), len(history))
        filters = Filters.parse(body.filters)
        completion = Completion(model=body.model or MODEL_ID,
                                prompt_tokens=sum(len(m.text().split()) for m in turns))

        if not body.stream:
            answer = await ctx.ask(question, history, filters)
            return JSONResponse(completion.message(openai_content(answer)))

        include_usage = bool((body.stream_options or {}).get("include_usage"))

        async def events() -> AsyncIterator[dict[str, str]]:
            yield completion.chunk({"role": "assistant", "content": ""})
            streamed = ""
            try:
                async for kind, payload in ctx.events(question, history, filters):
                    if kind == "token":
                        streamed += payload
                        yield completion.chunk({"content": payload})
                    elif kind == "done" and (tail := _tail(streamed, payload)):
                        streamed += tail
                        yield completion.chunk({"content": tail})
            except Exception:
                log.exception("streamed completion failed")
                tail = f"\n\n({FAILED})"
                streamed += tail
                yield completion.chunk({"content": tail})
            yield completion.chunk({}, "stop")
            if include_usage:
                yield completion.usage_chunk(streamed)
            yield {"data": "[DONE]"}

        return EventSourceResponse(events(), ping=15)

    return router


# --- OpenAI response shapes ---------------------------------------------------------------


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
