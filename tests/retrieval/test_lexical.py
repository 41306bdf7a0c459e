"""Swedish BM25 with compound matching, on a tiny synthetic corpus."""

from __future__ import annotations

from assistant.retrieval.lexical import LexicalIndex
from assistant.types import Chunk


def _chunk(i: int, text: str) -> Chunk:
    return Chunk(chunk_id=f"c{i}", doc_id=f"d{i}.txt", doc_hash="h", ordinal=0, text=text,
                 start=0, end=len(text), content_hash=f"x{i}", title=f"Titel {i}")


CHUNKS = [
    _chunk(0, "Att minska skolsegregationen är högst prioriterat."),
    _chunk(1, "Kommunen satsar på kunskapslyftet för lärare."),
    _chunk(2, "Vädret i Visby var soligt."),
]


def test_segregation_finds_skolsegregationen() -> None:
    index = LexicalIndex(CHUNKS)
    scores = index.scores("segregation")
    assert scores.argmax() == 0 and scores[0] > 0


def test_kunskapslyft_finds_kunskapslyftet() -> None:
    index = LexicalIndex(CHUNKS)
    scores = index.scores("Vad är kunskapslyft?")
    assert scores.argmax() == 1 and scores[1] > 0


def test_knows_vocabulary_and_compounds() -> None:
    index = LexicalIndex(CHUNKS)
    assert index.knows("segregation")
    assert not index.knows("göteborg")


def test_expansions_are_cached_and_stable() -> None:
    index = LexicalIndex([_chunk(0, "Skolsegregationen minskar i kommunen."),
                          _chunk(1, "Kunskapslyftet och kunskapslyft i Söderhamn.")])
    first = index.terms("Vad gör kommunen mot segregation?")
    assert "skolsegregation" in first.expanded
    assert index.terms("Vad gör kommunen mot segregation?") == first
    assert "segregation" in index._expansion_cache
    assert index.knows("segregation") and not index.knows("kanelbull")
    assert index.knows("kanelbull") is False  # cached negative answer


def test_expanded_terms_count_at_the_expansion_weight() -> None:
    from assistant.params import tuning

    chunks = [_chunk(0, "Skolsegregationen minskar i kommunen."),
              _chunk(1, "Segregation i skolan minskar.")]
    index = LexicalIndex(chunks)
    assert index.expansion_weight == tuning().lexical.expansion_weight == 0.3
    scores = index.scores("segregation")
    assert scores[1] > scores[0] > 0
