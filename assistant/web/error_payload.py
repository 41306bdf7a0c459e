"""One builder for every error a client sees: JSON replies, SSE error events, ``/v1``
(OpenAI's error shape, whole or as a stream chunk) and the chat UI's message.

Why one: "a 500 shows a generic message (the real one goes to the log), a 503 says
when to try again" used to be worked out in the error handlers, the chat stream, the
``/v1`` stream and the UI, each a little differently. :meth:`ErrorPayload.of` decides
it once; the methods only shape the result for their channel.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from assistant.errors import AssistantError

__all__ = [
    "ANSWER_FAILED",
    "OPENAI_ERRORS",
    "SERVER_ERROR",
    "UNAVAILABLE_RETRY",
    "ErrorPayload",
    "request_id_of",
]

# What a client sees instead of a server-side error's message (it may name hosts or
# settings). A reply that failed before any work, or in a stream while answering.
SERVER_ERROR = "Något gick fel på servern. Försök igen."
ANSWER_FAILED = "Något gick fel när svaret togs fram."
# Seconds an outage (503) asks a client to wait when the error does not know better.
UNAVAILABLE_RETRY = 30

# OpenAI's error ``type``/``code`` per status, so OpenAI clients raise the right exception
# class and tell a rate limit or an outage from a bad request.
OPENAI_ERRORS: dict[int, tuple[str, str | None]] = {
    400: ("invalid_request_error", None),
    401: ("authentication_error", "invalid_api_key"),
    403: ("permission_error", "permission_denied"),
    404: ("invalid_request_error", "not_found"),
    405: ("invalid_request_error", "method_not_allowed"),
    413: ("invalid_request_error", "request_too_large"),
    422: ("invalid_request_error", "invalid_value"),
    429: ("rate_limit_exceeded", "rate_limit_exceeded"),
    500: ("server_error", "internal_error"),
    503: ("server_error", "service_unavailable"),
    507: ("server_error", "insufficient_storage"),
}


def _is_openai(path: str) -> bool:
    return path.startswith("/v1/")


def request_id_of(scope: Mapping[str, Any]) -> str | None:
    """The request's id (:mod:`assistant.web.observe` puts it in the ASGI scope's
    ``state``), so every error body can name it: a person quoting it to the help desk
    leads the operator to the request's log lines."""
    state = scope.get("state")
    value = state.get("request_id") if isinstance(state, Mapping) else None
    return value if isinstance(value, str) else None


@dataclass(frozen=True)
class ErrorPayload:
    """An error as a client sees it: status, Swedish message, seconds to wait (if any)."""

    status: int
    message: str
    retry_after: int | None = None

    @classmethod
    def of(cls, exc: BaseException, generic: str = SERVER_ERROR) -> ErrorPayload:
        """The rule: our errors keep their status and message, except that a 500 (a bug
        or a server-side setting) shows ``generic``; anything else is a 500 too; a 503
        says when to look again, whether or not the error knows better."""
        if not isinstance(exc, AssistantError) or exc.http_status == 500:
            return cls(500, generic)
        status = exc.http_status
        return cls(status, str(exc),
                   exc.retry_after or (UNAVAILABLE_RETRY if status == 503 else None))

    @property
    def logged(self) -> bool:
        """Whether the cause belongs in the server log (the client only sees ``generic``)."""
        return self.status == 500

    def headers(self) -> dict[str, str] | None:
        """``Retry-After`` when there is something to wait for."""
        return {"retry-after": str(self.retry_after)} if self.retry_after else None

    def openai(self) -> dict[str, Any]:
        """OpenAI's error object; its clients show ``error.message`` to their users."""
        kind, code = OPENAI_ERRORS.get(self.status, (
            "server_error" if self.status >= 500 else "invalid_request_error", None))
        return {"error": {"message": self.message, "type": kind, "code": code, "param": None}}

    def body(self, path: str, retry_field: bool = True,
             request_id: str | None = None) -> bytes:
        """The JSON reply: ``{"error": "...", "retry_after": n, "request_id": "..."}`` for
        our API and widget (``retry_after`` only when set and ``retry_field``), OpenAI's
        shape under ``/v1`` (its clients ignore the extra ``request_id``)."""
        if _is_openai(path):
            payload = self.openai()
        else:
            payload = {"error": self.message}
            if retry_field and self.retry_after:
                payload["retry_after"] = self.retry_after
        if request_id:
            payload["request_id"] = request_id
        return json.dumps(payload, ensure_ascii=False).encode()

    def sse_data(self, request_id: str | None = None) -> dict[str, Any]:
        """The ``data`` of an ``/api/chat`` ``error`` event: the 200 is already sent, so the
        status travels inside (and the request id, when known)."""
        data: dict[str, Any] = {"error": self.message, "status": self.status,
                                "retry_after": self.retry_after}
        if request_id:
            data["request_id"] = request_id
        return data

    def ui_text(self) -> str:
        """The chat UI's message: a failed answer invites another try."""
        return f"{self.message} Försök igen." if self.logged else self.message
