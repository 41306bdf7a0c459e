"""Request and response models of the HTTP API (the wire format, and nothing else).

Limits that are configurable (question length, history turns) are checked by
:class:`assistant.web.context.ApiContext`, not here, because they come from Settings.
"""

from __future__ import annotations

import re
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator
from pydantic_core import PydanticCustomError

from assistant.history import Message, Role
from assistant.web.feedback import MAX_COMMENT_CHARS

__all__ = [
    "ERROR_RESPONSES", "ChatRequest", "ErrorBody", "FeedbackRequest", "HistoryMessage",
    "OpenAIChatRequest", "OpenAIMessage", "RequestModel", "history_of",
]

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
    because the embedder and SQLite would otherwise fail on it with a 500. Types are
    strict: ``"stream": 0`` or ``"citations": [false]`` is a client bug to report, not
    to guess around."""

    model_config = ConfigDict(extra="ignore", strict=True)

    @field_validator("*", mode="before")
    @classmethod
    def _encodable(cls, value: Any) -> Any:
        if _has_surrogate(value):
            raise PydanticCustomError("text_invalid", "contains unpaired surrogates")
        return value


class HistoryMessage(RequestModel):
    """One earlier message; the roles are :data:`assistant.history.ROLES`."""

    role: Role
    content: str

    def message(self) -> Message:
        return Message(role=self.role, content=self.content)


def history_of(messages: list[HistoryMessage]) -> list[Message]:
    """Request history as the library's :class:`assistant.history.Message` dicts."""
    return [m.message() for m in messages]


class ChatRequest(RequestModel):
    """``POST /api/chat``; limits that are configurable are checked in the route."""

    question: str = Field(description="Frågan (högst ASSISTANT_MAX_QUESTION_CHARS tecken).",
                          examples=["Vad gjorde Trollhättan mot segregation?"])
    history: list[HistoryMessage] = Field(
        default_factory=list,
        description="Tidigare meddelanden, äldst först (högst ASSISTANT_MAX_HISTORY_TURNS "
                    "turer; en tur = en fråga och svaret på den).")
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
    role: Literal["system", "developer", "user", "assistant", "tool", "function"]
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
