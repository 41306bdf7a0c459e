"""Request ids and the JSON log lines, on a real server: every request and every answer
is one JSON line carrying the id the response returned; a client's own X-Request-ID is
believed only from a trusted proxy and only when it is a sane token."""

from __future__ import annotations

import json
import logging
import re
import time
from collections.abc import Callable, Iterator
from typing import Any

import httpx
import pytest
from pydantic import SecretStr

from assistant.runtime import OBSERVED_LOGGERS, JsonFormatter, configure_logging
from assistant.web.auth import ClientIdentity
from assistant.web.observe import request_id_for, route_label, sane_request_id
from assistant.web.server import uvicorn_config
from tests.web.conftest import QUESTION, TROLLHATTAN_DOC, LiveServer

GENERATED = re.compile(r"[0-9a-f]{32}")
PERSONNUMMER = "811218-9876"  # Luhn-valid


class _Lines(logging.Handler):
    """Each record as the JSON formatter writes it."""

    def __init__(self) -> None:
        super().__init__(logging.INFO)
        self.setFormatter(JsonFormatter())
        self.lines: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.lines.append(self.format(record))

    def parsed(self) -> list[dict[str, Any]]:
        return [json.loads(line) for line in self.lines]  # every line is one JSON object


@pytest.fixture
def log_lines() -> Iterator[_Lines]:
    handler = _Lines()
    loggers = [logging.getLogger(name) for name in OBSERVED_LOGGERS]
    levels = [lg.level for lg in loggers]
    for lg in loggers:
        lg.addHandler(handler)
        lg.setLevel(logging.INFO)
    yield handler
    for lg, level in zip(loggers, levels, strict=True):
        lg.removeHandler(handler)
        lg.setLevel(level)


def _by_id(lines: _Lines, request_id: str, event: str) -> list[dict[str, Any]]:
    """The lines of one request and event. The request's own line is written when its
    response has ended, which may be just after the client read the last byte."""
    deadline = time.monotonic() + 5
    while True:
        found = [line for line in lines.parsed() if line.get("request_id") == request_id
                 and line.get("event") == event]
        if found or time.monotonic() > deadline:
            return found
        time.sleep(0.02)


def test_request_and_answer_lines_carry_the_response_id(
        server_factory: Callable[..., LiveServer], log_lines: _Lines) -> None:
    server = server_factory(log_format="json")
    response = httpx.post(f"{server.url}/api/chat", json={"question": QUESTION}, timeout=60)
    assert response.status_code == 200
    request_id = response.headers["x-request-id"]
    assert GENERATED.fullmatch(request_id)
    (request,) = _by_id(log_lines, request_id, "request")
    assert request["method"] == "POST" and request["route"] == "/api/chat"
    assert request["status"] == 200 and request["duration_ms"] > 0
    assert request["logger"] == "assistant.access" and request["level"] == "info"
    (answer,) = _by_id(log_lines, request_id, "answer")
    assert answer["outcome"] == "answer" and answer["rule"] == "accepted"
    assert answer["channel"] == "api" and answer["mode"] == "extractive"
    assert set(answer["timings_ms"]) >= {"retrieve", "generate", "total"}
    assert TROLLHATTAN_DOC in answer["sources"] and TROLLHATTAN_DOC in answer["cited"]
    assert "question" not in answer  # not without ASSISTANT_LOG_QUESTIONS
    assert "Trollhättan mot segregation" not in "\n".join(log_lines.lines)

    streamed = httpx.post(f"{server.url}/api/chat", timeout=60,
                          json={"question": "Kan du ge mig ett recept på kanelbullar?",
                                "stream": True})
    stream_id = streamed.headers["x-request-id"]
    (refusal,) = _by_id(log_lines, stream_id, "answer")
    assert refusal["outcome"] == "refused" and refusal["rule"] not in (None, "accepted")
    assert _by_id(log_lines, stream_id, "request")[0]["status"] == 200


def test_questions_are_logged_only_when_asked_and_then_masked(
        server_factory: Callable[..., LiveServer], log_lines: _Lines) -> None:
    server = server_factory(log_format="json", log_questions=True)
    question = f"Vad gjorde Trollhättan mot segregation? Mitt nummer är {PERSONNUMMER}."
    response = httpx.post(f"{server.url}/api/chat", json={"question": question}, timeout=60)
    (answer,) = _by_id(log_lines, response.headers["x-request-id"], "answer")
    assert answer["question"] == (
        "Vad gjorde Trollhättan mot segregation? Mitt nummer är [personnummer].")
    assert PERSONNUMMER not in "\n".join(log_lines.lines)


@pytest.mark.parametrize("status, request_kwargs", [
    (422, {"method": "POST", "url": "/api/chat", "json": {"question": "  "}}),
    (404, {"method": "GET", "url": "/gradio_api/info"}),      # refused by the middleware
    (401, {"method": "POST", "url": "/v1/chat/completions",   # OpenAI's error shape
           "json": {"messages": []}, "headers": {"Authorization": "Bearer fel"}}),
    (405, {"method": "DELETE", "url": "/api/chat"}),
])
def test_every_error_body_names_the_request_id(
        server_factory: Callable[..., LiveServer], log_lines: _Lines, status: int,
        request_kwargs: dict[str, Any]) -> None:
    server = server_factory(log_format="json", api_keys=[SecretStr("sk-observe")] if status == 401
                            else [])
    kwargs = {**request_kwargs, "url": server.url + request_kwargs["url"]}
    response = httpx.request(**kwargs, timeout=30)
    assert response.status_code == status
    request_id = response.headers["x-request-id"]
    assert response.json()["request_id"] == request_id
    (line,) = _by_id(log_lines, request_id, "request")
    assert line["status"] == status


def test_a_rate_limited_request_is_logged_with_its_id(
        server_factory: Callable[..., LiveServer], log_lines: _Lines) -> None:
    server = server_factory(log_format="json", rate_limit="1/minute")
    httpx.post(f"{server.url}/api/chat", json={"question": QUESTION}, timeout=60)
    limited = httpx.post(f"{server.url}/api/chat", json={"question": QUESTION}, timeout=60)
    assert limited.status_code == 429
    assert limited.json()["request_id"] == limited.headers["x-request-id"]
    (line,) = _by_id(log_lines, limited.headers["x-request-id"], "request")
    assert line["status"] == 429 and line["route"] == "/api/chat"


def test_a_trusted_proxys_request_id_is_kept(server_factory: Callable[..., LiveServer],
                                              log_lines: _Lines) -> None:
    server = server_factory(log_format="json", trusted_proxies=["127.0.0.1"])
    sent = "lb-7f3c.2024_05-06"
    response = httpx.get(f"{server.url}/healthz", headers={"X-Request-ID": sent})
    assert response.headers["x-request-id"] == sent
    assert _by_id(log_lines, sent, "request")[0]["route"] == "/healthz"
    for bad in (b"x" * 65, b"two words", b"a/b", "åäö".encode(), b""):
        response = httpx.get(f"{server.url}/healthz", headers={b"X-Request-ID": bad})
        assert GENERATED.fullmatch(response.headers["x-request-id"]), bad
    assert all(line["request_id"] != "x" * 65 for line in log_lines.parsed())


def test_an_untrusted_clients_request_id_is_ignored(
        server_factory: Callable[..., LiveServer]) -> None:
    server = server_factory(log_format="json")
    response = httpx.get(f"{server.url}/healthz", headers={"X-Request-ID": "mine-123"})
    assert GENERATED.fullmatch(response.headers["x-request-id"])


def _scope(*headers: tuple[bytes, bytes], peer: str = "10.0.0.5") -> dict[str, Any]:
    return {"type": "http", "client": (peer, 4711), "headers": list(headers)}


def test_request_id_rules() -> None:
    """What a trusted proxy may pass on: one sane token; never a newline (a forged log
    line), a second header, or bytes that are not ASCII."""
    proxy = ClientIdentity(["10.0.0.0/24"])
    assert request_id_for(_scope((b"x-request-id", b"abc-1.2_3")), proxy) == "abc-1.2_3"
    assert request_id_for(_scope((b"X-Request-ID", b"abc")), proxy) == "abc"
    for bad in (b"abc\n{\"event\": \"forged\"}", b"abc\r\nx: y", b"a" * 65, b"\xc3\xa5",
                b"abc def", b"abc;rm"):
        assert GENERATED.fullmatch(request_id_for(_scope((b"x-request-id", bad)), proxy))
    twice = _scope((b"x-request-id", b"a"), (b"x-request-id", b"b"))
    assert GENERATED.fullmatch(request_id_for(twice, proxy))
    outsider = _scope((b"x-request-id", b"abc"), peer="192.0.2.1")
    assert GENERATED.fullmatch(request_id_for(outsider, proxy))
    assert sane_request_id("a" * 64) == "a" * 64 and sane_request_id("a" * 65) is None
    assert request_id_for(_scope(), proxy) != request_id_for(_scope(), proxy)


def test_route_labels_are_the_declarations() -> None:
    assert route_label("POST", "/api/chat") == "/api/chat"
    assert route_label("GET", "/api/sources/004_x.txt") == "/api/sources/*"
    assert route_label("GET", "/wp-admin/../etc/passwd") == "/*"  # bounded


def test_json_format_hands_uvicorns_logs_to_the_root(live_server: LiveServer) -> None:
    text = uvicorn_config(live_server.app, live_server.settings)
    assert text.access_log and text.log_config is not None
    json_config = uvicorn_config(live_server.app,
                                 live_server.settings.model_copy(update={"log_format": "json"}))
    assert not json_config.access_log and json_config.log_config is None


def test_json_formatter_keeps_one_line() -> None:
    record = logging.LogRecord("assistant.access", logging.INFO, __file__, 1,
                               "line\nbreak %s", ("x",), None)
    record.fields = {"request_id": "abc", "status": 200}
    line = JsonFormatter().format(record)
    assert "\n" not in line
    assert json.loads(line) | {"time": "t"} == {
        "time": "t", "level": "info", "logger": "assistant.access",
        "message": "line\nbreak x", "request_id": "abc", "status": 200}


def test_configure_logging_levels() -> None:
    """A server logs its answers at INFO whatever -v says; JSON also its requests (in text
    uvicorn's access line is the request's line)."""
    loggers = [logging.getLogger(name) for name in OBSERVED_LOGGERS]
    root = logging.getLogger()
    saved = ([lg.level for lg in loggers], [h.formatter for h in root.handlers])
    try:
        for lg in loggers:
            lg.setLevel(logging.NOTSET)
        configure_logging("text")
        assert logging.getLogger("assistant.answer").level == logging.INFO
        assert logging.getLogger("assistant.access").level == logging.NOTSET
        configure_logging("json")
        assert all(lg.level == logging.INFO for lg in loggers)
        assert root.handlers and all(isinstance(h.formatter, JsonFormatter)
                                     for h in root.handlers)
    finally:
        for lg, level in zip(loggers, saved[0], strict=True):
            lg.setLevel(level)
        for handler, formatter in zip(root.handlers, saved[1], strict=False):
            handler.setFormatter(formatter)
