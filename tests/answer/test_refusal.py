"""Refusal rules: answer type, unknown names, and the end-to-end follow-up."""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any

from assistant.answer import chain, extractive
from assistant.config import Settings
from assistant.retrieval.lexical import LexicalIndex
from assistant.types import Chunk


def _fake(text: str) -> Any:
    chunk = Chunk(chunk_id="c", doc_id="d.txt", doc_hash="h", ordinal=0, text=text, start=0,
                  end=len(text), content_hash="x", title="T", municipality="Trollhättan")
    retriever = SimpleNamespace(lexical=LexicalIndex([chunk]),
                                named_municipalities=lambda q: ["Trollhättan"]
                                if "trollhättan" in q.lower() else [])
    return SimpleNamespace(retriever=retriever)


def test_unknown_named_entity_is_detected() -> None:
    fake = _fake("Trollhättan arbetar mot skolsegregationen.")
    _, names = chain.unknown_terms(fake, "Vad gör Göteborgs stad mot skolsegregationen?")
    assert names == ["Göteborgs"]
    _, names = chain.unknown_terms(fake, "Vad gör Trollhättan mot segregation?")
    assert names == []


def test_number_question_without_number_is_unsupported() -> None:
    cand = extractive.Candidate(1, 0, 10, "avveckling av skolor och flytt av elever", 0.9, 0.6,
                                1.0, {"flytt": 1.0}, typed=False, weights={"flytt": 1.0})
    extract = extractive.select([cand], kind=extractive.answer_type("Hur mycket kostade det?"))
    assert not extract.typed


def test_followup_retrieves_host_article(sample_index: Settings) -> None:
    from assistant.answer import Assistant

    assistant = Assistant.from_settings(sample_index)
    history = [{"role": "user", "content": "Vad gjorde Trollhättan mot segregation?"},
               {"role": "assistant", "content": "..."}]
    answer = assistant.ask("Vem var värd för besöket?", history=history)
    assert "004_02e4e99ec918efc6.txt" in answer.retrieved_ids
    assert not answer.refused
    assert "Katarina Nyman" in answer.answer


def test_standout_measures_distance_from_the_corpus_background() -> None:
    """The statistics the index keeps (every sentence, no sample) decide rule 4."""
    import numpy as np

    from assistant.retrieval.sentences import SentenceStats

    rng = np.random.default_rng(0)
    background = rng.normal(size=(200, 64))
    background /= np.linalg.norm(background, axis=1, keepdims=True)
    stats = SentenceStats.empty(64)
    stats.add(background)
    q = background[0]
    typical = float(np.median(background @ q))
    # A sentence that matches the question stands out; a typical one does not.
    assert stats.standout(q.tolist(), 1.0) > chain.MIN_STANDOUT_EN
    assert stats.standout(q.tolist(), typical) < 1.0


def test_type_rule_still_refuses_when_best_sentence_lacks_the_number() -> None:
    top = extractive.Candidate(1, 0, 10, "det var ett modigt beslut att flytta elever", 0.9, 0.6,
                               1.0, {"flytt": 1.0}, typed=False, weights={"flytt": 1.0})
    low = extractive.Candidate(1, 20, 30, "ca 30 deltagare från hela landet", 0.8, 0.05, 0.9,
                               {}, typed=True, weights={"flytt": 1.0})
    kind = extractive.answer_type("Hur mycket kostade flytten?")
    assert not extractive.select([top, low], kind=kind).typed
