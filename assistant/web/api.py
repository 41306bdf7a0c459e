"""The JSON/SSE HTTP API, the OpenAI-compatible endpoint and the widget's assets.

Routes are thin: they validate input against the configured limits, run the
blocking (CPU-bound) assistant in a worker thread so the event loop keeps
serving other clients, and shape the result. Origin, key, rate and size checks
happen earlier, in :mod:`assistant.web.security`.
"""

from __future__ import annotations

import html
import json
import logging
import re
import time
import uuid
from collections.abc import AsyncIterator, Sequence
from dataclasses import asdict, dataclass
from importlib import resources
from typing import TYPE_CHECKING, Any, Literal

from fastapi import APIRouter, FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import HTMLResponse, JSONResponse, Response
from pydantic import BaseModel, ConfigDict, Field
from sse_starlette import EventSourceResponse
from starlette.concurrency import iterate_in_threadpool, run_in_threadpool
from starlette.exceptions import HTTPException as StarletteHTTPException

from assistant.citations import render_sources_text
from assistant.retrieval.hybrid import FilterError, Filters
from assistant.retrieval.store import IndexUnavailableError
from assistant.types import Answer, Chunk
from assistant.web.feedback import MAX_COMMENT_CHARS, FeedbackStore
from assistant.web.security import error_body, route_path

if TYPE_CHECKING:
    from assistant.answer import Assistant
    from assistant.config import Settings

log = logging.getLogger("assistant.web")

MODEL_ID = "skolassistent"
SOURCES_HEADING = "Källor:"
ASSET_TYPES = {
    "widget.js": "text/javascript; charset=utf-8",
    "widget.css": "text/css; charset=utf-8",
}


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
    "bool_type": "ska vara true eller false",
    "int_type": "ska vara ett heltal",
    "int_parsing": "ska vara ett heltal",
    "list_type": "ska vara en lista",
    "dict_type": "ska vara ett objekt",
    "model_type": "ska vara ett objekt",
    "literal_error": "har ett otillåtet värde",
    "json_invalid": "är inte giltig JSON",
    "string_too_long": "är för lång",
    "string_too_short": "är för kort",
    "too_long": "har för många element",
    "greater_than_equal": "är för litet",
    "less_than_equal": "är för stort",
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
    """Every error the API returns is JSON with a readable ``error`` text."""

    @app.exception_handler(ApiError)
    async def _api_error(request: Request, exc: ApiError) -> Response:
        return _error_response(request, exc.status, exc.message)

    @app.exception_handler(RequestValidationError)
    async def _validation(request: Request, exc: RequestValidationError) -> Response:
        return _error_response(request, 422, readable_validation(exc))

    @app.exception_handler(StarletteHTTPException)
    async def _http(request: Request, exc: StarletteHTTPException) -> Response:
        message = exc.detail if isinstance(exc.detail, str) else "Fel i förfrågan."
        if exc.status_code == 404 and message == "Not Found":
            message = "Hittades inte."
        elif exc.status_code == 405:
            message = "Metoden stöds inte här."
        return _error_response(request, exc.status_code, message,
                               dict(exc.headers) if exc.headers else None)


# --- request models -----------------------------------------------------------------------


class HistoryMessage(BaseModel):
    model_config = ConfigDict(extra="ignore")

    role: Literal["user", "assistant"]
    content: str


class ChatRequest(BaseModel):
    """``POST /api/chat``; limits that are configurable are checked in the route."""

    model_config = ConfigDict(extra="ignore")

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


class FeedbackRequest(BaseModel):
    model_config = ConfigDict(extra="ignore")

    question: str = Field(min_length=1)
    answer: str = Field(max_length=50_000)
    rating: Literal[1, -1, "up", "down"] = Field(description="1/up = tumme upp, -1/down = ned.")
    comment: str | None = Field(None, max_length=MAX_COMMENT_CHARS)
    sources: list[dict[str, Any]] = Field(default_factory=list, max_length=50)
    citations: list[int] = Field(default_factory=list, max_length=200)
    history: list[HistoryMessage] = Field(default_factory=list)
    mode: str | None = Field(None, max_length=100)


class OpenAIMessage(BaseModel):
    model_config = ConfigDict(extra="ignore")

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


class OpenAIChatRequest(BaseModel):
    model_config = ConfigDict(extra="ignore")

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
    settings: Settings
    assistant: Assistant
    feedback: FeedbackStore

    def validate_question(self, question: str,
                          history: Sequence[HistoryMessage | dict[str, str]]) -> str:
        """The configurable input limits, with messages a user can act on."""
        text = question.strip()
        if not text:
            raise ApiError(422, "Frågan är tom.")
        limit = self.settings.max_question_chars
        if len(text) > limit:
            raise ApiError(422, f"Frågan är för lång ({len(text)} tecken, högst {limit}).")
        if len(history) > self.settings.max_history_turns:
            raise ApiError(422, f"Historiken är för lång ({len(history)} meddelanden, högst "
                                f"{self.settings.max_history_turns}).")
        return text

    @staticmethod
    def parse_filters(filters: dict[str, str] | None) -> Filters:
        try:
            return Filters.parse(filters)
        except FilterError as exc:
            raise ApiError(422, str(exc)) from None


def _history(messages: Sequence[HistoryMessage]) -> list[dict[str, str]]:
    return [{"role": m.role, "content": m.content} for m in messages]


def sse(event: str, data: Any) -> dict[str, str]:
    return {"event": event, "data": json.dumps(data, ensure_ascii=False)}


async def answer_events(ctx: ApiContext, question: str, history: list[dict[str, str]],
                        filters: Filters, k: int | None) -> AsyncIterator[tuple[str, Any]]:
    """The assistant's event stream, each blocking step run in a worker thread."""
    stream = ctx.assistant.stream(question, history, k=k, filters=filters)
    async for kind, payload in iterate_in_threadpool(stream):
        yield kind, payload


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
        question = ctx.validate_question(body.question, body.history)
        filters = ctx.parse_filters(body.filters)
        history = _history(body.history)
        if not body.stream:
            try:
                answer: Answer = await run_in_threadpool(
                    ctx.assistant.ask, question, history, body.k, filters)
            except IndexUnavailableError as exc:
                raise ApiError(503, str(exc)) from None
            return JSONResponse(answer.to_dict())

        async def events() -> AsyncIterator[dict[str, str]]:
            try:
                async for kind, payload in answer_events(ctx, question, history, filters, body.k):
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
                yield sse("error", {"error": "Något gick fel när svaret togs fram.",
                                    "status": 500})

        return EventSourceResponse(events(), ping=15)

    @router.post("/api/feedback", tags=["api"], summary="Tumme upp/ned med kommentar",
                 status_code=201)
    async def feedback(body: FeedbackRequest) -> dict[str, Any]:
        question = ctx.validate_question(body.question, body.history)
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
            return HTMLResponse(_source_page(data), headers={
                "content-security-policy": "default-src 'none'; style-src 'unsafe-inline'",
                "x-content-type-options": "nosniff",
            })
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
        question = ctx.validate_question(turns[-1].text(), history)
        filters = ctx.parse_filters(body.filters)
        model = body.model or MODEL_ID
        completion_id = f"chatcmpl-{uuid.uuid4().hex[:24]}"
        created = int(time.time())
        prompt_tokens = sum(len(m.text().split()) for m in turns)

        if not body.stream:
            try:
                answer = await run_in_threadpool(ctx.assistant.ask, question, history, None,
                                                  filters)
            except IndexUnavailableError as exc:
                raise ApiError(503, str(exc)) from None
            content = openai_content(answer)
            completion_tokens = len(content.split())
            return JSONResponse({
                "id": completion_id, "object": "chat.completion", "created": created,
                "model": model,
                "choices": [{"index": 0, "finish_reason": "stop", "logprobs": None,
                             "message": {"role": "assistant", "content": content}}],
                "usage": {"prompt_tokens": prompt_tokens, "completion_tokens": completion_tokens,
                          "total_tokens": prompt_tokens + completion_tokens},
            })

        include_usage = bool((body.stream_options or {}).get("include_usage"))

        def chunk(delta: dict[str, Any], finish: str | None = None) -> dict[str, str]:
            return {"data": json.dumps({
                "id": completion_id, "object": "chat.completion.chunk", "created": created,
                "model": model, "choices": [{"index": 0, "delta": delta, "logprobs": None,
                                             "finish_reason": finish}]}, ensure_ascii=False)}

        async def events() -> AsyncIterator[dict[str, str]]:
            yield chunk({"role": "assistant", "content": ""})
            streamed = ""
            try:
                async for kind, payload in answer_events(ctx, question, history, filters, None):
                    if kind == "token":
                        streamed += payload
                        yield chunk({"content": payload})
                    elif kind == "done":
                        tail = _tail(streamed, payload)
                        if tail:
                            streamed += tail
                            yield chunk({"content": tail})
            except Exception:
                log.exception("streamed completion failed")
                tail = "\n\n(Något gick fel när svaret togs fram.)"
                streamed += tail
                yield chunk({"content": tail})
            yield chunk({}, "stop")
            if include_usage:
                completion_tokens = len(streamed.split())
                yield {"data": json.dumps({
                    "id": completion_id, "object": "chat.completion.chunk", "created": created,
                    "model": model, "choices": [],
                    "usage": {"prompt_tokens": prompt_tokens,
                              "completion_tokens": completion_tokens,
                              "total_tokens": prompt_tokens + completion_tokens}})}
            yield {"data": "[DONE]"}

        return EventSourceResponse(events(), ping=15)

    return router


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


def _load_source(ctx: ApiContext, doc_id: str) -> dict[str, Any] | None:
    store = ctx.assistant.store
    record = store.manifest().get(doc_id)
    if record is None:
        return None
    got = store.chunks.get(where={"$and": [{"doc_id": doc_id}, {"doc_hash": record.doc_hash}]},
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


def _source_page(data: dict[str, Any]) -> str:
    """A plain, script-free page for reading one article (every value escaped)."""
    e = html.escape
    meta = " · ".join(e(str(x)) for x in (data.get("municipality"), data.get("date")) if x)
    url = data.get("url")
    link = (f'<p><a href="{e(url)}" rel="noopener noreferrer">Originalartikeln</a></p>'
            if isinstance(url, str) and url.startswith(("http://", "https://")) else "")
    paragraphs = "".join(f"<p>{e(p)}</p>" for p in str(data.get("text", "")).split("\n\n")
                         if p.strip())
    return f"""<!doctype html>
<html lang="sv"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{e(str(data["title"]))}</title>
<style>
body {{ font: 16px/1.6 system-ui, -apple-system, "Segoe UI", Roboto, Arial, sans-serif;
  color: #1f2328; max-width: 46rem; margin: 2rem auto; padding: 0 1rem; }}
h1 {{ font-size: 1.6rem; line-height: 1.3; margin-bottom: .25rem; }}
.meta {{ color: #57606a; margin-top: 0; }} .id {{ color: #57606a; font-size: .85rem; }}
p {{ white-space: pre-wrap; }} a {{ color: #0a58ca; }}
</style></head>
<body><main>
<h1>{e(str(data["title"]))}</h1>
<p class="meta">{meta}</p>{link}
<article>{paragraphs}</article>
<p class="id">Källa: {e(str(data["id"]))}</p>
</main></body></html>"""


def read_asset(name: str) -> str:
    """A packaged asset's text (read when a route needs it, never at import)."""
    return resources.files("assistant.web").joinpath("assets", name).read_text("utf-8")


def build_asset_router() -> APIRouter:
    """The widget bundle and its demo page; public, cacheable, and CORP cross-origin
    so intranet pages with strict embedder policies can still load the script."""
    router = APIRouter()
    cache: dict[str, str] = {}

    def asset(name: str) -> str:
        if name not in cache:
            cache[name] = read_asset(name)
        return cache[name]

    def serve_asset(name: str) -> Response:
        return Response(asset(name), media_type=ASSET_TYPES[name], headers={
            "cache-control": "public, max-age=300",
            "cross-origin-resource-policy": "cross-origin",
            "x-content-type-options": "nosniff",
        })

    @router.get("/widget.js", include_in_schema=False)
    async def widget_js() -> Response:
        return serve_asset("widget.js")

    @router.get("/widget.css", include_in_schema=False)
    async def widget_css() -> Response:
        return serve_asset("widget.css")

    @router.get("/widget-demo", include_in_schema=False)
    async def widget_demo(request: Request) -> Response:
        base = str(request.base_url).rstrip("/")
        page = asset("widget-demo.html").replace("{{ASSISTANT_URL}}", html.escape(base))
        return HTMLResponse(page, headers={"cache-control": "no-store"})

    return router


# --- /docs: an API reference without any CDN ------------------------------------------------


def _type_of(schema: dict[str, Any]) -> str:
    """A short, readable type for a JSON-schema node (``str | null``, ``list[Message]``)."""
    if "$ref" in schema:
        return str(schema["$ref"]).rsplit("/", 1)[-1]
    if "anyOf" in schema:
        return " | ".join(_type_of(s) for s in schema["anyOf"])
    if "enum" in schema:
        return " | ".join(json.dumps(v, ensure_ascii=False) for v in schema["enum"])
    kind = str(schema.get("type", "any"))
    if kind == "array":
        return f"list[{_type_of(schema.get('items', {}))}]"
    if kind == "object" and isinstance(schema.get("additionalProperties"), dict):
        return f"dict[str, {_type_of(schema['additionalProperties'])}]"
    return {"string": "str", "integer": "int", "boolean": "bool", "number": "float"}.get(kind, kind)


def _inline_code(text: str) -> str:
    """Escaped text with ``code`` spans from docstrings shown as code."""
    return re.sub(r"``?([^`]+?)``?", r"<code>\1</code>", html.escape(text))


def _fields_table(name: str, schemas: dict[str, Any]) -> str:
    e = html.escape
    schema = schemas.get(name, {})
    required = set(schema.get("required", []))
    rows: list[str] = []
    for field, spec in schema.get("properties", {}).items():
        note = str(spec.get("description", ""))
        default = spec.get("default")
        if default not in (None, [], {}):
            note += f" Standard: {json.dumps(default, ensure_ascii=False)}."
        flag = " <em>krävs</em>" if field in required else ""
        rows.append(f"<tr><td><code>{e(field)}</code>{flag}</td>"
                    f"<td><code>{e(_type_of(spec))}</code></td><td>{e(note.strip())}</td></tr>")
    return (f"<table><caption>{e(name)}</caption><tr><th>Fält</th><th>Typ</th>"
            f"<th>Beskrivning</th></tr>{''.join(rows)}</table>")


def docs_page(openapi: dict[str, Any], base: str) -> str:
    """The API reference as one static page: every route from the OpenAPI schema, with
    examples. Self-contained on purpose (no Swagger UI from a CDN); tools that want the
    machine-readable form import ``/openapi.json``."""
    e = html.escape
    schemas = openapi.get("components", {}).get("schemas", {})
    sections: list[str] = []
    for path, operations in openapi.get("paths", {}).items():
        for method, op in operations.items():
            body_ref = (op.get("requestBody", {}).get("content", {}).get("application/json", {})
                        .get("schema", {}).get("$ref", ""))
            body = _fields_table(body_ref.rsplit("/", 1)[-1], schemas) if body_ref else ""
            nested = ""
            if body_ref.endswith(("ChatRequest", "FeedbackRequest")):
                nested = _fields_table("HistoryMessage", schemas)
            elif body_ref.endswith("OpenAIChatRequest"):
                nested = _fields_table("OpenAIMessage", schemas)
            codes = ", ".join(sorted(op.get("responses", {})))
            sections.append(
                f'<section><h3><span class="m m-{e(method)}">{e(method.upper())}</span> '
                f"<code>{e(path)}</code></h3><p><strong>{e(op.get('summary', ''))}</strong></p>"
                f"<p>{_inline_code(op.get('description', ''))}</p>{body}{nested}"
                f'<p class="codes">Svarskoder: {e(codes)}</p></section>')
    examples = f"""curl -s {base}/api/chat -H 'Content-Type: application/json' \\
  -d '{{"question": "Vad gjorde Trollhättan mot segregation?"}}'

curl -sN {base}/api/chat -H 'Content-Type: application/json' \\
  -d '{{"question": "Vad gjorde Trollhättan mot segregation?", "stream": true}}'

# OpenAI-kompatibelt (valfri klient):
from openai import OpenAI
client = OpenAI(base_url="{base}/v1", api_key="API-NYCKEL eller valfritt")
client.chat.completions.create(model="{MODEL_ID}",
    messages=[{{"role": "user", "content": "Vad gjorde Trollhättan mot segregation?"}}])

# Widgeten på en intranätsida (ursprunget måste finnas i ASSISTANT_ALLOWED_ORIGINS):
<script src="{base}/widget.js" data-assistant-url="{base}"
        data-title="Fråga om skolutveckling" data-lang="sv" data-position="right" defer></script>"""
    return f"""<!doctype html>
<html lang="sv"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{e(str(openapi.get("info", {}).get("title", "API")))}</title>
<style>
body {{ font: 15px/1.55 system-ui, -apple-system, "Segoe UI", Roboto, Arial, sans-serif;
  color: #1f2328; max-width: 60rem; margin: 0 auto; padding: 1.5rem 1rem 4rem; }}
h1 {{ margin-bottom: .2rem; }} h2 {{ margin-top: 2rem; border-bottom: 1px solid #d5dbe1; }}
section {{ border: 1px solid #d5dbe1; border-radius: 8px; padding: .2rem 1rem .6rem;
  margin: 1rem 0; background: #fff; }}
code, pre {{ font-family: ui-monospace, SFMono-Regular, Menlo, Consolas, monospace; }}
pre {{ background: #f4f6f9; padding: .8rem; border-radius: 6px; overflow-x: auto; }}
table {{ border-collapse: collapse; width: 100%; margin: .5rem 0; font-size: .92rem; }}
caption {{ text-align: left; font-weight: 600; color: #57606a; }}
th, td {{ text-align: left; border-bottom: 1px solid #e3e7eb; padding: .3rem .5rem;
  vertical-align: top; }}
.m {{ display: inline-block; min-width: 3.6rem; text-align: center; border-radius: 4px;
  color: #fff; font-size: .8rem; padding: 0 .4rem; background: #57606a; }}
.m-post {{ background: #1d4f91; }} .m-get {{ background: #2e6b35; }}
.codes {{ color: #57606a; font-size: .85rem; }} a {{ color: #0a58ca; }}
</style></head><body><main>
<h1>{e(str(openapi.get("info", {}).get("title", "API")))}</h1>
<p>Version {e(str(openapi.get("info", {}).get("version", "")))} ·
<a href="openapi.json">openapi.json</a> · <a href="./">Chatten</a> ·
<a href="widget-demo">Widget-demo</a></p>
<p>Fel returneras som JSON <code>{{"error": "…"}}</code> (under <code>/v1</code> i
OpenAI-format). Anrop från andra webbplatser kräver att ursprunget finns i
<code>ASSISTANT_ALLOWED_ORIGINS</code>; med <code>ASSISTANT_API_KEYS</code> satt kräver
server-till-server-anrop <code>Authorization: Bearer NYCKEL</code> eller
<code>X-API-Key</code>. För många anrop ger 429 med <code>Retry-After</code>.</p>
<h2>Exempel</h2><pre>{e(examples)}</pre>
<h2>Endpoints</h2>{"".join(sections)}
</main></body></html>"""


def build_docs_router(app: FastAPI) -> APIRouter:
    router = APIRouter()

    @router.get("/docs", include_in_schema=False)
    async def docs(request: Request) -> Response:
        base = str(request.base_url).rstrip("/")
        return HTMLResponse(docs_page(app.openapi(), base), headers={
            "content-security-policy": "default-src 'none'; style-src 'unsafe-inline'",
        })

    return router
