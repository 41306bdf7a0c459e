"""The HTTP contract beyond the routes themselves: methods, and what the schema promises.

Gradio is mounted at ``/`` and answers every path the API does not claim, so a
wrong method on one of our routes (``PUT /api/chat``) would otherwise end as
Gradio's 404. :class:`MethodGuard` answers it as 405 in the project's JSON
error format with an ``Allow`` header, and answers ``HEAD`` like ``GET``
without a body (monitoring probes use it on ``/healthz`` and ``/readyz``).

:func:`document_contract` adds to the OpenAPI schema what clients and fuzzers
need to know and FastAPI cannot see: the configured limits, every error
response with its shape (OpenAI's under ``/v1``), ``Retry-After``, the SSE
media type of streamed answers, and the credentials. Which operation takes which
credential, carries a history or streams is read from its declaration in
:mod:`assistant.web.routes`, the one the security middleware enforces.
"""

from __future__ import annotations

import copy
from collections.abc import Callable, Iterable, Iterator
from typing import TYPE_CHECKING, Any

from fastapi import FastAPI
from fastapi.routing import APIRoute
from starlette.routing import BaseRoute
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from assistant.history import max_messages
from assistant.web.error_payload import ErrorPayload, request_id_of
from assistant.web.routes import Access, RouteRule, example_path, rule_for
from assistant.web.security import route_path

if TYPE_CHECKING:
    from assistant.config import Settings

__all__ = ["MethodGuard", "document_contract"]


class MethodGuard:
    """405 for a wrong method on an API route; HEAD served as GET without the body."""

    def __init__(self, app: ASGIApp, api: FastAPI) -> None:
        self.app = app
        self.api = api

    def _allowed(self, scope: Scope) -> set[str] | None:
        """Methods of our routes whose path matches, or ``None`` if one takes this method."""
        path = route_path(scope)
        allowed: set[str] = set()
        for route in _api_routes(self.api.router.routes):
            methods = route.methods or set()
            if route.path_regex.match(path):
                if scope["method"] in methods:
                    return None
                allowed |= methods
        return allowed

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        allowed = self._allowed(scope)
        if not allowed:
            await self.app(scope, receive, send)
            return
        if scope["method"] == "HEAD" and "GET" in allowed:
            await self.app({**scope, "method": "GET"}, receive, _without_body(send))
            return
        methods = ", ".join(sorted(allowed | ({"HEAD"} if "GET" in allowed else set())))
        path = route_path(scope)
        body = ErrorPayload(405, f"Metoden {scope['method']} stöds inte här. "
                                 f"Tillåtna metoder: {methods}.").body(
                                     path, request_id=request_id_of(scope))
        await send({"type": "http.response.start", "status": 405, "headers": [
            (b"content-type", b"application/json; charset=utf-8"),
            (b"content-length", str(len(body)).encode()),
            (b"allow", methods.encode()),
        ]})
        await send({"type": "http.response.body", "body": body})


def _api_routes(routes: Iterable[BaseRoute]) -> Iterator[APIRoute]:
    """Our API routes, also inside included routers (FastAPI keeps those nested); Gradio's
    mount and plain routes are left to decide for themselves."""
    for route in routes:
        if isinstance(route, APIRoute):
            yield route
        nested = getattr(route, "original_router", None)
        if nested is not None:
            yield from _api_routes(nested.routes)


def _without_body(send: Send) -> Send:
    async def head_send(message: Message) -> None:
        if message["type"] == "http.response.body":
            message = {**message, "body": b""}
        await send(message)

    return head_send


# --- the OpenAPI schema ---------------------------------------------------------------------

_ERROR = {"type": "object", "required": ["error"], "properties": {
    "error": {"type": "string", "description": "Felet i klartext (svenska)."},
    "retry_after": {"type": "integer", "description": "Sekunder att vänta (vid 429)."}}}
_OPENAI_ERROR = {"type": "object", "required": ["error"], "properties": {"error": {
    "type": "object", "required": ["message", "type"],
    "properties": {"message": {"type": "string"}, "type": {"type": "string"},
                   "code": {"type": ["string", "null"]}, "param": {"type": ["string", "null"]}}}}}
_RETRY_AFTER = {"Retry-After": {"description": "Sekunder att vänta innan nästa försök.",
                                "schema": {"type": "integer"}}}
_COMMON = {
    "400": "Ogiltig förfrågan (innehållet är inte JSON i UTF-8)",
    "401": "Inloggning krävs: API-nyckel, sessionskaka eller widgetnyckel saknas eller är ogiltig",
    "403": "Ursprunget (Origin) är inte tillåtet",
    "413": "För stor förfrågan (ASSISTANT_MAX_BODY_BYTES)",
    "431": "För stora huvuden i förfrågan (ASSISTANT_MAX_HEADER_BYTES)",
    "422": "Ogiltig fråga, historik eller filter",
    "429": "För många förfrågningar (ASSISTANT_RATE_LIMIT); se Retry-After",
    "503": "Indexet eller lagringen är tillfälligt otillgänglig; se Retry-After",
}
_EXTRA = {
    ("/api/sources/{doc_id}", "get"): {"404": "Källan finns inte i indexet"},
    ("/api/feedback", "post"): {"507": "Lagringen för återkoppling är full"},
}
# The knowledge base's admin routes (issue 21): what else they answer.
_ADMIN_CODES = {
    "401": "Administratörsnyckel eller administrationssidans session krävs",
    "403": "Ursprunget är inte tillåtet, eller CSRF-token saknas (X-CSRF-Token)",
    "404": "Dokumentet eller jobbet finns inte; hela /api/admin/ utan ASSISTANT_ADMIN_KEYS",
    "409": "Samma filnamn två gånger i en uppladdning",
    "413": "För stor fil (ASSISTANT_MAX_UPLOAD_BYTES) eller för många filer",
    "422": "Filtypen stöds inte, filen går inte att läsa (tom, trasig, krypterad, binär) "
           "eller ogiltig metadata",
    "429": "För många förfrågningar (ASSISTANT_ADMIN_RATE_LIMIT); se Retry-After",
}
_SECURITY = {
    "apiKey": {"type": "apiKey", "in": "header", "name": "X-API-Key",
               "description": "Hemlig nyckel för servrar (ASSISTANT_API_KEYS)."},
    "bearer": {"type": "http", "scheme": "bearer",
               "description": "Samma hemliga nyckel som 'Authorization: Bearer NYCKEL'."},
    "session": {"type": "apiKey", "in": "cookie", "name": "sa_session",
                "description": "Sessionskaka som chattsidan får när den laddas; gäller bara "
                               "sidans egna anrop (Origin eller Sec-Fetch-Site: same-origin)."},
    "widgetKey": {"type": "apiKey", "in": "header", "name": "X-Widget-Key",
                  "description": "Publicerbar widgetnyckel, giltig bara från sitt ursprung."},
    "adminKey": {"type": "http", "scheme": "bearer",
                 "description": "Administratörsnyckel (ASSISTANT_ADMIN_KEYS), bara för "
                                "/api/admin/*; 'Authorization: Bearer NYCKEL' eller "
                                "'X-API-Key: NYCKEL'."},
    "adminSession": {"type": "apiKey", "in": "cookie", "name": "sa_admin",
                     "description": "Administrationssidans sessionskaka (efter inloggning "
                                    "med en administratörsnyckel); ändringar kräver också "
                                    "CSRF-token i X-CSRF-Token."},
}
# The security schemes that present each kind of credential a route may accept.
_SCHEMES: dict[Access, tuple[str, ...]] = {
    "key": ("apiKey", "bearer"), "session": ("session",), "widget": ("widgetKey",),
    "editor": ("adminKey",), "editor_session": ("adminSession",),
}


def _rule(path: str, method: str) -> RouteRule:
    """The declaration of an operation of the schema (``/api/sources/{doc_id}``, ``get``)."""
    return rule_for(method.upper(), example_path(path))


def _body_schema(operation: dict[str, Any], components: dict[str, Any]) -> dict[str, Any]:
    """The JSON request body's schema of an operation, resolved; empty without one."""
    ref = (operation.get("requestBody", {}).get("content", {}).get("application/json", {})
           .get("schema", {}).get("$ref", ""))
    schema: dict[str, Any] = components.get(ref.rsplit("/", 1)[-1], {}) if ref else {}
    return schema


def _limits(schema: dict[str, Any], settings: Settings) -> None:
    """The configured limits, where a client (or a fuzzer) can read them: on the request
    bodies of the operations whose declaration says they carry a history, and in
    ``info.x-limits``."""
    components = schema.setdefault("components", {}).setdefault("schemas", {})
    for path, operations in schema.get("paths", {}).items():
        for method, operation in operations.items():
            if not _rule(path, method).limits.history_turns:
                continue
            props = _body_schema(operation, components).get("properties", {})
            if "question" in props:
                props["question"].update({"maxLength": settings.max_question_chars,
                                          "minLength": 1, "pattern": r"\S"})
            if "history" in props:
                # A list of messages, limited in turns (a question and its answer).
                props["history"]["maxItems"] = max_messages(settings.max_history_turns)
    schema["info"]["x-limits"] = {
        "max_question_chars": settings.max_question_chars,
        "max_history_turns": settings.max_history_turns,
        "max_history_messages": max_messages(settings.max_history_turns),
        "max_body_bytes": settings.max_body_bytes,
        "rate_limit": settings.rate_limit,
        "widget_rate_limit": settings.widget_rate_limit,
        "read_rate_limit": settings.read_rate_limit,
        "max_header_bytes": settings.max_header_bytes,
        "feedback_max_rows": settings.feedback_max_rows,
    }


def _sse_event(path: str) -> dict[str, Any]:
    """One Server-Sent Event of a streamed answer: ours are named, OpenAI's are bare
    ``data`` chunks ending with ``[DONE]``; a failure is an ``error`` event or chunk."""
    if path.startswith("/v1/"):
        return {"type": "object", "required": ["data"], "description": (
            "data: ett chat.completion.chunk (JSON), ett OpenAI-fel {\"error\": …} "
            "eller [DONE]."), "properties": {"data": {"type": "string"}}}
    return {"type": "object", "required": ["event", "data"], "description": (
        "sources (källorna), token ({\"text\": …}, redan kontrollerad text), done "
        "(svarsobjektet) eller error ({\"error\": …, \"status\": …})."),
        "properties": {"event": {"type": "string",
                                 "enum": ["sources", "token", "done", "error"]},
                       "data": {"type": "string"}}}


def _responses(path: str, method: str, operation: dict[str, Any], rule: RouteRule) -> None:
    error = _OPENAI_ERROR if path.startswith("/v1/") else _ERROR
    responses = operation.setdefault("responses", {})
    codes = {**_COMMON, **_EXTRA.get((path, method), {})}
    if path.startswith("/api/admin/"):
        codes.update(_ADMIN_CODES)
    if method == "get":
        codes.pop("413", None)
        codes.pop("400", None)
    for code in [c for c in responses if c.isdigit() and int(c) >= 400 and c not in codes]:
        del responses[code]  # e.g. 413 on a GET, from the router-wide list
    for code, text in codes.items():
        entry: dict[str, Any] = {"description": text,
                                 "content": {"application/json": {"schema": error}}}
        if code in ("429", "503"):
            entry["headers"] = _RETRY_AFTER
        responses[code] = entry
    ok = responses.get("200")
    if rule.streams and ok is not None:
        ok.setdefault("content", {})["text/event-stream"] = {"schema": _sse_event(path)}


def _credentials(rule: RouteRule, open_mode: bool) -> list[dict[str, list[str]]] | None:
    """The security requirement of an operation: any one scheme of a credential kind its
    declaration accepts; ``None`` for a public one."""
    if rule.public:
        return None
    credentials: list[dict[str, list[str]]] = [
        {name: []} for kind in sorted(rule.access) for name in _SCHEMES.get(kind, ())]
    if open_mode and not rule.editor_only:
        credentials.append({})  # open mode: the origin allowlist and limits protect
    return credentials


def document_contract(app: FastAPI, settings: Settings) -> None:
    """Make ``app.openapi()`` describe limits, errors, SSE and credentials."""
    base: Callable[[], dict[str, Any]] = app.openapi
    cache: dict[str, Any] = {}

    def openapi() -> dict[str, Any]:
        if not cache:
            schema = copy.deepcopy(base())
            _limits(schema, settings)
            for path, operations in schema.get("paths", {}).items():
                for method, operation in operations.items():
                    rule = _rule(path, method)
                    _responses(path, method, operation, rule)
                    credentials = _credentials(rule, not settings.api_keys)
                    if credentials is not None:
                        operation["security"] = credentials
            schema["components"]["securitySchemes"] = _SECURITY
            schema["components"]["schemas"].pop("ErrorBody", None)
            cache.update(schema)
        return cache

    app.openapi = openapi  # type: ignore[method-assign]
