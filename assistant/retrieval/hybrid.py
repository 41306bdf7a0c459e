"""The index a retriever searches: filtered, municipality-aware, de-duplicated.

:class:`Searcher` holds what every retriever shares (the index generation, the BM25
index, the passage cache, filters, the named municipality's boost, the near-duplicate
collapse); which pools a question gathers and how they are ordered is the chosen
retriever's business (:mod:`assistant.retrieval.retrievers`: dense, bm25, hybrid).
Weights, boosts and pool sizes are parameters (:mod:`assistant.params`, read from
``assistant/calibration.json``); docs/evaluation.md has the measurements behind them.
"""

from __future__ import annotations

import contextlib
import logging
import re
import threading
from collections import OrderedDict
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from assistant.language import detect_language, jaccard, words
from assistant.params import tuning
from assistant.retrieval.filters import Filters
from assistant.retrieval.fusion import FusionParams
from assistant.retrieval.lexical import LexicalIndex, lexical_path, saved_manifest
from assistant.retrieval.live import Live
from assistant.retrieval.retrievers import DEFAULT_RETRIEVER, Pools, Query, get_retriever
from assistant.retrieval.sentences import SentenceStats
from assistant.retrieval.store import ChromaStore, DocRecord
from assistant.tracing import set_attributes, span
from assistant.types import Chunk, ScoredChunk

if TYPE_CHECKING:
    from langchain_core.embeddings import Embeddings

    from assistant.config import Settings

log = logging.getLogger("assistant.retrieval")

# Fusion weights (score-based, query-adaptive; retrieval/fusion.py), the pool size and
# the near-duplicate threshold come from assistant/calibration.json (assistant/params.py).
CHUNK_CACHE = 4096  # passages kept in memory by id (bounded: Chroma holds them all)


@dataclass(frozen=True)
class IndexSnapshot:
    """What a server derives from one generation of the index; immutable, swapped whole
    (see :mod:`assistant.retrieval.live`)."""

    generation: int
    manifest: dict[str, DocRecord]
    lexical: LexicalIndex
    stats: SentenceStats | None
    municipality_patterns: dict[str, re.Pattern[str]]

    @classmethod
    def build(cls, store: ChromaStore, generation: int, previous: IndexSnapshot | None = None,
              lexical_dir: Path | None = None,
              manifest: dict[str, DocRecord] | None = None) -> IndexSnapshot:
        if manifest is None and lexical_dir is not None:
            manifest = saved_manifest(lexical_dir, generation)
        manifest = store.manifest() if manifest is None else manifest
        lexical = _lexical(store, generation, manifest, previous, lexical_dir)
        names = {r.municipality for r in manifest.values() if r.municipality}
        patterns = {name: re.compile(rf"\b{re.escape(name)}s?\b", re.IGNORECASE)
                    for name in names}
        return cls(generation, manifest, lexical, store.load_stats(), patterns)

    def doc_mask(self, filters: Filters) -> np.ndarray:
        """Which lexical documents pass ``filters`` (all filters are document-level)."""
        bm25 = self.lexical.bm25
        keep = np.asarray([(r := self.manifest.get(d)) is not None and filters.matches(r)
                           for d in bm25.doc_ids], dtype=bool)
        return keep[bm25.chunk_docs] if len(keep) else np.zeros(0, dtype=bool)


def _lexical(store: ChromaStore, generation: int, manifest: dict[str, DocRecord],
             previous: IndexSnapshot | None, lexical_dir: Path | None) -> LexicalIndex:
    """The lexical index of this generation: the copy saved beside the index when it is
    current (the ingest saves one; so does every server that had to build one), else
    the previous one updated with the documents that changed, else built from Chroma."""
    if lexical_dir is not None:
        saved = LexicalIndex.load(lexical_dir)
        if saved is not None and saved[1] == generation:
            return saved[0]
    if previous is not None:
        old = previous.manifest
        changed = {d for d in old.keys() | manifest.keys() if old.get(d) != manifest.get(d)}
        fresh = [cid for d in sorted(changed) if d in manifest for cid in manifest[d].chunk_ids]
        lexical = previous.lexical.updated(changed, store.get_chunks(fresh))
    else:
        lexical = LexicalIndex.from_store(store, manifest)
    if lexical_dir is not None:
        # A read-only index dir: the next start builds again, no harm.
        with contextlib.suppress(OSError):
            lexical.save(lexical_dir, generation, manifest)
    return lexical
@dataclass(frozen=True)
class Candidates:
    """A question's dense and lexical pools before fusion."""

    question: str
    dense: list[tuple[Chunk, float]]  # cosine, best first
    lexical: list[tuple[Chunk, float]]  # BM25, best first
    municipalities: list[str]  # named in the question
    language: str
    filtered_by_municipality: bool = False
    query_vector: list[float] | None = None
    snapshot: IndexSnapshot | None = None  # the index generation the pools came from
    # best sentence cosine per dense-pool passage id (hybrid; fusion may blend it in)
    sentences: dict[str, float] = field(default_factory=dict)
    retriever: str = DEFAULT_RETRIEVER  # the registered retriever that gathered and orders


@dataclass
class Retrieval:
    question: str
    chunks: list[ScoredChunk]
    municipalities: list[str] = field(default_factory=list)
    best_dense: float = 0.0  # cosine similarity of the best chunk
    query_vector: list[float] | None = None  # kept so answering need not embed again
    snapshot: IndexSnapshot | None = None  # the index generation this came from
    # The dense pool's cosines, one per document (its best passage), best first: how far
    # the best stands above the rest is evidence that carries across corpora.
    pool: list[float] = field(default_factory=list)


class Searcher:
    """The index every retriever searches. Built once per process from what Chroma
    holds; cheap to query; follows ingests made by anyone when ``reload_seconds`` > 0."""

    def __init__(self, store: ChromaStore, embeddings: Embeddings,
                 manifest: dict[str, DocRecord] | None = None,
                 lexical_dir: Path | None = None, reload_seconds: float = 0.0,
                 fusion: FusionParams | None = None) -> None:
        self.store = store
        self.embeddings = embeddings
        self.lexical_dir = lexical_dir
        self.fusion = FusionParams.from_calibration() if fusion is None else fusion
        generation = store.state().generation
        snapshot = IndexSnapshot.build(store, generation, None, lexical_dir, manifest)
        self.live = Live(snapshot, generation, lambda: store.state().generation,
                         self._next_snapshot, reload_seconds)
        self._chunk_cache: OrderedDict[str, Chunk] = OrderedDict()
        self._cache_lock = threading.Lock()
        # The vector index loads on a thread of its own while the caller goes on (a CLI
        # imports the answering chain, a server its web stack): at 30,000 documents that
        # load is the largest part of a cold `assistant ask` that grows with the corpus.
        # Started last: Chroma makes other calls wait while it loads, and the manifest,
        # state and statistics above are such calls.
        self.warmed = threading.Thread(target=_warm, args=(store,), name="index-warm",
                                       daemon=True)
        self.warmed.start()

    def _next_snapshot(self, previous: IndexSnapshot, generation: int) -> IndexSnapshot:
        return IndexSnapshot.build(self.store, generation, previous, self.lexical_dir)

    @classmethod
    def from_settings(cls, settings: Settings, embeddings: Embeddings | None = None) -> Searcher:
        from assistant.retrieval.embeddings import get_embeddings, model_id

        embeddings = embeddings or get_embeddings(settings)
        store = ChromaStore.from_settings(settings)
        store.open(model_id(embeddings))
        return cls(store, embeddings, lexical_dir=lexical_path(settings),
                   reload_seconds=settings.reload_seconds)

    @property
    def snapshot(self) -> IndexSnapshot:
        return self.live.current()

    @property
    def manifest(self) -> dict[str, DocRecord]:
        return self.snapshot.manifest

    @property
    def lexical(self) -> LexicalIndex:
        return self.snapshot.lexical

    @property
    def municipalities(self) -> list[str]:
        return sorted(self.snapshot.municipality_patterns)

    def named_municipalities(self, question: str,
                             snapshot: IndexSnapshot | None = None) -> list[str]:
        patterns = (snapshot or self.snapshot).municipality_patterns
        return [m for m, pat in patterns.items() if pat.search(question)]

    def chunks(self, ids: Sequence[str]) -> list[Chunk]:
        """Passages by id, through a bounded cache (ids name a document version, so a
        cached passage is never stale)."""
        with self._cache_lock:
            missing = [i for i in ids if i not in self._chunk_cache]
        fetched = {c.chunk_id: c for c in self.store.get_chunks(missing)} if missing else {}
        with self._cache_lock:
            self._chunk_cache.update(fetched)
            out = []
            for i in ids:
                chunk = self._chunk_cache.get(i)
                if chunk is not None:
                    self._chunk_cache.move_to_end(i)
                    out.append(chunk)
            while len(self._chunk_cache) > CHUNK_CACHE:
                self._chunk_cache.popitem(last=False)
        return out

    def names_municipality(self, text: str) -> bool:
        """Whether ``text`` names a municipality of the corpus (the condenser asks this)."""
        return bool(self.named_municipalities(text))

    def retrieve(self, question: str, k: int = 5, filters: Filters | None = None,
                 retriever: str = DEFAULT_RETRIEVER) -> Retrieval:
        """The ``k`` best passages by the retriever registered as ``retriever``."""
        return self.rank(self.gather(question, k, filters, retriever), k)

    def gather(self, question: str, k: int = 5, filters: Filters | None = None,
               retriever: str = DEFAULT_RETRIEVER, all_signals: bool = False) -> Candidates:
        """The retriever's candidate pools for a question, before ordering (what
        calibration replays; ``all_signals`` gathers every signal a blend may use)."""
        method = get_retriever(retriever)  # an unknown name fails before any work
        snapshot = self.snapshot  # one index generation for the whole question
        filters = self._canonical(filters or Filters(), snapshot)
        pool = tuning().pool.size(k)
        query = Query(question, pool, filters, detect_language(question), all_signals)
        pools: Pools = method.gather(_Generation(self, snapshot), query)
        named = self.named_municipalities(question, snapshot)
        return Candidates(question, pools.dense, pools.lexical, named, query.language,
                          bool(filters.municipality), pools.query_vector, snapshot,
                          pools.sentences, method.name)

    def _best_sentences(self, vector: Sequence[float], chunk_ids: Sequence[str]
                        ) -> dict[str, float]:
        """Each passage's best sentence cosine, from the sentence vectors the ingest
        stored with it (one read for the whole pool; no embedding at question time)."""
        if not chunk_ids:
            return {}
        query = np.asarray(vector, dtype=np.float32)
        return {cid: float(np.max(pack.vectors @ query))
                for cid, pack in self.store.sentence_packs(chunk_ids).items()
                if len(pack.vectors)}

    def rank(self, found: Candidates, k: int = 5,
             fusion: FusionParams | None = None) -> Retrieval:
        """Order by the gathering retriever, boost the named municipality, collapse
        near-duplicates, keep ``k``."""
        params = self.fusion if fusion is None else fusion
        named = [] if found.filtered_by_municipality else found.municipalities
        with span("assistant.retrieve.fusion", retriever=found.retriever,
                  language=found.language) as current:
            ordered = get_retriever(found.retriever).order(found, params)
            fused = _boost(found.dense, found.lexical, ordered, params, named)
            kept = _cover(_collapse(fused, None if len(named) > 1 else k), named, k)
            set_attributes(current, candidates=len(fused), kept=len(kept))
        best_dense = found.dense[0][1] if found.dense else 0.0
        return Retrieval(found.question, kept, found.municipalities, best_dense,
                         found.query_vector, found.snapshot, _per_document(found.dense))

    def _lexical_top(self, snapshot: IndexSnapshot, question: str, pool: int,
                     filters: Filters) -> list[tuple[Chunk, float]]:
        """The ``pool`` best passages by BM25 (ties in index order), fetched by id."""
        scores = snapshot.lexical.scores(question)
        if filters:
            scores = np.where(snapshot.doc_mask(filters), scores, 0.0)
        hits = np.flatnonzero(scores > 0)
        if len(hits) > pool:
            hits = hits[np.argpartition(-scores[hits], pool - 1)[:pool]]
        hits = hits[np.lexsort((hits, -scores[hits]))]
        ids = [snapshot.lexical.chunk_ids[int(i)] for i in hits]
        by_id = {c.chunk_id: c for c in self.chunks(ids)}
        return [(by_id[cid], float(scores[i])) for cid, i in zip(ids, hits, strict=True)
                if cid in by_id and filters.matches(by_id[cid])]

    def _canonical(self, filters: Filters, snapshot: IndexSnapshot) -> Filters:
        """The municipality spelled as the index has it: Chroma's ``where`` matches
        exactly, so ``municipality=lund`` would find nothing on the dense path while
        the lexical path (case-insensitive) found Lund."""
        wanted = (filters.municipality or "").casefold()
        for name in snapshot.municipality_patterns if wanted else ():
            if name.casefold() == wanted and name != filters.municipality:
                return replace(filters, municipality=name)
        return filters


def _warm(store: ChromaStore) -> None:
    """:meth:`ChromaStore.warm`, on a thread: a failure here is the first question's to
    report (it queries the same index), so it is only logged."""
    try:
        store.warm()
    except Exception:
        log.debug("could not warm the vector index", exc_info=True)


@dataclass(frozen=True)
class _Generation:
    """One index generation as a retriever's :class:`~assistant.retrieval.retrievers.Sources`."""

    searcher: Searcher
    snapshot: IndexSnapshot

    @property
    def fusion(self) -> FusionParams:
        return self.searcher.fusion

    def dense(self, query: Query) -> tuple[list[float], list[tuple[Chunk, float]]]:
        with span("assistant.retrieve.dense", pool=query.pool) as current:
            vector = self.searcher.embeddings.embed_query(query.question)
            # Not alongside the warm-up's load: the first query waits for it instead.
            self.searcher.warmed.join()
            hits = self.searcher.store.query(vector, query.pool, query.filters,
                                             self.snapshot.manifest, self.searcher.chunks)
            kept = [(c, s) for c, s in hits if query.filters.matches(c)]
            set_attributes(current, hits=len(kept))
        return vector, kept

    def lexical(self, query: Query) -> list[tuple[Chunk, float]]:
        with span("assistant.retrieve.lexical", pool=query.pool) as current:
            hits = self.searcher._lexical_top(self.snapshot, query.question, query.pool,
                                              query.filters)
            set_attributes(current, hits=len(hits))
        return hits

    def best_sentences(self, vector: Sequence[float], chunk_ids: Sequence[str]
                       ) -> dict[str, float]:
        return self.searcher._best_sentences(vector, chunk_ids)


def _boost(dense: list[tuple[Chunk, float]], lexical: list[tuple[Chunk, float]],
           ordered: list[tuple[str, float]], params: FusionParams,
           named: list[str]) -> list[ScoredChunk]:
    """The retriever's order as scored passages (each with its pool scores); the named
    municipality's passages get a small boost in cosine units."""
    by_id: dict[str, ScoredChunk] = {}
    for chunk, sim in dense:
        by_id.setdefault(chunk.chunk_id, ScoredChunk(chunk, 0.0)).dense = sim
    for chunk, bm25 in lexical:
        by_id.setdefault(chunk.chunk_id, ScoredChunk(chunk, 0.0)).lexical = bm25
    out: list[ScoredChunk] = []
    for chunk_id, score in ordered:
        item = by_id[chunk_id]
        item.score = score + (params.municipality_boost
                              if named and item.chunk.municipality in named else 0.0)
        out.append(item)
    out.sort(key=lambda s: -s.score)  # stable: ties keep the fused order
    return out


def _per_document(dense: list[tuple[Chunk, float]]) -> list[float]:
    """Each document's best cosine in the dense pool (best first)."""
    best: dict[str, float] = {}
    for chunk, sim in dense:
        best.setdefault(chunk.doc_id, sim)
    return sorted(best.values(), reverse=True)


def _cover(ranked: list[ScoredChunk], named: list[str], k: int) -> list[ScoredChunk]:
    """The ``k`` best, except that a question naming several municipalities ("Landskronas
    och Lunds arbete …") keeps each one's best passage: otherwise the articles of the
    one that scores a little higher fill every place, and the answer (and the refusal
    check, which looks for every name in the evidence) never sees the other. Kept in
    ranked order."""
    if len(named) < 2:
        return ranked[:k]
    firsts: dict[str | None, str] = {}
    for item in ranked:
        if item.chunk.municipality in named:
            firsts.setdefault(item.chunk.municipality, item.chunk.chunk_id)
    reserved = set(list(firsts.values())[:k])
    free = k - len(reserved)
    kept: list[ScoredChunk] = []
    for item in ranked:
        if item.chunk.chunk_id in reserved:
            kept.append(item)
        elif free > 0:
            kept.append(item)
            free -= 1
    return kept


def _collapse(ranked: list[ScoredChunk], limit: int | None = None) -> list[ScoredChunk]:
    """Near-duplicate passages (syndicated or repeated text) would waste citation slots.

    Stops once ``limit`` passages are kept: the rest of the pool need not be tokenised.
    """
    threshold = tuning().pool.duplicate_jaccard
    kept: list[tuple[ScoredChunk, set[str]]] = []
    for item in ranked:
        if limit is not None and len(kept) >= limit:
            break
        bag = set(words(item.chunk.text))
        if any(jaccard(bag, other) >= threshold for _, other in kept):
            continue
        kept.append((item, bag))
    return [item for item, _ in kept]
