"""Refusal rules: answer type, unknown names, and the end-to-end follow-up."""

from __future__ import annotations

import pytest

from assistant.answer import extractive
from assistant.answer.answerability import evidence
from assistant.answer.policy import RefusalPolicy
from assistant.answer.slots import asked_slot
from assistant.config import Settings
from assistant.language import analyse
from assistant.retrieval.lexical import LexicalIndex
from assistant.types import Chunk


def _extract(text: str, question: str, lexical: LexicalIndex) -> extractive.Extract:
    terms = lexical.terms(question).exact
    cand = extractive.Candidate(1, 0, len(text), text, 0.9, 0.6, 1.0,
                                {t: 1.0 for t in terms if t in analyse(text)},
                                weights={t: 1.0 for t in terms})
    slot = asked_slot(question)
    cand.typed = slot is None or slot.fills(text)
    return extractive.select([cand], slot=slot)


def test_unknown_and_missing_names_are_measured() -> None:
    text = "Trollhättan arbetar mot skolsegregationen. Lund är värd för nätverket."
    chunk = Chunk(chunk_id="c", doc_id="d.txt", doc_hash="h", ordinal=0, text=text, start=0,
                  end=len(text), content_hash="x", title="T", municipality="Trollhättan")
    lexical = LexicalIndex([chunk])
    # The chosen sentence's passage: only its own first sentence, Trollhättan's.
    first = text.split(". ")[0]
    other = Chunk(chunk_id="p", doc_id="p.txt", doc_hash="h", ordinal=0, text=first, start=0,
                  end=len(first), content_hash="y", title="Om Trollhättan",
                  municipality="Trollhättan")
    q = "Vad gör Göteborgs stad mot skolsegregationen?"
    ev = evidence(q, "sv", _extract(text.split(". ")[0], q, lexical), 0.9, lexical)
    assert ev.unknown_names == ("göteborg",) and ev.missing_names == ()
    q = "Vad gör Lund mot skolsegregationen?"  # Lund is known, but not in the evidence
    ev = evidence(q, "sv", _extract(text.split(". ")[0], q, lexical), 0.9, lexical, [other])
    assert ev.unknown_names == () and ev.missing_names == ("lund",) and ev.known_names == 1
    q = "Vad gör Trollhättan mot segregation?"
    ev = evidence(q, "sv", _extract(text.split(". ")[0], q, lexical), 0.9, lexical, [other])
    assert ev.unknown_names == () and ev.missing_names == ()


def test_a_number_must_sit_with_the_asked_attribute() -> None:
    text = "Det var ca 30 deltagare från hela landet på besöket."
    chunk = Chunk(chunk_id="c", doc_id="d.txt", doc_hash="h", ordinal=0, text=text, start=0,
                  end=len(text), content_hash="x", title="T")
    lexical = LexicalIndex([chunk])
    asked = evidence("Hur många deltagare var med?", "sv",
                     _extract(text, "Hur många deltagare var med?", lexical), 0.9, lexical)
    assert asked.answer_type == "count" and asked.typed_coverage == 1.0
    other = evidence("Hur många elever gick på skolan?", "sv",
                     _extract(text, "Hur många elever gick på skolan?", lexical), 0.9, lexical)
    assert other.typed_coverage == 0.0  # a number, but not a count of pupils


def test_number_question_without_number_is_unsupported() -> None:
    cand = extractive.Candidate(1, 0, 10, "avveckling av skolor och flytt av elever", 0.9, 0.6,
                                1.0, {"flytt": 1.0}, typed=False, weights={"flytt": 1.0})
    extract = extractive.select([cand], slot=asked_slot("Hur mycket kostade det?"))
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
    hand_set = RefusalPolicy.search_start().min_standout_en  # the rule's working value
    assert isinstance(hand_set, float)
    assert stats.standout(q.tolist(), 1.0) > hand_set
    assert stats.standout(q.tolist(), typical) < 1.0


def test_type_rule_still_refuses_when_best_sentence_lacks_the_number() -> None:
    top = extractive.Candidate(1, 0, 10, "det var ett modigt beslut att flytta elever", 0.9, 0.6,
                               1.0, {"flytt": 1.0}, typed=False, weights={"flytt": 1.0})
    low = extractive.Candidate(1, 20, 30, "ca 30 deltagare från hela landet", 0.8, 0.05, 0.9,
                               {}, typed=True, weights={"flytt": 1.0})
    slot = asked_slot("Hur mycket kostade flytten?")
    assert not extractive.select([top, low], slot=slot).typed


def test_hyphenated_names_count_by_their_parts() -> None:
    text = "Ja, takbyte ger ROT på arbetskostnaden. RUT har ett eget tak per år."
    chunk = Chunk(chunk_id="c", doc_id="d.txt", doc_hash="h", ordinal=0, text=text, start=0,
                  end=len(text), content_hash="x", title="Takbyte")
    lexical = LexicalIndex([chunk])
    q = "Ger takbyte ROT-avdrag?"
    ev = evidence(q, "sv", _extract(text, q, lexical), 0.9, lexical, [chunk])
    assert ev.missing_names == ()  # "ROT" mentions ROT-avdrag
    q = "Är RUT-taket separat?"
    ev = evidence(q, "sv", _extract(text, q, lexical), 0.9, lexical, [chunk])
    assert ev.unknown_names == ()  # RUT and tak are both known


def test_a_slot_filler_must_come_from_a_passage_about_the_asked_entity() -> None:
    """The slot gap: the number that answers "how many" must be about what was asked."""
    from assistant.answer.answerability import slot_gap
    from assistant.params import tuning

    no_filler = tuning().slots.no_filler_gap

    landskrona = Chunk(chunk_id="a", doc_id="a.txt", doc_hash="h", ordinal=0,
                       text="Landskrona har fler än 20 elever i gruppen.", start=0, end=44,
                       content_hash="x", title="Landskrona", municipality="Landskrona")
    trollhattan = Chunk(chunk_id="b", doc_id="b.txt", doc_hash="h", ordinal=0,
                        text="Det var ca 30 elever på Kronans skola i Trollhättan.", start=0,
                        end=52, content_hash="y", title="Trollhättan",
                        municipality="Trollhättan")

    def cand(n: int, chunk: Chunk, score: float) -> extractive.Candidate:
        return extractive.Candidate(n, 0, len(chunk.text), chunk.text, score, 0.5, score,
                                    {"elev": 1.0}, typed=True, weights={"elev": 1.0})

    top = cand(1, landskrona, 1.0)
    second = cand(2, trollhattan, 0.95)
    passages = [landskrona, trollhattan]
    q = "Hur många elever går på Kronans skola i Trollhättan?"
    assert slot_gap([top, second], passages, ["trollhättan"], ["elev"], q) == \
        pytest.approx(0.05)
    assert slot_gap([top], passages, ["trollhättan"], ["elev"], q) == no_filler
    # A question in two parts is answered part by part: one of its names is enough.
    two = "Hur många elever finns i Landskrona och hur många i Lund?"
    assert slot_gap([top], passages, ["landskron", "lund"], ["elev"], two) == 0.0
    # The filler must use an asked term the texts use ("modellklass" is in the texts).
    other = extractive.Candidate(1, 0, 10, "Modellklasserna startade i Landskrona.", 0.9, 0.5,
                                 0.9, {"modellklass": 1.0}, typed=False,
                                 weights={"modellklass": 1.0})
    assert slot_gap([other, top], passages, [], ["modellklass"], q) == no_filler


def test_a_number_in_the_question_is_a_name_the_evidence_must_mention() -> None:
    text = "Lund är värd för årets träffar i nätverket 2012."
    chunk = Chunk(chunk_id="c", doc_id="d.txt", doc_hash="h", ordinal=0, text=text, start=0,
                  end=len(text), content_hash="x", title="Nätverket", municipality="Lund")
    lexical = LexicalIndex([chunk])
    q = "Vilken kommun var värd för träffarna 2011?"
    ev = evidence(q, "sv", _extract(text, q, lexical), 0.9, lexical, [chunk])
    assert ev.missing_names == ("2011",)
    q = "Vilken kommun var värd för träffarna 2012?"
    ev = evidence(q, "sv", _extract(text, q, lexical), 0.9, lexical, [chunk])
    assert ev.missing_names == ()
