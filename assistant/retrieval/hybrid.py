"""Dense + lexical retrieval, fused, filtered, municipality-aware, de-duplicated.

Weights and boosts are module constants chosen with the eval harness
(`assistant eval eval/questions.jsonl --compare hybrid,dense,bm25`); see the README's
retrieval section for the measurements behind them.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING

import numpy as np

from assistant.config import RetrieverName
from assistant.language import detect_language, jaccard
from assistant.retrieval.filters import Filters
from assistant.retrieval.fusion import FusionParams, fuse
from assistant.retrieval.lexical import LexicalIndex
from assistant.retrieval.store import ChromaStore, DocRecord
from assistant.text import words
from assistant.types import Chunk, ScoredChunk

if TYPE_CHECKING:
    from langchain_core.embeddings import Embeddings

    from assistant.config import Settings

# Fusion weights (score-based, query-adaptive; retrieval/fusion.py) come from
# assistant/calibration.json, chosen by `assistant eval calibrate` with cross-validation
# over the own eval set and the FAQ dev suites (README, "Calibration").
DUPLICATE_JACCARD = 0.8
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


@dataclass
class Retrieval:
    question: str
    chunks: list[ScoredChunk]
    municipalities: list[str] = field(default_factory=list)
    best_dense: float = 0.0  # cosine similarity of the best chunk
    query_vector: list[float] | None = None  # kept so answering need not embed again


class Retriever:
    """Built once per process from what Chroma holds; cheap to query."""

    def __init__(self, store: ChromaStore, embeddings: Embeddings,
                 manifest: dict[str, DocRecord] | None = None,
                 fusion: FusionParams | None = None) -> None:
        self.store = store
        self.embeddings = embeddings
        self.fusion = FusionParams.from_calibration() if fusion is None else fusion
        self.manifest = store.manifest() if manifest is None else manifest
        self.lexical = LexicalIndex(store.live_chunks(self.manifest))
        names = {r.municipality for r in self.manifest.values() if r.municipality}
        self._municipality_patterns = {
            name: re.compile(rf"\b{re.escape(name)}s?\b", re.IGNORECASE) for name in names
        }

    @classmethod
    def from_settings(cls, settings: Settings, embeddings: Embeddings | None = None) -> Retriever:
        from assistant.retrieval.embeddings import get_embeddings, model_id

        embeddings = embeddings or get_embeddings(settings)
        store = ChromaStore.from_settings(settings)
        store.open(model_id(embeddings))
        return cls(store, embeddings)

    @property
    def municipalities(self) -> list[str]:
        return sorted(self._municipality_patterns)

    def names_municipality(self, text: str) -> bool:
        """Whether ``text`` names a municipality of the corpus (the condenser asks this)."""
        return bool(self.named_municipalities(text))

    def named_municipalities(self, question: str) -> list[str]:
        return [m for m, pat in self._municipality_patterns.items() if pat.search(question)]

    def retrieve(self, question: str, k: int = 5, filters: Filters | None = None,
                 mode: RetrieverName = "hybrid") -> Retrieval:
        return self.rank(self.gather(question, k, filters, mode), k)

    def gather(self, question: str, k: int = 5, filters: Filters | None = None,
               mode: RetrieverName = "hybrid") -> Candidates:
        """Both candidate pools for a question, before fusion (what calibration replays)."""
        filters = self._canonical(filters or Filters())
        pool = max(4 * k, 20)
        dense: list[tuple[Chunk, float]] = []
        vector: list[float] | None = None
        if mode in ("hybrid", "dense"):
            vector = self.embeddings.embed_query(question)
            dense = self.store.query(vector, pool, filters, self.manifest)
            dense = [(c, s) for c, s in dense if filters.matches(c)]
        lexical: list[tuple[Chunk, float]] = []
        if mode in ("hybrid", "bm25"):
            scores = self.lexical.scores(question)
            order = np.argsort(-scores, kind="stable")
            for i in order:
                chunk = self.lexical.chunks[int(i)]
                if scores[i] <= 0 or len(lexical) >= pool:
                    break
                if filters.matches(chunk):
                    lexical.append((chunk, float(scores[i])))
        named = self.named_municipalities(question)
        return Candidates(question, dense, lexical, named, detect_language(question),
                          bool(filters.municipality), vector)

    def rank(self, found: Candidates, k: int = 5,
             fusion: FusionParams | None = None) -> Retrieval:
        """Fuse, boost the named municipality, collapse near-duplicates, keep ``k``."""
        params = self.fusion if fusion is None else fusion
        named = [] if found.filtered_by_municipality else found.municipalities
        fused = _fuse(found.dense, found.lexical, params, found.language, named)
        best_dense = found.dense[0][1] if found.dense else 0.0
        return Retrieval(found.question, _collapse(fused, k), found.municipalities, best_dense,
                         found.query_vector)

    def _canonical(self, filters: Filters) -> Filters:
        """The municipality spelled as the index has it: Chroma's ``where`` matches
        exactly, so ``municipality=lund`` would find nothing on the dense path while
        the lexical path (case-insensitive) found Lund."""
        wanted = (filters.municipality or "").casefold()
        for name in self._municipality_patterns if wanted else ():
            if name.casefold() == wanted and name != filters.municipality:
                return replace(filters, municipality=name)
        return filters


def _fuse(dense: list[tuple[Chunk, float]], lexical: list[tuple[Chunk, float]],
          params: FusionParams, language: str, named: list[str]) -> list[ScoredChunk]:
    """Score fusion (:func:`~assistant.retrieval.fusion.fuse`), then the named
    municipality's passages get a small boost in cosine units."""
    by_id: dict[str, ScoredChunk] = {}
    for chunk, sim in dense:
        by_id.setdefault(chunk.chunk_id, ScoredChunk(chunk, 0.0)).dense = sim
    for chunk, bm25 in lexical:
        by_id.setdefault(chunk.chunk_id, ScoredChunk(chunk, 0.0)).lexical = bm25
    if dense:
        fused = fuse([(c.chunk_id, s) for c, s in dense],
                     [(c.chunk_id, s) for c, s in lexical], params, language)
    else:  # bm25 mode: the BM25 ranking as it is
        fused = [(c.chunk_id, s) for c, s in lexical]
    out: list[ScoredChunk] = []
    for chunk_id, score in fused:
        item = by_id[chunk_id]
        item.score = score + (params.municipality_boost
                              if named and item.chunk.municipality in named else 0.0)
        out.append(item)
    out.sort(key=lambda s: -s.score)  # stable: ties keep the fused order
    return out


def _collapse(ranked: list[ScoredChunk], limit: int | None = None) -> list[ScoredChunk]:
    """Near-duplicate passages (syndicated or repeated text) would waste citation slots.

    Stops once ``limit`` passages are kept: the rest of the pool need not be tokenised.
    """
    kept: list[tuple[ScoredChunk, set[str]]] = []
    for item in ranked:
        if limit is not None and len(kept) >= limit:
            break
        bag = set(words(item.chunk.text))
        if any(jaccard(bag, other) >= DUPLICATE_JACCARD for _, other in kept):
            continue
        kept.append((item, bag))
    return [item for item, _ in kept]
