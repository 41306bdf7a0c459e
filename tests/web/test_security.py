"""Closed by default: origins, CORS, API keys, limits, no secrets, inert rendering."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from pydantic import SecretStr, ValidationError

from assistant.answer import Assistant
from assistant.config import Settings
from assistant.web import create_app
from assistant.web.auth import ApiKeys
from assistant.web.security import OriginPolicy, RateLimiter, normalise_origin
from assistant.web.ui import (
    Turn,
    answer_markdown,
    chat_messages,
    md_escape,
    source_card,
    sources_panel,
)
from tests.web.conftest import TROLLHATTAN_DOC, configured

INTRANET = "https://intra.kommun.se"
EVIL = "https://evil.example"
KEY = "test-key-0123456789"
WIDGET_KEY = "pk_test_intranet"
LLM_SECRET = "sk-test-secret-abcdef"
FEEDBACK = {"question": "Fråga?", "answer": "Svar [1].", "rating": 1}
CHAT = {"question": "Vad gjorde Trollhättan mot segregation?"}
PAYLOAD = '<script>window.__xss=1</script> och <img src=x onerror="window.__xss=1">'


# --- units ---------------------------------------------------------------------------------


def test_origin_policy() -> None:
    policy = OriginPolicy([INTRANET + "/", "http://127.0.0.1:8080"])
    assert policy.classify(None, "app:7860") == "none"
    assert policy.classify("http://app:7860", "app:7860") == "same"
    assert policy.classify("https://app", "app:443", "https") == "same"
    assert policy.classify("https://app:7860", "app:7860") == "denied"  # the scheme is part
    assert policy.classify("http://app:7860", "app:7860", "https") == "denied"
    assert policy.classify("HTTPS://INTRA.kommun.se:443", "app") == "allowed"
    assert policy.classify("http://127.0.0.1:8080", "127.0.0.1:7860") == "allowed"
    assert policy.classify("http://127.0.0.1:8081", "127.0.0.1:7860") == "denied"
    assert policy.classify("http://intra.kommun.se", "app") == "denied"  # scheme matters
    assert policy.classify(EVIL, "app") == "denied"
    assert policy.classify("null", "app") == "denied"
    assert OriginPolicy([]).classify(EVIL, "app") == "denied"  # empty: same origin only
    assert normalise_origin("HTTP://Example.se:80/") == "http://example.se"


def test_wildcard_origin_is_refused() -> None:
    with pytest.raises(ValidationError, match="not allowed"):
        Settings(allowed_origins="*")


def test_rate_limiter_sliding_window() -> None:
    limiter = RateLimiter(2, 10.0)
    assert limiter.hit("a", now=0.0) is None
    assert limiter.hit("a", now=1.0) is None
    assert limiter.hit("a", now=2.0) == pytest.approx(8.0)
    assert limiter.hit("b", now=2.0) is None  # other clients are unaffected
    assert limiter.hit("a", now=10.5) is None  # the first hit has left the window
    assert RateLimiter(0, 60).hit("a") is None  # 0 = off


def test_rate_limiter_forgets_idle_clients() -> None:
    limiter = RateLimiter(1, 1.0, max_clients=3)
    for i in range(10):
        limiter.hit(f"c{i}", now=float(i) * 2)
    assert len(limiter._hits) <= 3


def test_api_keys() -> None:
    keys = ApiKeys([KEY])
    assert keys.check(KEY) == "valid"
    assert keys.check("wrong") == "invalid"
    assert keys.check(None) == "none"
    assert not ApiKeys([]).enabled


# --- the app ---------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def client(web_assistant: Assistant, sample_index: Settings,
           tmp_path_factory: pytest.TempPathFactory) -> Iterator[TestClient]:
    tmp = tmp_path_factory.mktemp("security")
    settings = configured(sample_index, tmp, allowed_origins=[INTRANET],
                          api_keys=[SecretStr(KEY)], openai_api_key=SecretStr(LLM_SECRET),
                          widget_keys=[SecretStr(f"{INTRANET}={WIDGET_KEY}")],
                          allowed_hosts=["testserver"])
    app = create_app(settings, web_assistant)
    with TestClient(app) as test_client:
        assert app.state.ui.wait(60)
        yield test_client
        test_client.cookies.clear()


@pytest.fixture(autouse=True)
def _no_session(request: pytest.FixtureRequest) -> None:
    """Each test states its credential: no session cookie carried over from another test."""
    if "client" in request.fixturenames:
        request.getfixturevalue("client").cookies.clear()


def test_preflight_only_for_allowed_origins(client: TestClient) -> None:
    ok = client.options("/api/chat", headers={
        "Origin": INTRANET, "Access-Control-Request-Method": "POST",
        "Access-Control-Request-Headers": "content-type"})
    assert ok.status_code == 204
    assert ok.headers["access-control-allow-origin"] == INTRANET
    assert "POST" in ok.headers["access-control-allow-methods"]
    assert "Content-Type" in ok.headers["access-control-allow-headers"]
    assert "access-control-allow-credentials" not in ok.headers

    denied = client.options("/api/chat", headers={
        "Origin": EVIL, "Access-Control-Request-Method": "POST"})
    assert denied.status_code == 403
    assert "access-control-allow-origin" not in denied.headers


def test_disallowed_origin_is_refused_server_side(client: TestClient) -> None:
    for method, path in (("POST", "/api/chat"), ("POST", "/api/feedback"),
                         ("POST", "/v1/chat/completions"), ("GET", "/healthz"),
                         ("POST", "/gradio_api/queue/join")):
        response = client.request(method, path, json={}, headers={"Origin": EVIL,
                                                                   "X-API-Key": KEY})
        assert response.status_code == 403, path
        assert "access-control-allow-origin" not in response.headers
    body = client.post("/api/chat", json={}, headers={"Origin": EVIL}).json()
    assert EVIL in body["error"] and "ASSISTANT_ALLOWED_ORIGINS" in body["error"]
    assert client.post("/api/chat", json={}, headers={"Origin": "null"}).status_code == 403


def test_allowed_origin_gets_cors_headers(client: TestClient) -> None:
    refused = client.post("/api/feedback", json=FEEDBACK, headers={"Origin": INTRANET})
    assert refused.status_code == 401  # with keys configured, the origin alone is not enough
    assert refused.headers["access-control-allow-origin"] == INTRANET  # the widget can read why
    response = client.post("/api/chat", json=CHAT,
                           headers={"Origin": INTRANET, "X-Widget-Key": WIDGET_KEY})
    assert response.status_code == 200
    assert response.headers["access-control-allow-origin"] == INTRANET
    assert "Retry-After" in response.headers["access-control-expose-headers"]
    assert "Origin" in response.headers["vary"]


def test_same_origin_page_uses_its_session_and_gets_no_cors(client: TestClient) -> None:
    """The widget on our own pages (/widget-demo) asks with the page's cookie."""
    same = {"Origin": "http://testserver"}
    assert client.post("/api/chat", json=CHAT, headers=same).status_code == 401
    cookie = client.get("/").headers["set-cookie"].split(";", 1)[0]
    client.cookies.clear()
    response = client.post("/api/chat", json=CHAT, headers={**same, "Cookie": cookie})
    assert response.status_code == 200
    assert "access-control-allow-origin" not in response.headers


def test_api_keys_for_server_to_server(client: TestClient) -> None:
    missing = client.post("/api/feedback", json=FEEDBACK)
    assert missing.status_code == 401
    assert missing.headers["www-authenticate"] == "Bearer"
    assert "API-nyckel" in missing.json()["error"]
    wrong = client.post("/api/feedback", json=FEEDBACK, headers={"X-API-Key": "nope"})
    assert wrong.status_code == 401
    assert client.post("/api/feedback", json=FEEDBACK,
                       headers={"Authorization": f"Bearer {KEY}"}).status_code == 201
    assert client.post("/api/feedback", json=FEEDBACK,
                       headers={"X-API-Key": KEY}).status_code == 201
    openai_style = client.post("/v1/chat/completions", json={"messages": []})
    assert openai_style.status_code == 401
    assert openai_style.json()["error"]["code"] == "invalid_api_key"
    # Reading is open: health, a source page, the widget.
    assert client.get("/healthz").status_code == 200
    assert client.get(f"/api/sources/{TROLLHATTAN_DOC}").status_code == 200


def test_gradio_cors_headers_are_replaced_by_ours(client: TestClient) -> None:
    response = client.get("/config", headers={"Origin": INTRANET, "X-API-Key": KEY})
    assert response.status_code == 200
    assert response.headers.get_list("access-control-allow-origin") == [INTRANET]
    assert "access-control-allow-credentials" not in response.headers


def test_widget_script_loads_from_any_page(client: TestClient) -> None:
    response = client.get("/widget.js", headers={"Origin": EVIL})
    assert response.status_code == 200
    assert "access-control-allow-origin" not in response.headers
    assert response.headers["cross-origin-resource-policy"] == "cross-origin"


def test_body_size_limit_also_without_content_length(client: TestClient) -> None:
    def chunks() -> Iterator[bytes]:
        yield b'{"question": "'
        for _ in range(80):
            yield b"x" * 1000
        yield b'"}'

    response = client.post("/api/chat", content=chunks(), headers={
        "X-API-Key": KEY, "Content-Type": "application/json"})
    assert response.status_code == 413
    assert "för stor" in response.json()["error"]


def test_gradio_file_upload_is_closed(client: TestClient) -> None:
    """The UI has no upload control, so Gradio's upload route must not write files."""
    for headers in ({}, {"X-API-Key": KEY}, {"Origin": "http://testserver"}):
        response = client.post("/gradio_api/upload", files={"files": ("a.txt", b"x")},
                               headers=headers)
        assert response.status_code == 403
        assert "Filuppladdning" in response.json()["error"]


def test_an_unexpected_error_is_json_without_a_trace(
        web_assistant: Assistant, sample_index: Settings, tmp_path: Path,
        monkeypatch: pytest.MonkeyPatch) -> None:
    def broken(*args: object, **kwargs: object) -> None:
        raise RuntimeError("intern detalj /hemlig/sökväg")

    monkeypatch.setattr(web_assistant, "ask", broken)
    app = create_app(configured(sample_index, tmp_path, allowed_hosts=["testserver"]),
                     web_assistant)
    with TestClient(app, raise_server_exceptions=False) as test_client:
        response = test_client.post("/api/chat", json={"question": "Vad gör Lund?"})
    assert response.status_code == 500
    assert response.headers["content-type"].startswith("application/json")
    assert "Något gick fel" in response.json()["error"]
    assert "hemlig" not in response.text and "Traceback" not in response.text


def test_no_secret_reaches_the_browser(client: TestClient) -> None:
    for path in ("/", "/config", "/widget.js", "/widget.css", "/widget-demo", "/openapi.json",
                 "/docs", "/healthz"):
        response = client.get(path, headers={"X-API-Key": KEY})
        assert response.status_code == 200, path
        assert KEY not in response.text, path
        assert LLM_SECRET not in response.text, path


# --- rendering ------------------------------------------------------------------------------


def _source(**changes: object) -> dict[str, object]:
    source: dict[str, object] = {
        "n": 1, "id": "x.txt", "title": "<img src=x onerror=alert(1)>", "municipality": "Kommun",
        "date": "2024-01-01", "url": "javascript:alert(1)", "chunk_id": "x#1", "score": 1.0,
        "text": f"Före. {PAYLOAD} Efter.", "highlight": [6, 6 + len(PAYLOAD)]}
    source.update(changes)
    return source


def test_markdown_escaping_keeps_payloads_inert() -> None:
    escaped = md_escape(PAYLOAD + " [länk](javascript:alert(1)) **fet**")
    assert "<" not in escaped and ">" not in escaped
    assert "](" not in escaped and "**" not in escaped
    answer = {"answer": f"{PAYLOAD} [1] och [2] [x]", "citations": [1], "refused": False}
    rendered = answer_markdown(answer, 3)
    assert "[\\[1\\]](#kalla-3-1)" in rendered
    assert "#kalla-3-2" not in rendered  # [2] is not a valid citation: stays text
    assert "<script" not in rendered and "<img" not in rendered
    messages = chat_messages([Turn(PAYLOAD, answer=answer)])
    assert all("<script" not in m["content"] for m in messages)


def test_source_cards_escape_everything() -> None:
    card = source_card(_source(), 0)
    assert "<script" not in card and "<img" not in card
    assert "&lt;script&gt;" in card
    assert 'href="javascript' not in card
    assert 'href="api/sources/x.txt"' in card
    assert "<mark>&lt;script&gt;" in card
    https = source_card(_source(url="https://example.se/a?b=1&c=2"), 0)
    assert 'href="https://example.se/a?b=1&amp;c=2"' in https
    panel = sources_panel([Turn(PAYLOAD, answer={
        "answer": "a [1]", "citations": [1], "sources": [_source()]})])
    assert "<script" not in panel and "<img" not in panel



def test_ui_links_every_marker_form_the_checker_accepts() -> None:
    answer = {"answer": "A [1-2]. B [1; 3]. C [2023].", "citations": [1, 2, 3], "refused": False}
    rendered = answer_markdown(answer, 0)
    for n in (1, 2, 3):
        assert f"](#kalla-0-{n})" in rendered
    assert "kalla-0-2023" not in rendered  # a year in brackets is not a citation
