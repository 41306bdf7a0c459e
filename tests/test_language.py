"""Swedish analysis: the one rule set retrieval, answering and citation checks share."""

from __future__ import annotations

import pytest

from assistant.citations import supports
from assistant.language import (
    EXPANDED_MATCH,
    analyse,
    compound_match,
    detect_language,
    extends,
    jaccard,
    term_match,
)
from assistant.retrieval.lexical import LexicalIndex
from assistant.types import Chunk


def test_analyse_drops_stopwords_and_stems() -> None:
    terms = analyse("Vad gjorde Trollhättan mot skolsegregationen?")
    assert "vad" not in terms
    assert "trollhättan" in terms
    assert any(t.startswith("skolsegregation") for t in terms)
    assert analyse("SKR") == ["skr"]  # short content words stay


def test_extends_needs_long_enough_heads_and_tails() -> None:
    assert extends("lund", "lundalärare")  # head of 4
    assert not extends("år", "årskurs")  # too short a head
    assert extends("segregation", "skolsegregation")  # tail of 6+
    assert not extends("skola", "grundskola")  # a 5-letter tail is often accidental
    assert not extends("lund", "lund")  # the word itself is not an expansion


def test_compound_and_inflection_match() -> None:
    assert compound_match("segregation", "skolsegregation")
    assert compound_match("kunskapslyft", "kunskapslyftet")
    assert compound_match("fokuser", "fokus")  # the term is an inflection of the token
    assert compound_match("skr-nätverket", "nätverk")
    assert not compound_match("år", "årskurs")  # short stems would match too much
    # A compound does not match its bare tail: it asks for something more specific.
    assert not compound_match("skolsegregation", "segregation")


def test_term_match_weights_exact_over_expanded() -> None:
    assert term_match("lund", {"lund"}) == 1.0
    assert term_match("lund", {"lundalärare"}) == EXPANDED_MATCH
    assert term_match("lund", {"malmö"}) == 0.0


def test_jaccard() -> None:
    assert jaccard({"a", "b"}, {"b", "c"}) == pytest.approx(1 / 3)
    assert jaccard(set(), {"a"}) == 0.0
    assert jaccard({"a"}, {"a"}) == 1.0


def test_retrieval_expansion_and_citation_support_agree_with_compound_match() -> None:
    """The three users of the rule see the same compounds: BM25 expands "segregation" to
    the passage's "skolsegregation", the extractive scorer counts it, and the citation
    checker accepts it as support."""
    text = "Kommunen arbetar mot skolsegregationen."
    chunk = Chunk(chunk_id="c0", doc_id="d.txt", doc_hash="h", ordinal=0, text=text,
                  start=0, end=len(text), content_hash="x", title="Titel")
    index = LexicalIndex([chunk])
    (term,) = index.terms("segregation").exact
    passage = set(analyse(text))
    assert any(compound_match(term, v) for v in index.terms("segregation").expanded)
    assert term_match(term, passage) == EXPANDED_MATCH
    assert supports("Det handlar om segregation [1].", passage)
    assert not supports("Det handlar om vädret [1].", passage)


@pytest.mark.parametrize(
    ("text", "language"),
    [
        ("What did Trollhättan do against segregation?", "en"),
        ("Vad gjorde Trollhättan mot segregation?", "sv"),
        ("Who hosted the visit?", "en"),
        ("Vem var värd för besöket?", "sv"),
        ("Berätta om kunskapslyftet", "sv"),
        ("Tell me about the school network in Lund", "en"),
        ("Trollhättan", "sv"),  # nothing to go on: Swedish is the default
    ],
)
def test_detect_language(text: str, language: str) -> None:
    assert detect_language(text) == language
