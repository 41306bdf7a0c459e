"""Crash safety: SIGKILL an ingest mid-run; the old index keeps answering and the next
run converges on exactly the chunk set of an uninterrupted run.

The ingest runs as a real ``assistant`` process with the OpenAI-compatible test server
as its embeddings backend, so the test controls when each batch is answered: the
batches before the kill point are answered at once, the next one is held back, and
the process is killed while it waits for it.
"""

from __future__ import annotations

import math
import os
import signal
import subprocess
import sys
import threading
from pathlib import Path

import pytest

from assistant.ingest.chunking import chunk_id
from assistant.ingest.pipeline import ingest
from assistant.retrieval.embeddings import get_embeddings
from assistant.retrieval.hybrid import Searcher
from tests.ingest.test_pipeline import (
    QUERIES,
    SMALL_CORPUS,
    embedded_texts,
    index_state,
    open_store,
    openai_settings,
    stored_texts,
    write_corpus,
)
from tests.support.openai_server import OpenAIServer, Reply

ASSISTANT = Path(sys.executable).parent / "assistant"
BATCH = 2

MODIFIED = {
    name: text.replace("\n\n", "\n\nUppdaterad artikel.\n\n", 1)
    + "\nArtikeln har uppdaterats med nya uppgifter om skolan.\n"
    for name, text in SMALL_CORPUS.items()
}


def _kill_after_batch(server: OpenAIServer, corpus: Path, index: Path, batch: int,
                      tmp_path: Path) -> str:
    """Run ``assistant -v ingest --quiet``; SIGKILL it once batch ``batch`` is stored."""
    # Batches up to the kill point are answered at once; the next one waits (the
    # process is dead long before the delay is over).
    server.script_embeddings(*[Reply() for _ in range(batch)], Reply(delay=30.0))
    env = {**os.environ, "ASSISTANT_CORPUS_DIR": str(corpus), "ASSISTANT_INDEX_DIR": str(index),
           "ASSISTANT_EMBEDDINGS": "openai", "ASSISTANT_EMBEDDINGS_BASE_URL": server.base_url,
           "OPENAI_API_KEY": "test", "ASSISTANT_INGEST_BATCH_SIZE": str(BATCH),
           "ASSISTANT_INGEST_WRITE_TEXTS": str(BATCH),
           "ANONYMIZED_TELEMETRY": "False"}
    env.pop("ASSISTANT_CHROMA_URL", None)
    proc = subprocess.Popen([str(ASSISTANT), "-v", "ingest", "--quiet"], cwd=tmp_path, env=env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    watchdog = threading.Timer(120, proc.kill)
    watchdog.start()
    log: list[str] = []
    try:
        assert proc.stderr is not None
        while True:
            line = proc.stderr.readline()
            if not line:
                pytest.fail("ingest ended before the kill point:\n" + "".join(log))
            log.append(line)
            if f"batch {batch}/" in line:
                os.kill(proc.pid, signal.SIGKILL)
                break
        proc.wait(timeout=30)
    finally:
        watchdog.cancel()
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        if proc.stderr is not None:
            proc.stderr.close()
    assert proc.returncode == -signal.SIGKILL
    server.clear()  # drop the held-back reply and the recorded requests
    return "".join(log)


@pytest.mark.parametrize("kill_point", ["first", "midway"])
def test_sigkill_mid_ingest_keeps_old_index_and_resumes_exactly(
    tmp_path: Path, openai_server: OpenAIServer, kill_point: str
) -> None:
    corpus = write_corpus(tmp_path / "corpus")
    index = tmp_path / "index"
    settings = openai_settings(openai_server, corpus, index)
    embeddings = get_embeddings(settings)
    ingest(settings, progress=False)  # index v1
    v1 = {d: r.doc_hash for d, r in open_store(settings, embeddings).manifest().items()}

    write_corpus(corpus, MODIFIED)
    reference = openai_settings(openai_server, corpus, tmp_path / "reference")
    ingest(reference, progress=False)  # what an uninterrupted run produces
    expected = index_state(open_store(reference, embeddings))
    new = {d: h for d, (h, _) in expected[2].items()}
    assert all(new[d] != v1[d] for d in SMALL_CORPUS)
    total = stored_texts(open_store(reference, embeddings))  # every text is new
    batches = math.ceil(total / BATCH)
    kill_after = 1 if kill_point == "first" else batches // 2
    assert 1 <= kill_after < batches - 1
    openai_server.clear()

    log = _kill_after_batch(openai_server, corpus, index, kill_after, tmp_path)
    assert f"batch {kill_after}/{batches} " in log

    # (1) The interrupted index answers from committed versions only.
    store = open_store(settings, embeddings)
    manifest = store.manifest()
    assert set(manifest) == set(SMALL_CORPUS)
    state = {d: ("new" if r.doc_hash == new[d] else "old" if r.doc_hash == v1[d] else "?")
             for d, r in manifest.items()}
    assert "?" not in state.values()
    if kill_point == "first":
        assert set(state.values()) == {"old"}
    else:
        assert set(state.values()) == {"old", "new"}, state
    ids = set(store.all_ids())
    live = {chunk_id(d, r.doc_hash, i) for d, r in manifest.items() for i in range(r.n_chunks)}
    assert live <= ids, "every committed document has all of its chunks"
    # (Stored-but-uncommitted passages exist only between a store and the commit of the
    # same batch; readers would skip them, as the store tests show.)
    assert {c.chunk_id for c in store.live_chunks()} == live
    retriever = Searcher(store, embeddings)
    for question, doc_id in QUERIES.items():
        for name in ("dense", "hybrid"):
            hits = retriever.retrieve(question, k=5, retriever=name).chunks
            assert hits, (question, name)
            for hit in hits:
                assert hit.chunk.doc_hash == manifest[hit.chunk.doc_id].doc_hash
                assert hit.chunk.chunk_id in live
        # The fake vectors are hashed words, so check ranking on the lexical side only.
        top = retriever.retrieve(question, k=1, retriever="bm25").chunks[0].chunk
        assert top.doc_id == doc_id

    # (2) The next run finishes, embedding only what the killed run did not store.
    openai_server.clear()  # forget the query embeddings above
    summary = ingest(settings, progress=False)
    # A passage is stored once its vector and its sentences' vectors are all in, so the
    # texts of a passage half-done at the kill are embedded again, nothing else.
    resumed = len(embedded_texts(openai_server))
    assert total - kill_after * BATCH <= resumed <= total
    if kill_point != "first":  # documents committed before the kill are not embedded again
        assert resumed < total
    assert resumed == summary.texts
    assert sorted(summary.updated + summary.unchanged) == sorted(SMALL_CORPUS)
    assert sorted(summary.unchanged) == sorted(d for d, s in state.items() if s == "new")
    assert summary.removed == summary.skipped == []

    # (3) Exactly the chunk set (ids and texts), sentence set and manifest of a clean run.
    assert index_state(store) == expected
    hits = Searcher(store, embeddings).retrieve("uppdaterats med nya uppgifter", k=3).chunks
    assert hits and all(h.chunk.doc_hash == new[h.chunk.doc_id] for h in hits)
