"""Incremental ingest: load → clean → metadata → chunk → embed → upsert → commit.

Order matters for crash safety (see :mod:`assistant.retrieval.store`): new chunks are
written first, a document's new hash is committed after all its chunks are stored,
and stale chunks are deleted last. Chunk ids are deterministic, so a re-run after a
crash embeds only what is missing.
"""

from __future__ import annotations

import json
import logging
import re
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from assistant.errors import IndexMismatchError, IndexUnavailableError, LoadError
from assistant.ingest.chunking import chunk_document
from assistant.ingest.cleaning import clean_text, load_patterns
from assistant.ingest.loaders import SUPPORTED_SUFFIXES, LoadedDocument, load_document
from assistant.ingest.metadata import document_meta, read_sidecar
from assistant.retrieval.embeddings import get_embeddings, model_id
from assistant.retrieval.store import (
    ChromaStore,
    DocRecord,
    SentenceRecord,
)
from assistant.text import count_tokens, sentence_spans, sha256
from assistant.types import Chunk

if TYPE_CHECKING:
    from langchain_core.embeddings import Embeddings

    from assistant.config import Settings

log = logging.getLogger("assistant.ingest")

# Bumped when cleaning or chunking changes in a way that must re-embed every document.
PIPELINE_VERSION = "3"  # 3: no title header where the passage contains the title


@dataclass
class IngestSummary:
    added: list[str] = field(default_factory=list)
    updated: list[str] = field(default_factory=list)
    unchanged: list[str] = field(default_factory=list)
    removed: list[str] = field(default_factory=list)
    skipped: list[tuple[str, str]] = field(default_factory=list)
    chunks: int = 0
    embedded: int = 0
    tokens: int = 0
    seconds: float = 0.0

    def as_dict(self) -> dict[str, object]:
        return {
            "added": len(self.added), "updated": len(self.updated),
            "unchanged": len(self.unchanged), "removed": len(self.removed),
            "skipped": [{"id": i, "reason": r} for i, r in self.skipped],
            "chunks": self.chunks, "embedded": self.embedded, "tokens": self.tokens,
            "seconds": round(self.seconds, 2),
        }

    def render(self) -> str:
        lines = [
            f"Dokument: {len(self.added)} nya, {len(self.updated)} uppdaterade, "
            f"{len(self.unchanged)} oförändrade, {len(self.removed)} borttagna, "
            f"{len(self.skipped)} hoppade över",
            f"Chunkar i indexet: {self.chunks} (nyss inbäddade: {self.embedded}), "
            f"tid: {self.seconds:.1f} s",
        ]
        lines += [f"  hoppade över {doc}: {reason}" for doc, reason in self.skipped]
        return "\n".join(lines)


@dataclass(frozen=True)
class _Prepared:
    record: DocRecord
    chunks: list[Chunk]
    sentences: list[SentenceRecord]
    status: str  # "added" | "updated"


def sentence_records(doc_id: str, doc_hash: str, text: str) -> list[SentenceRecord]:
    return [SentenceRecord(doc_id, doc_hash, s, e, text[s:e]) for s, e in sentence_spans(text)]


def discover(paths: Sequence[Path], corpus_dir: Path, sidecar_name: str) -> Iterator[
    tuple[str, Path]
]:
    """(doc id, path) for every candidate file; ids are relative to the corpus dir."""
    for root in paths:
        files = sorted(p for p in root.rglob("*") if p.is_file()) if root.is_dir() else [root]
        base = corpus_dir if _is_under(root, corpus_dir) else (root if root.is_dir()
                                                                 else root.parent)
        for path in files:
            if path.name == sidecar_name or any(part.startswith(".") for part in path.parts
                                                  if part not in (".", "..")):
                continue
            yield path.resolve().relative_to(base.resolve()).as_posix(), path


def _is_under(path: Path, parent: Path) -> bool:
    try:
        path.resolve().relative_to(parent.resolve())
    except ValueError:
        return False
    return True


def recipe(settings: Settings, patterns: Sequence[re.Pattern[str]]) -> str:
    """What shapes every document's chunks besides its own text and metadata.

    The built-in chrome patterns are covered by :data:`PIPELINE_VERSION`; a user's own
    patterns file is not, so its patterns are part of the recipe: editing the file
    must re-clean and re-embed the documents, not report them as unchanged.
    """
    parts = [PIPELINE_VERSION, str(settings.chunk_tokens), str(settings.chunk_overlap)]
    if settings.clean_patterns_file is not None:
        parts.append(sha256("\n".join(p.pattern for p in patterns)))
    return "|".join(parts)


def fingerprint(raw_text: str, meta_json: str, recipe: str) -> str:
    """Changes when the text, its metadata or the recipe (see :func:`recipe`) changes."""
    return sha256(f"{recipe}\n{meta_json}\n{raw_text}")


def _open_for_writing(settings: Settings, embeddings: Embeddings, model: str,
                      rebuild: bool) -> ChromaStore:
    store = ChromaStore.from_settings(settings)
    if rebuild:
        # Same model: re-embed in place so the old index keeps answering meanwhile.
        # Another model: vectors are incomparable, so the index must be dropped first.
        try:
            store.open(model)
        except IndexMismatchError:
            store.drop()
        except IndexUnavailableError:
            pass  # nothing to rebuild yet
    store.create_or_open(model, lambda: len(embeddings.embed_query("dimension")))
    return store


def _read_clean(doc_id: str, path: Path, patterns: Sequence[re.Pattern[str]],
                summary: IngestSummary) -> tuple[LoadedDocument, str] | None:
    """The loaded file and its cleaned text, or ``None`` (recorded as skipped)."""
    try:
        loaded = load_document(path)
    except LoadError as exc:
        summary.skipped.append((doc_id, exc.reason))
        log.warning("skipped %s: %s", doc_id, exc.reason)
        return None
    except OSError as exc:
        summary.skipped.append((doc_id, f"unreadable: {exc.strerror or exc}"))
        return None
    cleaned = clean_text(loaded.text, patterns).text
    if not cleaned.strip():
        summary.skipped.append((doc_id, "no text left after cleaning"))
        return None
    return loaded, cleaned


def _forget_gone(store: ChromaStore, manifest: dict[str, DocRecord], seen: set[str],
                 roots: Sequence[Path], corpus_dir: Path, summary: IngestSummary) -> None:
    """Documents whose file is gone (under a scanned directory) lose their chunks."""
    for doc_id, record in manifest.items():
        if doc_id not in seen and _covered(record, roots, corpus_dir):
            store.forget_doc(doc_id)
            summary.removed.append(doc_id)


def ingest(
    settings: Settings,
    paths: Sequence[Path] | None = None,
    rebuild: bool = False,
    progress: bool = True,
    embeddings: Embeddings | None = None,
    on_batch: Callable[[int, int], None] | None = None,
) -> IngestSummary:
    started = time.perf_counter()
    summary = IngestSummary()
    corpus_dir = Path(settings.corpus_dir)
    roots = list(paths) if paths else [corpus_dir]
    for root in roots:
        if not root.exists():
            raise FileNotFoundError(f"Hittar inte {root}: ange en fil eller mapp som finns.")

    embeddings = embeddings or get_embeddings(settings)
    model = model_id(embeddings)
    fits = getattr(embeddings, "fits", None)
    store = _open_for_writing(settings, embeddings, model, rebuild)
    manifest = store.manifest()

    sidecar = read_sidecar(corpus_dir, settings.metadata_file)
    patterns = load_patterns(settings.clean_patterns_file)
    doc_recipe = recipe(settings, patterns)
    seen: set[str] = set()
    todo: list[_Prepared] = []
    for doc_id, path in discover(roots, corpus_dir, settings.metadata_file):
        if path.suffix.lower() not in SUPPORTED_SUFFIXES:
            summary.skipped.append((doc_id, f"unsupported file type {path.suffix or '(none)'}"))
            continue
        # A skipped file stays out of ``seen``, so it loses its old chunks below too.
        read = _read_clean(doc_id, path, patterns, summary)
        if read is None:
            continue
        loaded, cleaned = read
        seen.add(doc_id)
        meta = document_meta(doc_id, loaded.text, sidecar, loaded.title_hint, patterns)
        doc_hash = fingerprint(loaded.text, json.dumps(sidecar.get(doc_id), sort_keys=True),
                               doc_recipe)
        old = manifest.get(doc_id)
        if old is not None and old.doc_hash == doc_hash and not rebuild:
            summary.unchanged.append(doc_id)
            continue
        chunks = chunk_document(meta, cleaned, doc_hash, settings.chunk_tokens,
                                settings.chunk_overlap, fits)
        record = DocRecord(doc_id=doc_id, doc_hash=doc_hash, n_chunks=len(chunks),
                           title=meta.title, municipality=meta.municipality, date=meta.date,
                           url=meta.url, source=str(path), format=loaded.format)
        todo.append(_Prepared(record, chunks, sentence_records(doc_id, doc_hash, cleaned),
                              "updated" if old is not None else "added"))

    _embed_and_commit(store, embeddings, todo, settings.ingest_batch_size, rebuild, summary,
                      progress, on_batch)

    _forget_gone(store, manifest, seen, roots, corpus_dir, summary)
    final = store.manifest()
    store.prune(final)
    summary.chunks = sum(r.n_chunks for r in final.values())
    summary.seconds = time.perf_counter() - started
    return summary


def _covered(record: DocRecord, roots: Sequence[Path], corpus_dir: Path) -> bool:
    """Whether this run scanned where the document's file was, so its absence means deleted."""
    source = Path(record.source) if record.source else corpus_dir / record.doc_id
    return any((root.is_dir() and _is_under(source, root)) or source == root for root in roots)


def _embed_and_commit(
    store: ChromaStore,
    embeddings: Embeddings,
    todo: list[_Prepared],
    batch_size: int,
    rebuild: bool,
    summary: IngestSummary,
    progress: bool,
    on_batch: Callable[[int, int], None] | None,
) -> None:
    """Embed chunks and sentences in batches; commit each document once all of its
    vectors are stored."""
    from tqdm import tqdm

    items: list[Chunk | SentenceRecord] = []
    for p in todo:
        items += [*p.chunks, *p.sentences]
    have: set[str] = set()
    if not rebuild:
        have = store.existing_ids([c.chunk_id for p in todo for c in p.chunks])
        have |= store.existing_sentence_ids([s.sentence_id for p in todo for s in p.sentences])
    pending = [x for x in items if _item_id(x) not in have]
    remaining = {p.record.doc_id: 0 for p in todo}
    for x in pending:
        remaining[x.doc_id] += 1
    by_doc = {p.record.doc_id: p for p in todo}

    def commit_ready() -> None:
        for doc_id, left in list(remaining.items()):
            if left == 0:
                prepared = by_doc[doc_id]
                store.commit_doc(prepared.record)
                getattr(summary, prepared.status).append(doc_id)
                del remaining[doc_id]

    commit_ready()  # documents whose vectors all survived an interrupted run
    batches = [pending[i : i + batch_size] for i in range(0, len(pending), batch_size)]
    with tqdm(total=len(pending), unit="text", desc="Bäddar in", disable=not progress,
              dynamic_ncols=True) as bar:
        for number, batch in enumerate(batches, start=1):
            texts = [x.embed_text if isinstance(x, Chunk) else x.text for x in batch]
            vectors = embeddings.embed_documents(texts)
            chunks = [(x, v) for x, v in zip(batch, vectors, strict=True) if isinstance(x, Chunk)]
            sents = [(x, v) for x, v in zip(batch, vectors, strict=True)
                     if isinstance(x, SentenceRecord)]
            if chunks:
                store.upsert([c for c, _ in chunks], [v for _, v in chunks])
            if sents:
                store.upsert_sentences([s for s, _ in sents], [v for _, v in sents])
            summary.embedded += len(chunks)
            summary.tokens += sum(count_tokens(t) for t in texts)
            for x in batch:
                remaining[x.doc_id] -= 1
            commit_ready()
            bar.update(len(batch))
            log.info("batch %d/%d upserted (%d texts)", number, len(batches), len(batch))
            if on_batch is not None:
                on_batch(number, len(batches))


def _item_id(item: Chunk | SentenceRecord) -> str:
    return item.chunk_id if isinstance(item, Chunk) else item.sentence_id
