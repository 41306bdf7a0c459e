"""Errors → HTTP: every error the API returns is JSON with a readable Swedish ``error``
text (OpenAI's error shape under ``/v1``), never a traceback.

Our own errors carry their status (:attr:`assistant.errors.AssistantError.http_status`),
so there is one handler for all of them; a 500 means a bug or a server-side setting,
whose message stays in the log (the rule is :meth:`ErrorPayload.of`, shared with the
streams and the UI). FastAPI's and Starlette's own errors are translated here.
"""

from __future__ import annotations

import logging

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import Response
from starlette.exceptions import HTTPException as StarletteHTTPException

from assistant.errors import AssistantError
from assistant.web.error_payload import SERVER_ERROR, ErrorPayload, request_id_of
from assistant.web.security import route_path

__all__ = ["SERVER_ERROR", "error_response", "install_error_handlers", "readable_validation"]

log = logging.getLogger("assistant.web")

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

# Errors the framework raises itself (ours are AssistantError), in Swedish.
_HTTP_SV = {
    400: "Ogiltig förfrågan: innehållet kunde inte läsas (ska vara JSON i UTF-8).",
    404: "Hittades inte.",
    413: "Förfrågan är för stor.",
    405: "Metoden stöds inte här.",
}


def error_response(request: Request, payload: ErrorPayload,
                   headers: dict[str, str] | None = None) -> Response:
    """The JSON reply; ``Retry-After`` as a header only (the body is ``{"error"}``, and the
    request id). The id goes in a header here too: an unexpected error's reply is sent
    from outside :class:`~assistant.web.observe.ObserveMiddleware`."""
    request_id = request_id_of(request.scope)
    extra = {**(payload.headers() or {}), **(headers or {})}
    if request_id:
        extra["x-request-id"] = request_id
    return Response(payload.body(route_path(request.scope), retry_field=False,
                                 request_id=request_id),
                    status_code=payload.status, media_type="application/json",
                    headers=extra or None)


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
    """Register the translations above on ``app``."""

    @app.exception_handler(AssistantError)
    async def _ours(request: Request, exc: AssistantError) -> Response:
        payload = ErrorPayload.of(exc)
        if payload.logged:
            log.error("request failed: %s", exc, exc_info=exc)
        return error_response(request, payload)

    @app.exception_handler(RequestValidationError)
    async def _validation(request: Request, exc: RequestValidationError) -> Response:
        return error_response(request, ErrorPayload(422, readable_validation(exc)))

    @app.exception_handler(StarletteHTTPException)
    async def _http(request: Request, exc: StarletteHTTPException) -> Response:
        message = _HTTP_SV.get(exc.status_code, "Fel i förfrågan.")
        return error_response(request, ErrorPayload(exc.status_code, message),
                              dict(exc.headers) if exc.headers else None)

    @app.exception_handler(Exception)
    async def _unexpected(request: Request, exc: Exception) -> Response:
        # The traceback goes to the server log (Starlette re-raises), never to the client.
        return error_response(request, ErrorPayload.of(exc))
