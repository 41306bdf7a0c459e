"""The one error builder: what each channel (JSON, SSE, /v1, the UI) gets for an error."""

from __future__ import annotations

import json

import pytest

from assistant.errors import (
    ApiError,
    ConfigError,
    FilterError,
    IndexUnavailableError,
    StorageError,
)
from assistant.web.error_payload import (
    ANSWER_FAILED,
    SERVER_ERROR,
    UNAVAILABLE_RETRY,
    ErrorPayload,
    request_id_of,
)


def test_a_server_side_error_shows_the_generic_message() -> None:
    for exc in (ConfigError("ASSISTANT_X=http://hemlig.intern"), RuntimeError("hemlig")):
        payload = ErrorPayload.of(exc)
        assert payload == ErrorPayload(500, SERVER_ERROR) and payload.logged
        assert payload.headers() is None
    assert ErrorPayload.of(RuntimeError("x"), ANSWER_FAILED).message == ANSWER_FAILED


def test_an_outage_says_when_to_try_again() -> None:
    payload = ErrorPayload.of(IndexUnavailableError("Lagret svarar inte."))
    assert (payload.status, payload.retry_after) == (503, UNAVAILABLE_RETRY)
    assert payload.headers() == {"retry-after": str(UNAVAILABLE_RETRY)}
    assert not payload.logged
    busy = ErrorPayload.of(StorageError(503, "Upptaget.", retry_after=5))
    assert busy.retry_after == 5  # the error's own estimate wins


def test_a_client_error_keeps_status_and_message() -> None:
    payload = ErrorPayload.of(FilterError("Okänt filter: kommun"))
    assert payload == ErrorPayload(422, "Okänt filter: kommun")
    assert ErrorPayload.of(ApiError(404, "Finns inte.")).status == 404


def test_json_shapes() -> None:
    payload = ErrorPayload(429, "Vänta.", 7)
    assert json.loads(payload.body("/api/chat")) == {"error": "Vänta.", "retry_after": 7}
    assert json.loads(payload.body("/api/chat", retry_field=False)) == {"error": "Vänta."}
    assert json.loads(ErrorPayload(404, "Nej.").body("/api/x")) == {"error": "Nej."}
    assert json.loads(payload.body("/v1/chat/completions")) == {"error": {
        "message": "Vänta.", "type": "rate_limit_exceeded", "code": "rate_limit_exceeded",
        "param": None}}
    # The request id (assistant.web.observe) beside the error, in both shapes.
    assert json.loads(payload.body("/api/chat", request_id="ab12")) == {
        "error": "Vänta.", "retry_after": 7, "request_id": "ab12"}
    assert json.loads(payload.body("/v1/models", request_id="ab12"))["request_id"] == "ab12"
    assert request_id_of({"state": {"request_id": "ab12"}}) == "ab12"
    assert request_id_of({}) is None and request_id_of({"state": {"request_id": 3}}) is None


@pytest.mark.parametrize("status, kind", [
    (400, "invalid_request_error"), (418, "invalid_request_error"),
    (502, "server_error"), (503, "server_error")])
def test_openai_types(status: int, kind: str) -> None:
    assert ErrorPayload(status, "x").openai()["error"]["type"] == kind


def test_stream_and_ui_shapes() -> None:
    outage = ErrorPayload.of(IndexUnavailableError("Lagret svarar inte."), ANSWER_FAILED)
    assert outage.sse_data() == {"error": "Lagret svarar inte.", "status": 503,
                                 "retry_after": UNAVAILABLE_RETRY}
    assert outage.ui_text() == "Lagret svarar inte."
    failed = ErrorPayload.of(KeyError("intern nyckel"), ANSWER_FAILED)
    assert failed.sse_data() == {"error": ANSWER_FAILED, "status": 500, "retry_after": None}
    assert failed.sse_data("ab12")["request_id"] == "ab12"
    assert failed.ui_text() == f"{ANSWER_FAILED} Försök igen."
