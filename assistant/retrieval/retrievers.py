"""Retrievers: the ways to find a question's passages, each an object registered by name.

A retriever is an object behind one interface (:class:`Retriever`, in the spirit of
LangChain's ``BaseRetriever``), not a mode string for several modules to branch on: it
says which candidate pools it gathers from the index (passage cosines, BM25 scores,
best-sentence cosines) and how it orders them. What every
retriever shares stays with the index (:class:`~assistant.retrieval.hybrid.Searcher`):
the index generation, filters, the named municipality's boost and the near-duplicate
collapse. "Mode" means the answer mode (extractive or llm) only.

Everything that lists retrievers reads this registry, so a new one is accepted
everywhere once registered: the CLI's ``--retriever`` choices, the eval harness's
``--compare`` configurations, the check of ``ASSISTANT_RETRIEVER`` (made when an
``Assistant`` is built: the settings live on the ground floor, which may not import
retrieval), calibration and the benchmark. Recipe: ``docs/recipes/add-a-retriever.md``.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Protocol

from assistant.errors import ConfigError
from assistant.retrieval.filters import Filters
from assistant.retrieval.fusion import FusionParams, fuse
from assistant.types import Chunk

__all__ = [
    "DEFAULT_RETRIEVER",
    "Bm25Retriever",
    "DenseRetriever",
    "Found",
    "HybridRetriever",
    "Pools",
    "Query",
    "Retriever",
    "Sources",
    "get_retriever",
    "register",
    "retriever_names",
    "unregister",
]

DEFAULT_RETRIEVER = "hybrid"  # Settings.retriever's default (a test keeps them equal)

Hits = list[tuple[Chunk, float]]  # (passage, score), best first


@dataclass(frozen=True)
class Query:
    """What a retriever searches with: one question against one index generation."""

    question: str
    pool: int  # candidates per pool
    filters: Filters  # already spelled as the index spells them
    language: str
    all_signals: bool = False  # calibration replays every blend from one gathering


@dataclass(frozen=True)
class Pools:
    """A retriever's candidate pools for one question, before ordering."""

    dense: Hits = field(default_factory=list)  # passage cosine
    lexical: Hits = field(default_factory=list)  # BM25
    query_vector: list[float] | None = None  # kept so answering need not embed again
    sentences: dict[str, float] = field(default_factory=dict)  # best sentence cosine by id


class Sources(Protocol):
    """What one generation of the index offers a retriever (see ``hybrid.Searcher``)."""

    @property
    def fusion(self) -> FusionParams: ...

    def dense(self, query: Query) -> tuple[list[float], Hits]:
        """The question's vector and the ``query.pool`` nearest passages that pass the
        filters."""
        ...

    def lexical(self, query: Query) -> Hits:
        """The ``query.pool`` best passages by BM25 that pass the filters."""
        ...

    def best_sentences(self, vector: Sequence[float], chunk_ids: Sequence[str]
                       ) -> dict[str, float]:
        """Each passage's best sentence cosine, from the vectors stored at ingest."""
        ...


class Found(Protocol):
    """The gathered pools as ordering sees them (``hybrid.Candidates`` is one)."""

    @property
    def dense(self) -> Hits: ...

    @property
    def lexical(self) -> Hits: ...

    @property
    def sentences(self) -> dict[str, float]: ...

    @property
    def language(self) -> str: ...


class Retriever(Protocol):
    """A way to retrieve: which pools to gather, and how to order them."""

    @property
    def name(self) -> str:
        """The registry key: ``--retriever``, ``ASSISTANT_RETRIEVER``, ``--compare``."""
        ...

    @property
    def description(self) -> str:
        """One Swedish line for help texts."""
        ...

    def gather(self, sources: Sources, query: Query) -> Pools:
        """The candidate pools; what calibration stores and replays."""
        ...

    def order(self, found: Found, params: FusionParams) -> list[tuple[str, float]]:
        """(passage id, score) pairs from the gathered pools, best first, before the
        named municipality's boost."""
        ...


def _ids(hits: Hits) -> list[tuple[str, float]]:
    return [(chunk.chunk_id, score) for chunk, score in hits]


class DenseRetriever:
    """The passage cosine alone (no sentence share: it is what the others are compared to)."""

    name = "dense"
    description = "täta vektorer: passagens cosinus mot frågan"

    def gather(self, sources: Sources, query: Query) -> Pools:
        vector, dense = sources.dense(query)
        return Pools(dense=dense, query_vector=vector)

    def order(self, found: Found, params: FusionParams) -> list[tuple[str, float]]:
        return fuse(_ids(found.dense), [], params, found.language, found.sentences)


class Bm25Retriever:
    """BM25 over the passages' words, its ranking as it is."""

    name = "bm25"
    description = "ordmatchning (BM25) utan vektorer"

    def gather(self, sources: Sources, query: Query) -> Pools:
        return Pools(lexical=sources.lexical(query))

    def order(self, found: Found, params: FusionParams) -> list[tuple[str, float]]:
        return _ids(found.lexical)


class HybridRetriever:
    """Dense and BM25 pools fused by score (:func:`~assistant.retrieval.fusion.fuse`).

    The best-sentence cosines cost a read of the pool's sentence vectors, so they are
    only gathered when the question's language blends them in, or for calibration.
    """

    name = "hybrid"
    description = "täta vektorer och BM25, sammanvägda (standard)"

    def gather(self, sources: Sources, query: Query) -> Pools:
        vector, dense = sources.dense(query)
        lexical = sources.lexical(query)
        sentences: dict[str, float] = {}
        if query.all_signals or sources.fusion.sentence(query.language) > 0:
            sentences = sources.best_sentences(vector, [c.chunk_id for c, _ in dense])
        return Pools(dense, lexical, vector, sentences)

    def order(self, found: Found, params: FusionParams) -> list[tuple[str, float]]:
        if not found.dense:  # nothing to fuse with: fusion would rank BM25 hits on bonus alone
            return _ids(found.lexical)
        return fuse(_ids(found.dense), _ids(found.lexical), params, found.language,
                    found.sentences)


_REGISTRY: dict[str, Retriever] = {}


def register(retriever: Retriever) -> Retriever:
    """Make ``retriever`` known by its name everywhere (returned, so it can decorate an
    instance assignment). A second retriever under a taken name is a bug, not an override."""
    held = _REGISTRY.get(retriever.name)
    if held is not None and held is not retriever:
        raise ValueError(f"a retriever named {retriever.name!r} is already registered")
    _REGISTRY[retriever.name] = retriever
    return retriever


def unregister(name: str) -> None:
    """Forget a registered retriever (tests that register one clean up with this)."""
    _REGISTRY.pop(name, None)


def retriever_names() -> tuple[str, ...]:
    """Every registered name, in registration order (the default first)."""
    return tuple(_REGISTRY)


def get_retriever(name: str) -> Retriever:
    """The one lookup: the retriever registered as ``name``, or a
    :class:`~assistant.errors.ConfigError` that lists the names there are."""
    try:
        return _REGISTRY[name]
    except KeyError:
        raise ConfigError(
            f"Okänd hämtningsmetod {name!r}: välj bland {', '.join(retriever_names())} "
            "(--retriever eller ASSISTANT_RETRIEVER)") from None


for _builtin in (HybridRetriever(), DenseRetriever(), Bm25Retriever()):
    register(_builtin)
