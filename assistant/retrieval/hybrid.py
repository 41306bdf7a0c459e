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
from assistant.language import jaccard
from assistant.retrieval.filters import Filters
from assistant.retrieval.lexical import LexicalIndex
from assistant.retrieval.store import ChromaStore, DocRecord
from assistant.text import words
from assistant.types import Chunk, ScoredChunk

if TYPE_CHECKING:
    from langchain_core.embeddings import Embeddings

    from assistant.config import Settings

# Chosen by a grid over DENSE_WEIGHT {1, 1.5, 2} × LEXICAL_WEIGHT {1, 0.5} × RRF_K
# {10, 20, 60} × lexical expansion weight {0.3, 0.6, 1.0} × MUNICIPALITY_BOOST
# {0, 0.25, 0.5, 1} on eval/questions.jsonl (README, "Retrieval and refusal
# calibration"). Equal weights with expansion 0.3 reach the grid's best (hit@1 0.925,
# MRR 0.963, recall@5 1.0; dense alone: 0.925 / 0.963 / 0.963) for every RRF_K, so
# the plain, symmetric point is kept.
RRF_K = 20  # small k: the top ranks of each list matter most on short result lists
DENSE_WEIGHT = 1.0
LEXICAL_WEIGHT = 1.0
# Fraction of the best fused score added for a named municipality. No eval question
# changes between 0 and 1 (the named article already leads); kept for "… i Lund"
# questions over corpora where several municipalities write about the same topic.
MUNICIPALITY_BOOST = 0.5
DUPLICATE_JACCARD = 0.8
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
                 manifest: dict[str, DocRecord] | None = None) -> None:
        self.store = store
        self.embeddings = embeddings
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

    def named_municipalities(self, question: str) -> list[str]:
        return [m for m, pat in self._municipality_patterns.items() if pat.search(question)]

    def retrieve(self, question: str, k: int = 5, filters: Filters | None = None,
                 mode: RetrieverName = "hybrid") -> Retrieval:
        filters = self._canonical(filters or Filters())
        pool = max(4 * k, 20)
        dense: list[tuple[Chunk, float]] = []
        best_dense = 0.0
        vector: list[float] | None = None
        if mode in ("hybrid", "dense"):
            vector = self.embeddings.embed_query(question)
            dense = self.store.query(vector, pool, filters, self.manifest)
            dense = [(c, s) for c, s in dense if filters.matches(c)]
            best_dense = dense[0][1] if dense else 0.0
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
        fused = self._fuse(dense, lexical)
        named = self.named_municipalities(question)
        if named and fused and not filters.municipality:
            top = max(s.score for s in fused)
            for s in fused:
                if s.chunk.municipality in named:
                    s.score += MUNICIPALITY_BOOST * top
            fused.sort(key=lambda s: -s.score)
        return Retrieval(question, _collapse(fused, k), named, best_dense, vector)

    def _canonical(self, filters: Filters) -> Filters:
        """The municipality spelled as the index has it: Chroma's ``where`` matches
        exactly, so ``municipality=lund`` would find nothing on the dense path while
        the lexical path (case-insensitive) found Lund."""
        wanted = (filters.municipality or "").casefold()
        for name in self._municipality_patterns if wanted else ():
            if name.casefold() == wanted and name != filters.municipality:
                return replace(filters, municipality=name)
        return filters

    @staticmethod
    def _fuse(dense: list[tuple[Chunk, float]],
              lexical: list[tuple[Chunk, float]]) -> list[ScoredChunk]:
        """Weighted reciprocal-rank fusion: robust to the two score scales."""
        merged: dict[str, ScoredChunk] = {}
        for rank, (chunk, sim) in enumerate(dense):
            item = merged.setdefault(chunk.chunk_id, ScoredChunk(chunk, 0.0))
            item.dense = sim
            item.score += DENSE_WEIGHT / (RRF_K + rank + 1)
        for rank, (chunk, bm25) in enumerate(lexical):
            item = merged.setdefault(chunk.chunk_id, ScoredChunk(chunk, 0.0))
            item.lexical = bm25
            item.score += LEXICAL_WEIGHT / (RRF_K + rank + 1)
        return sorted(merged.values(), key=lambda s: -s.score)


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
