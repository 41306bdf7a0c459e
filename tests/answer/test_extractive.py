"""Extractive answers on small synthetic passages (no embedding model needed)."""

from __future__ import annotations

from assistant.answer import extractive
from assistant.retrieval.lexical import LexicalIndex
from assistant.text import sentence_spans
from assistant.types import Chunk, ScoredChunk

TEXT = ("Kommunalt kunskapslyft\n\n"
        "Kommunfullmäktige har beviljat 6,5 miljoner kronor per år till kunskapslyftet.\n\n"
        "Ett-steg-före\nEn skola i kommunen kommer att utses att få gå före i processen. "
        "Lyftet satsar extra där för att få snabba resultat och se vad som fungerar.\n\n"
        "Kontakter och samarbetspartners\n\nEssunga kommun\nHaninge kommun\nUmeå universitet")


def _setup(question: str) -> tuple[list[extractive.Candidate], list[ScoredChunk]]:
    chunk = Chunk(chunk_id="c0", doc_id="003.txt", doc_hash="h", ordinal=0, text=TEXT, start=0,
                  end=len(TEXT), content_hash="x", title="Kommunalt kunskapslyft",
                  municipality="Söderhamn", date="2012-11-20")
    chunks = [ScoredChunk(chunk, 1.0)]
    # Flat sentence vectors: every sentence equally similar, so lexical evidence decides.
    vectors = [("003.txt", s, e, [1.0, 0.0]) for s, e in sentence_spans(TEXT)]
    terms = LexicalIndex([chunk]).terms(question)
    return extractive.candidates(chunks, vectors, [0.8, 0.6], terms, question), chunks


def test_heading_gives_context_to_following_sentences() -> None:
    ranked, _ = _setup("Vad innebär Ett-steg-före i Söderhamns kunskapslyft?")
    extract = extractive.select(ranked)
    text = " ".join(c.text for c in extract.sentences)
    assert "gå före" in text and "snabba resultat" in text


def test_list_block_under_heading_is_one_candidate() -> None:
    ranked, _ = _setup("Vilka samarbetspartners har Söderhamns kunskapslyft?")
    assert ranked[0].text == "Essunga kommun, Haninge kommun, Umeå universitet"


def test_number_question_and_verbatim_numbers() -> None:
    question = "Hur mycket pengar satsar Söderhamn per år?"
    ranked, chunks = _setup(question)
    extract = extractive.select(ranked, kind=extractive.answer_type(question))
    assert extract.typed
    answer = extractive.compose(extract, chunks, "sv")
    assert "6,5 miljoner kronor per år" in answer
    assert answer.startswith("Enligt artikeln ”Kommunalt kunskapslyft” (Söderhamn, 2012-11-20):")


def test_english_lead_with_swedish_quotes() -> None:
    ranked, chunks = _setup("What does Ett-steg-före mean?")
    answer = extractive.compose(extractive.select(ranked), chunks, "en")
    assert answer.startswith("According to the article “Kommunalt kunskapslyft”")
    assert "gå före i processen. [1]" in answer


def test_answer_types() -> None:
    assert extractive.answer_type("Hur många deltagare var med?") == "number"
    assert extractive.answer_type("När träffas nätverket?") == "date"
    assert extractive.answer_type("Vem tog emot dem när de kom?") == ""
    assert extractive.answer_type("How much did it cost?") == "number"
    assert extractive.has_type("den 11-12 oktober", "date")
    assert not extractive.has_type("avveckling av skolor", "number")
