"""Incremental ingest: load → clean → metadata → chunk → embed → upsert → commit.

Order matters for crash safety (see :mod:`assistant.retrieval.store`): new chunks are
written first, a document's new hash is committed after all its chunks are stored,
and stale chunks are deleted last. Chunk ids are deterministic, so a re-run after a
crash embeds only what is missing.
"""

from __future__ import annotations

import json
import logging
import os
import re
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from assistant.errors import IndexMismatchError, IndexUnavailableError, LoadError
from assistant.ingest.chunking import chunk_document
from assistant.ingest.cleaning import clean_text, load_patterns
from assistant.ingest.loaders import SUPPORTED_SUFFIXES, LoadedDocument, load_document
from assistant.ingest.metadata import document_meta, read_sidecar
from assistant.retrieval.bm25 import Bm25Builder
from assistant.retrieval.embeddings import get_embeddings, model_id
from assistant.retrieval.lexical import (
    LexicalIndex,
    lexical_path,
    lexical_terms,
    save_built,
    saved_manifest,
)
from assistant.retrieval.owner import refuse_if_served
from assistant.retrieval.sentences import SentenceStats
from assistant.retrieval.store import ChromaStore, DocRecord, IndexState, SentencePack
from assistant.text import encoding, sentence_spans, sha256
from assistant.types import Chunk

if TYPE_CHECKING:
    from langchain_core.embeddings import Embeddings

    from assistant.config import Settings

log = logging.getLogger("assistant.ingest")

# Bumped when cleaning or chunking changes in a way that must re-embed every document.
PIPELINE_VERSION = "3"  # 3: no title header where the passage contains the title
# Texts (passages and sentences) embedded and stored per group of documents: bounds
# ingest memory whatever the corpus size.
GROUP_TEXTS = 4096


@dataclass
class IngestSummary:
    added: list[str] = field(default_factory=list)
    updated: list[str] = field(default_factory=list)
    unchanged: list[str] = field(default_factory=list)
    removed: list[str] = field(default_factory=list)
    skipped: list[tuple[str, str]] = field(default_factory=list)
    chunks: int = 0
    embedded: int = 0  # passages embedded
    texts: int = 0  # texts embedded: passages and their sentences
    tokens: int = 0
    seconds: float = 0.0

    def as_dict(self) -> dict[str, object]:
        return {
            "added": len(self.added), "updated": len(self.updated),
            "unchanged": len(self.unchanged), "removed": len(self.removed),
            "skipped": [{"id": i, "reason": r} for i, r in self.skipped],
            "chunks": self.chunks, "embedded": self.embedded, "texts": self.texts,
            "tokens": self.tokens,
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


@dataclass
class _Prepared:
    """A new or changed document, chunked; its sentence spans are those inside a chunk."""

    record: DocRecord
    chunks: list[Chunk]
    text: str  # the cleaned text the offsets point into
    status: str  # "added" | "updated"
    old: DocRecord | None


def discover(paths: Sequence[Path], corpus_dir: Path, sidecar_name: str) -> Iterator[
    tuple[str, Path]
]:
    """(doc id, path) for every candidate file; ids are relative to the corpus dir.

    Files in the order of their paths' parts, hidden ones (a part beginning with ".")
    and the metadata sidecar left out; symlinked directories are not followed, symlinked
    files are. Below a directory the walk uses the directory entries' own types and
    builds ids as text: at 30,000 files, a ``Path`` per step and a ``stat`` per file
    were a quarter of an unchanged re-ingest."""
    for root in paths:
        base = (corpus_dir if _is_under(root, corpus_dir) else
                (root if root.is_dir() else root.parent)).resolve()
        if not root.is_dir():
            if root.name != sidecar_name and not _hidden(root.parts):
                yield root.resolve().relative_to(base).as_posix(), root
            continue
        # Ids are relative to the corpus dir; below a scanned dir the path itself says
        # where a file is, so only the dir is resolved (once, not per file).
        prefix = root.resolve().relative_to(base).as_posix()
        if _hidden(root.parts):
            continue
        for parts in sorted(_walk(str(root), ())):
            if parts[-1] == sidecar_name:
                continue
            rel = "/".join(parts)
            yield (rel if prefix == "." else f"{prefix}/{rel}"), root.joinpath(*parts)


def _hidden(parts: Sequence[str]) -> bool:
    return any(part.startswith(".") for part in parts if part not in (".", ".."))


def _walk(directory: str, parts: tuple[str, ...]) -> Iterator[tuple[str, ...]]:
    """The relative parts of every file below ``directory`` that is not hidden."""
    with os.scandir(directory) as entries:
        found = list(entries)
    for entry in found:
        if entry.name.startswith("."):
            continue
        try:
            is_dir = entry.is_dir() and not entry.is_symlink()
            is_file = not is_dir and entry.is_file()
        except OSError:
            continue
        if is_dir:
            yield from _walk(entry.path, (*parts, entry.name))
        elif is_file:
            yield (*parts, entry.name)


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


# ``json.dumps(value, sort_keys=True)``, without a new encoder per call (one per document).
_meta_json = json.JSONEncoder(sort_keys=True).encode


def fingerprint(raw_text: str, meta_json: str, recipe: str) -> str:
    """Changes when the text, its metadata or the recipe (see :func:`recipe`) changes."""
    return sha256(f"{recipe}\n{meta_json}\n{raw_text}")


def _open_for_writing(settings: Settings, embeddings: Embeddings, model: str,
                      rebuild: bool) -> ChromaStore:
    store = ChromaStore.from_settings(settings)
    if store.outdated():
        # An older format cannot be read by this version, and the corpus is at hand:
        # build it again rather than stop (servers refuse it until then).
        log.warning("index %s is in an older format; building it again", settings.collection)
        store.drop()
    if rebuild:
        # Same model: re-embed in place so the old index keeps answering meanwhile.
        # Another model or an older format: incomparable, so the index is dropped first.
        try:
            store.open(model)
        except IndexMismatchError:
            store.drop()
        except IndexUnavailableError:
            pass  # nothing to rebuild yet
    store.create_or_open(model, lambda: len(embeddings.embed_query("dimension")))
    return store


def _load(doc_id: str, path: Path, summary: IngestSummary) -> LoadedDocument | None:
    """The loaded file, or ``None`` (recorded as skipped)."""
    if path.suffix.lower() not in SUPPORTED_SUFFIXES:
        summary.skipped.append((doc_id, f"unsupported file type {path.suffix or '(none)'}"))
        return None
    try:
        return load_document(path)
    except LoadError as exc:
        summary.skipped.append((doc_id, exc.reason))
        log.warning("skipped %s: %s", doc_id, exc.reason)
    except OSError as exc:
        summary.skipped.append((doc_id, f"unreadable: {exc.strerror or exc}"))
    return None


@dataclass(frozen=True)
class _Recipe:
    """What every document of one run is prepared with."""

    settings: Settings
    sidecar: dict[str, dict[str, str | None]]
    patterns: Sequence[re.Pattern[str]]
    text: str  # see :func:`recipe`
    fits: Callable[[str], bool] | None

    def prepare(self, doc_id: str, path: Path, loaded: LoadedDocument, doc_hash: str,
                old: DocRecord | None, summary: IngestSummary) -> _Prepared | None:
        """Clean, describe and chunk a new or changed document (``None``: nothing left)."""
        cleaned = clean_text(loaded.text, self.patterns).text
        if not cleaned.strip():
            summary.skipped.append((doc_id, "no text left after cleaning"))
            return None
        meta = document_meta(doc_id, loaded.text, self.sidecar, loaded.title_hint,
                             self.patterns)
        chunks = chunk_document(meta, cleaned, doc_hash, self.settings.chunk_tokens,
                                self.settings.chunk_overlap, self.fits)
        record = DocRecord(doc_id=doc_id, doc_hash=doc_hash, n_chunks=len(chunks),
                           title=meta.title, municipality=meta.municipality, date=meta.date,
                           url=meta.url, source=str(path), format=loaded.format)
        return _Prepared(record, chunks, cleaned, "updated" if old is not None else "added",
                         old)


def ingest(
    settings: Settings,
    paths: Sequence[Path] | None = None,
    rebuild: bool = False,
    progress: bool = True,
    embeddings: Embeddings | None = None,
    on_batch: Callable[[int, int], None] | None = None,
    on_document: Callable[[str], None] | None = None,
    in_app: bool = False,
) -> IngestSummary:
    """Bring the index in line with the files (see the module docstring).

    ``on_document`` is called with each document's id as it is reached (the admin API's
    progress); ``in_app`` says the serving app itself runs this ingest (its admin API),
    which is allowed on its own embedded index because it reloads its snapshot after.
    """
    # An app serving this embedded index would not see the change: refuse before any work
    # (assistant.retrieval.owner; with a Chroma server nothing is checked).
    refuse_if_served(settings, in_app=in_app)
    started = time.perf_counter()
    summary = IngestSummary()
    corpus_dir = Path(settings.corpus_dir)
    roots = list(paths) if paths else [corpus_dir]
    for root in roots:
        if not root.exists():
            raise FileNotFoundError(f"Hittar inte {root}: ange en fil eller mapp som finns.")

    embeddings = embeddings or get_embeddings(settings)
    store = _open_for_writing(settings, embeddings, model_id(embeddings), rebuild)
    state = store.state()
    manifest = None if state.dirty else saved_manifest(lexical_path(settings), state.generation)
    manifest = store.manifest() if manifest is None else manifest
    writer = _Writer(store, embeddings, settings, summary, manifest, rebuild, progress,
                     on_batch)
    sidecar = read_sidecar(corpus_dir, settings.metadata_file)
    patterns = load_patterns(settings.clean_patterns_file)
    how = _Recipe(settings, sidecar, patterns, recipe(settings, patterns),
                  getattr(embeddings, "fits", None))
    seen: set[str] = set()
    # Streamed: each document is read, checked and (if new or changed) handed to the
    # writer, which embeds and stores bounded groups; memory does not grow with the corpus.
    # A skipped file stays out of ``seen``, so it loses its old chunks below too.
    for doc_id, path in discover(roots, corpus_dir, settings.metadata_file):
        if on_document is not None:
            on_document(doc_id)
        loaded = _load(doc_id, path, summary)
        if loaded is None:
            continue
        doc_hash = fingerprint(loaded.text, _meta_json(sidecar.get(doc_id)), how.text)
        old = manifest.get(doc_id)
        if old is not None and old.doc_hash == doc_hash and not rebuild:
            # The hash covers text, metadata and recipe: nothing to clean or chunk.
            seen.add(doc_id)
            summary.unchanged.append(doc_id)
            continue
        prepared = how.prepare(doc_id, path, loaded, doc_hash, old, summary)
        if prepared is not None:
            seen.add(doc_id)
            writer.add(prepared)
    writer.flush()

    # Documents whose file is gone (under a scanned directory) lose their chunks.
    gone = [r for doc_id, r in manifest.items()
            if doc_id not in seen and _covered(r, roots, corpus_dir)]
    if gone:
        writer.remove(gone)
    writer.finish()
    summary.chunks = sum(r.n_chunks for r in writer.manifest.values())
    summary.seconds = time.perf_counter() - started
    return summary


def _covered(record: DocRecord, roots: Sequence[Path], corpus_dir: Path) -> bool:
    """Whether this run scanned where the document's file was, so its absence means deleted."""
    source = Path(record.source) if record.source else corpus_dir / record.doc_id
    return any((root.is_dir() and _is_under(source, root)) or source == root for root in roots)


@dataclass
class _Work:
    """A passage still to be stored: its vector and its sentences' vectors."""

    chunk: Chunk
    spans: list[tuple[int, int]]
    vector: np.ndarray | None = None
    sentence_vectors: dict[tuple[int, int], np.ndarray] = field(default_factory=dict)
    stored: bool = False

    def pack(self) -> SentencePack:
        rows = [self.sentence_vectors[s] for s in self.spans]
        vectors = np.vstack(rows) if rows else np.zeros((0, 0), dtype=np.float32)
        return SentencePack(self.chunk.chunk_id, self.chunk.doc_id, self.chunk.doc_hash,
                            self.spans, vectors)


# (passage, sentence span or None for the passage itself, text to embed)
_Text = tuple[_Work, tuple[int, int] | None, str]


class _Writer:
    """Embeds and stores new and changed documents in bounded groups.

    Order per group (crash safety, see :mod:`assistant.retrieval.store`): a passage is
    stored with its sentence pack once all its vectors are in, in writes of
    ``ingest_write_texts`` embedded texts (a Chroma write has a large fixed cost); a
    document is committed in the write in which its last passage is stored (one
    manifest write per batch); old versions are deleted at the end. Statistics and the
    lexical index are updated per group, saved at the end, and the generation is bumped
    last, so servers switch to the new index only when it is complete.
    """

    def __init__(self, store: ChromaStore, embeddings: Embeddings, settings: Settings,
                 summary: IngestSummary, manifest: dict[str, DocRecord], rebuild: bool,
                 progress: bool, on_batch: Callable[[int, int], None] | None) -> None:
        self.store = store
        self.embeddings = embeddings
        self.settings = settings
        self.summary = summary
        self.manifest = dict(manifest)
        self.rebuild = rebuild
        self.progress = progress
        self.on_batch = on_batch
        self.group: list[_Prepared] = []
        self.group_texts = 0
        # Texts per embedding call: enough for every parallel request to get a full batch.
        self.call_size = settings.ingest_batch_size * max(1, settings.embeddings_parallel)
        self.write_texts = max(settings.ingest_write_texts, self.call_size)
        self.group_limit = max(GROUP_TEXTS, self.write_texts)
        self.state = store.state()
        self.changed = False
        self.stats: SentenceStats | None = None
        self.lexical: Bm25Builder | None = None
        # Sentence vectors entering and leaving the statistics, applied once per group.
        self.stats_in: list[np.ndarray] = []
        self.stats_out: list[str] = []  # chunk ids of replaced versions

    # -- lazily loaded only when something changes: an unchanged run reads neither -----

    def _begin(self) -> None:
        if self.changed:
            return
        self.changed = True
        stats = None if self.state.dirty else self.store.load_stats()
        self.stats = stats if stats is not None else self._recount_stats()
        self.lexical = Bm25Builder(self._current_lexical().bm25)
        # Marked before the first write: a killed run makes the next one recount.
        self.store.set_state(IndexState(self.state.generation, dirty=True))

    def _recount_stats(self) -> SentenceStats:
        """The statistics from every committed sentence (after a killed run, or for an
        index built before statistics were kept)."""
        stats = SentenceStats.empty(0)
        ids = [cid for record in self.manifest.values() for cid in record.chunk_ids]
        for start in range(0, len(ids), GROUP_TEXTS):
            stats.add(_unique_vectors(
                self.store.sentence_packs(ids[start : start + GROUP_TEXTS]).values()))
        return stats

    def _current_lexical(self) -> LexicalIndex:
        saved = LexicalIndex.load(lexical_path(self.settings))
        if saved is not None and saved[1] == self.state.generation and not self.state.dirty:
            return saved[0]
        return LexicalIndex.from_store(self.store, self.manifest)

    # -- documents in, groups out ------------------------------------------------------

    def add(self, prepared: _Prepared) -> None:
        self._begin()
        self.group.append(prepared)
        self.group_texts += len(prepared.chunks) * 6  # ≈ a passage and its sentences
        if self.group_texts >= self.group_limit:
            self.flush()

    def flush(self) -> None:
        if not self.group:
            return
        group, self.group, self.group_texts = self.group, [], 0
        work, texts = self._plan(group)
        shared: dict[str, dict[tuple[int, int], np.ndarray]] = {d: {} for d in work}
        pending = {p.record.doc_id: len(work[p.record.doc_id]) for p in group}
        by_doc = {p.record.doc_id: p for p in group}
        self._commit([by_doc[d] for d, n in pending.items() if n == 0])
        from tqdm import tqdm

        calls = [texts[i : i + self.call_size] for i in range(0, len(texts), self.call_size)]
        with tqdm(total=len(texts), unit="text", desc="Bäddar in", disable=not self.progress,
                  dynamic_ncols=True, leave=False) as bar:
            buffer: list[_Work] = []
            buffered = 0
            for number, call in enumerate(calls, start=1):
                buffer += self._embed(call, work, shared)
                buffered += len(call)
                if buffered >= self.write_texts or number == len(calls):
                    self._store(buffer)
                    done = []
                    for w in buffer:
                        pending[w.chunk.doc_id] -= 1
                        if pending[w.chunk.doc_id] == 0:
                            done.append(by_doc[w.chunk.doc_id])
                    self._commit(done, work)
                    for p in done:  # their sentence vectors are in the statistics now
                        shared.pop(p.record.doc_id, None)
                    buffer, buffered = [], 0
                bar.update(len(call))
                log.info("batch %d/%d upserted (%d texts)", number, len(calls), len(call))
                if self.on_batch is not None:
                    self.on_batch(number, len(calls))
        self._apply_stats()

    def _apply_stats(self) -> None:
        """The group's sentence vectors into the statistics, the replaced versions' out
        (read back in one call)."""
        assert self.stats is not None
        if self.stats_in:
            self.stats.add(np.vstack(self.stats_in))
        if self.stats_out:
            old = _unique_vectors(self.store.sentence_packs(self.stats_out).values())
            self.stats.add(old, sign=-1)
        self.stats_in, self.stats_out = [], []

    def _plan(self, group: list[_Prepared]) -> tuple[dict[str, list[_Work]], list[_Text]]:
        """The passages still to store, per document, and the texts to embed for them: a
        passage, then those of its sentences not queued yet (each sentence once, though
        overlapping passages share it), so passages complete early in the run."""
        ids = [c.chunk_id for p in group for c in p.chunks]
        have: set[str] = set()
        if not self.rebuild:  # a killed run's stored passages need no second embedding
            have = self.store.existing_ids(ids)  # a passage is stored with its sentences
        work: dict[str, list[_Work]] = {}
        texts: list[_Text] = []
        for p in group:
            spans = sentence_spans(p.text)
            todo = [_Work(c, [(s, e) for s, e in spans if s >= c.start and e <= c.end])
                    for c in p.chunks if c.chunk_id not in have]
            work[p.record.doc_id] = todo
            queued: set[tuple[int, int]] = set()
            for w in todo:
                texts.append((w, None, w.chunk.embed_text))
                fresh = [sp for sp in w.spans if sp not in queued]
                queued.update(fresh)
                texts.extend((w, sp, p.text[sp[0]:sp[1]]) for sp in fresh)
        return work, texts

    def _embed(self, call: list[_Text], work: dict[str, list[_Work]],
               shared: dict[str, dict[tuple[int, int], np.ndarray]]) -> list[_Work]:
        """Embed one call's texts; the passages whose vectors are now all in."""
        # One array per call: rows are views, no per-vector conversions later.
        texts = [t for _, _, t in call]
        fast = getattr(self.embeddings, "embed_array", None)  # no per-number Python lists
        vectors = np.asarray(fast(texts) if fast is not None
                             else self.embeddings.embed_documents(texts), dtype=np.float32)
        self.summary.texts += len(call)
        encode = encoding().encode_ordinary  # in this thread: the batch API starts threads
        self.summary.tokens += sum(len(encode(t)) for *_, t in call)
        for (w, where, _), vector in zip(call, vectors, strict=True):
            if where is None:
                w.vector = vector
            else:
                shared[w.chunk.doc_id][where] = vector
        ready: list[_Work] = []
        # In the order the call holds them (not a set's, which changes with each process's
        # string hashing): the store's insertion order and the lexical index's passage
        # order, which breaks BM25 ties, are then the same in every ingest.
        for doc_id in dict.fromkeys(w.chunk.doc_id for w, _, _ in call):
            have = shared[doc_id]
            for w in work[doc_id]:
                if not w.stored and w.vector is not None and all(sp in have for sp in w.spans):
                    w.sentence_vectors = {sp: have[sp] for sp in w.spans}
                    w.stored = True
                    ready.append(w)
        return ready

    def _store(self, ready: list[_Work]) -> None:
        if not ready:
            return
        vectors = np.vstack([w.vector for w in ready if w.vector is not None])
        self.store.upsert([w.chunk for w in ready], vectors, [w.pack() for w in ready])
        self.summary.embedded += len(ready)

    def _commit(self, done: list[_Prepared], work: dict[str, list[_Work]] | None = None) -> None:
        """Commit finished documents in one manifest write; then account for them in the
        statistics and the lexical index (old version out, new version in)."""
        if not done:
            return
        self.store.commit_docs([p.record for p in done])
        assert self.lexical is not None
        reread: list[str] = []
        for p in done:
            todo = (work or {}).get(p.record.doc_id, [])
            if todo and len(todo) == len(p.chunks):
                self.stats_in.append(_unique_vectors(w.pack() for w in todo))
            else:  # stored by a killed run: read back what it stored
                reread += p.record.chunk_ids
            if p.old is not None:
                self.stats_out += p.old.chunk_ids
            self.manifest[p.record.doc_id] = p.record
            getattr(self.summary, p.status).append(p.record.doc_id)
        if reread:
            self.stats_in.append(_unique_vectors(self.store.sentence_packs(reread).values()))
        self.lexical.add((c.chunk_id, c.doc_id, lexical_terms(c)) for p in done for c in p.chunks)

    def remove(self, records: list[DocRecord]) -> None:
        self._begin()
        assert self.lexical is not None
        self.store.forget_docs([r.doc_id for r in records])
        for record in records:
            self.stats_out += record.chunk_ids
            del self.manifest[record.doc_id]
            self.summary.removed.append(record.doc_id)
        self.lexical.drop(r.doc_id for r in records)
        self._apply_stats()

    def finish(self) -> None:
        """Old versions out (ids from the manifest, plus one ids-only sweep for what a
        killed run left), then statistics, lexical index and generation."""
        if not self.changed:
            return
        self._apply_stats()
        self.store.prune(self.manifest)
        assert self.stats is not None and self.lexical is not None
        self.store.save_stats(self.stats)
        generation = self.state.generation + 1
        save_built(self.lexical, lexical_path(self.settings), generation, self.manifest)
        self.store.set_state(IndexState(generation, dirty=False))


def _unique_vectors(packs: Iterable[SentencePack]) -> np.ndarray:
    """Each sentence once, though overlapping passages both hold it."""
    seen: dict[tuple[str, str, int, int], np.ndarray] = {}
    for p in packs:
        for i, (start, end) in enumerate(p.spans):
            seen.setdefault((p.doc_id, p.doc_hash, start, end), p.vectors[i])
    if not seen:
        return np.zeros((0, 0), dtype=np.float32)
    return np.vstack(list(seen.values()))
