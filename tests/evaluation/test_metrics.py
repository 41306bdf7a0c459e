from __future__ import annotations

import json
import math

import pytest

from assistant.evaluation.dataset import EvalQuestion
from assistant.evaluation.metrics import (
    LATENCY,
    LATENCY_KEYS,
    Metric,
    QuestionOutcome,
    aggregate,
    answer_chars,
    citation_markers,
    citation_precision,
    citation_validity,
    fact_coverage,
    fact_groups,
    false_refusal,
    get_metric,
    hedged,
    hit_at,
    judge_metrics,
    lead_fact,
    lead_sentence,
    lead_source,
    mean_defined,
    metrics,
    normalise,
    percentile,
    recall_at,
    reciprocal_rank,
    refusal_correct,
    register,
    score_question,
    scored_metrics,
)

nan = math.isnan


# --- text ---


def test_normalise_casefolds_and_collapses_whitespace() -> None:
    assert normalise("  Katarina\u00a0NYMAN\n\tär  här ") == "katarina nyman är här"
    assert normalise("Stra\u00dfe") == "strasse"
    assert normalise("a\u0308") == "ä"  # decomposed umlaut composes


# --- retrieval ---


def test_hit_at() -> None:
    assert hit_at(["b"], ["a", "b", "c"], 1) == 0.0
    assert hit_at(["b"], ["a", "b", "c"], 2) == 1.0
    assert hit_at(["x"], ["a", "b"], 10) == 0.0  # k larger than list
    assert hit_at(["a"], [], 3) == 0.0
    assert nan(hit_at([], ["a"], 1))


def test_hit_at_collapses_duplicates_in_retrieved() -> None:
    assert hit_at(["b"], ["a", "a", "a", "b"], 2) == 1.0


def test_k_must_be_positive() -> None:
    with pytest.raises(ValueError):
        hit_at(["a"], ["a"], 0)
    with pytest.raises(ValueError):
        recall_at(["a"], ["a"], 0)


def test_recall_at() -> None:
    assert recall_at(["a", "b"], ["a", "c", "b"], 2) == 0.5
    assert recall_at(["a", "b"], ["a", "c", "b"], 3) == 1.0
    assert recall_at(["a", "b", "a"], ["a"], 5) == 0.5  # expected counted distinct
    assert recall_at(["a", "b"], ["a", "a", "b"], 2) == 1.0  # duplicates collapsed
    assert recall_at(["x"], ["a"], 100) == 0.0
    assert nan(recall_at([], ["a"], 3))


def test_reciprocal_rank() -> None:
    assert reciprocal_rank(["c"], ["a", "b", "c"]) == pytest.approx(1 / 3)
    assert reciprocal_rank(["c", "a"], ["a", "b", "c"]) == 1.0
    assert reciprocal_rank(["b"], ["a", "a", "b"]) == 0.5  # duplicates collapsed
    assert reciprocal_rank(["x"], ["a"]) == 0.0
    assert reciprocal_rank(["x"], []) == 0.0
    assert nan(reciprocal_rank([], ["a"]))


# --- facts ---


def test_fact_groups_and_coverage() -> None:
    answer = "Besöket leddes av  Katarina\u00a0Nyman i Trollhättan [1]."
    groups = [["katarina nyman", "nyman"], ["TROLLHÄTTAN"], ["Borås", "Alingsås"]]
    assert fact_groups(answer, groups) == ([0, 1], [2])
    assert fact_coverage(answer, groups) == pytest.approx(2 / 3)
    assert fact_coverage("", groups) == 0.0
    assert nan(fact_coverage(answer, []))


def test_fact_groups_whitespace_in_alternative_and_empty_alternative() -> None:
    assert fact_groups("Katarina\nNyman", [["katarina   nyman"]]) == ([0], [])
    assert fact_groups("vad som helst", [["", "  "]]) == ([], [0])


# --- citations ---


def test_citation_markers_forms() -> None:
    assert citation_markers("A [1]. B [2][3]. C [1, 4]. D [5,6 ; 7]") == [1, 2, 3, 1, 4, 5, 6, 7]
    assert citation_markers("Inga källor, [a] eller [].") == []
    assert citation_markers("Se [ 12 ].") == [12]


def test_citation_markers_agree_with_the_assistant() -> None:
    # The answer object's citations come from assistant.citations.markers; a range the
    # assistant accepts must count as cited here too, and a bracketed year must not.
    assert citation_markers("A [1-2]. B [3–4].") == [1, 2, 3, 4]
    assert citation_markers("Beslutet togs [2023] i Lund [1].") == [1]
    assert citation_validity("A [1-2].", {1, 2}) == 1.0


def test_citation_validity() -> None:
    assert citation_validity("A [1]. B [2].", {1, 2}) == 1.0
    assert citation_validity("A [1, 2].", [1, 2, 3]) == 1.0
    assert citation_validity("A [1]. B [3].", {1, 2}) == 0.0  # out of range
    assert citation_validity("A [0].", {1}) == 0.0
    assert citation_validity("Svar utan källor.", {1, 2}) == 0.0  # uncited answer fails
    assert nan(citation_validity("Jag vet inte.", {1}, refused=True))
    assert nan(citation_validity("Jag vet inte [1].", {1}, refused=True))


def test_citation_precision() -> None:
    assert citation_precision(["a", "b"], ["a"]) == 0.5
    assert citation_precision(["a", "a", "b"], ["a"]) == 0.5  # distinct sources
    assert citation_precision(["a"], ["a", "c"]) == 1.0
    assert citation_precision(["x"], ["a"]) == 0.0
    assert nan(citation_precision([], ["a"]))
    assert nan(citation_precision(["a"], []))


# --- the lead of an answer ---

EXTRACTIVE = ("Enligt artikeln ”Kommunalt kunskapslyft” (Söderhamn, 2012-11-20):\n"
              "Det säger Karin Falck, som leder arbetet. [1] Skolan fick 2 miljoner kronor "
              "för projektet. [1] Tomas Hartikainen är chef. [2]")


def test_lead_sentence_skips_the_source_heading_and_the_markers() -> None:
    assert lead_sentence(EXTRACTIVE) == "Det säger Karin Falck, som leder arbetet."
    assert lead_sentence("Enligt artiklarna:\nLund satsar. [1] Mer. [2]") == "Lund satsar."
    assert lead_sentence("According to the article “Lyftet”, in Swedish:\nSkolan satsar [1]. "
                         "Mer.") == "Skolan satsar."
    # a first line that is the answer itself is not a heading, even ending in a colon
    assert lead_sentence("Skolan har tre mål:\n- läsning [1]") == "Skolan har tre mål:"
    assert lead_sentence("Enligt artikeln ”X”:") == "Enligt artikeln ”X”:"  # nothing after it
    assert lead_sentence("") == ""


def test_lead_fact_asks_the_first_sentence_only() -> None:
    money, chief = (("2 miljoner",),), (("hartikainen",),)
    assert lead_fact(EXTRACTIVE, money) == 0.0  # the fact comes second: the lead points away
    assert lead_fact(EXTRACTIVE, (("falck", "karin"),)) == 1.0
    assert lead_fact(EXTRACTIVE, (*money, ("karin falck",))) == 1.0  # any group will do
    assert lead_fact(EXTRACTIVE, chief) == 0.0
    # the heading line names the article, not a fact: its words do not count
    assert lead_fact(EXTRACTIVE, (("kunskapslyft",),)) == 0.0
    assert nan(lead_fact(EXTRACTIVE, ()))  # nothing to check
    assert nan(lead_fact(EXTRACTIVE, (("falck",),), refused=True))


def test_lead_source_is_the_first_cited() -> None:
    assert lead_source(["a", "b"], ["a"]) == 1.0
    assert lead_source(["b", "a"], ["a"]) == 0.0  # right source cited, but not first
    assert nan(lead_source([], ["a"]))  # nothing cited
    assert nan(lead_source(["a"], []))  # unanswerable


def test_answer_chars_counts_the_whole_answer() -> None:
    assert answer_chars(EXTRACTIVE) == float(len(EXTRACTIVE))
    assert nan(answer_chars("Jag hittar inget om det i artiklarna.", refused=True))
    assert nan(answer_chars(""))  # a failed question has no answer to measure


def test_hedged_needs_an_outcome() -> None:
    assert hedged("hedged") == 1.0
    assert hedged("answer") == 0.0 and hedged("refused") == 0.0
    assert nan(hedged(None))


def test_lead_metrics_in_the_registry_leave_refusals_and_hedges_out() -> None:
    question = _q("q", ("a",), (("falck",),))
    answered = _outcome(question, answer=EXTRACTIVE, cited=("a", "b"), numbers=(1, 2))
    scores = score_question(answered, 5)
    assert (scores["lead_fact"], scores["lead_source"]) == (1.0, 1.0)
    assert scores["answer_chars"] == len(EXTRACTIVE) and nan(scores["hedge_rate"])
    hedge = QuestionOutcome(**{**answered.__dict__, "refused": True, "answer_outcome": "hedged"})
    scores = score_question(hedge, 5)
    assert scores["hedge_rate"] == 1.0
    assert all(nan(scores[key]) for key in ("lead_fact", "lead_source", "answer_chars"))


# --- refusal ---


def test_refusal_metrics() -> None:
    assert refusal_correct(refused=True, answerable=False) == 1.0
    assert refusal_correct(refused=False, answerable=False) == 0.0
    assert nan(refusal_correct(refused=True, answerable=True))
    assert false_refusal(refused=True, answerable=True) == 1.0
    assert false_refusal(refused=False, answerable=True) == 0.0
    assert nan(false_refusal(refused=False, answerable=False))


# --- statistics ---


def test_percentile_linear_interpolation() -> None:
    assert percentile([1.0, 2.0, 3.0, 4.0], 50) == 2.5
    assert percentile([10.0, 20.0], 95) == pytest.approx(19.5)
    assert percentile([4.0, 1.0, 3.0, 2.0], 0) == 1.0
    assert percentile([4.0, 1.0, 3.0, 2.0], 100) == 4.0
    assert percentile([7.0], 95) == 7.0
    assert percentile([1.0, float("nan"), 3.0], 50) == 2.0
    assert nan(percentile([], 50))
    assert nan(percentile([float("nan")], 50))
    with pytest.raises(ValueError):
        percentile([1.0], 101)


def test_mean_defined() -> None:
    assert mean_defined([1.0, float("nan"), 0.0]) == 0.5
    assert nan(mean_defined([float("nan")]))
    assert nan(mean_defined([]))
    assert mean_defined(iter([0.25, 0.75])) == 0.5


# --- per question ---


# The report keys are part of the report format: a renamed or lost one breaks readers.
METRIC_KEYS = ("hit@1", "hit@k", "recall@k", "mrr", "fact_coverage", "citation_precision",
               "citation_validity", "refusal_accuracy", "false_refusal_rate", "lead_fact",
               "lead_source", "answer_chars", "hedge_rate")


def test_the_registry_holds_the_report_keys_in_order() -> None:
    assert [m.key for m in scored_metrics()] == list(METRIC_KEYS)
    assert [m.key for m in judge_metrics()] == [
        "faithfulness", "answer_relevance", "answer_correctness"]
    assert [m.key for m in metrics()] == [*METRIC_KEYS, *(m.key for m in judge_metrics())]
    # direction and answer-only metrics, as compare and the harness read them
    assert [m.key for m in metrics() if m.lower_is_better] == [
        "false_refusal_rate", "answer_chars", "hedge_rate"]
    assert [m.key for m in scored_metrics() if m.needs_answer] == [
        "citation_precision", "citation_validity", "refusal_accuracy", "false_refusal_rate",
        "lead_fact", "lead_source", "answer_chars", "hedge_rate"]
    assert get_metric("total_ms") is LATENCY and LATENCY.lower_is_better


def test_a_metric_key_is_registered_once() -> None:
    with pytest.raises(ValueError, match="finns redan"):
        register(Metric("hit@1", "again", lambda _o, _k: 1.0))
    with pytest.raises(ValueError, match="score-funktion"):
        register(Metric("nothing", "nothing"))


def _q(
    qid: str,
    sources: tuple[str, ...],
    groups: tuple[tuple[str, ...], ...] = (),
    kind: str = "unspecified",
) -> EvalQuestion:
    return EvalQuestion(
        id=qid, question="F?", expected_sources=sources, must_mention=groups, kind=kind
    )


def _outcome(
    question: EvalQuestion,
    *,
    retrieved: tuple[str, ...] = (),
    answer: str = "",
    refused: bool = False,
    cited: tuple[str, ...] = (),
    numbers: tuple[int, ...] = (),
    retrieve_ms: float = 10.0,
    total_ms: float = 100.0,
) -> QuestionOutcome:
    return QuestionOutcome(
        question=question,
        retrieved_sources=retrieved,
        answer=answer,
        refused=refused,
        cited_sources=cited,
        source_numbers=numbers,
        retrieve_ms=retrieve_ms,
        total_ms=total_ms,
    )


def test_score_answerable_question() -> None:
    outcome = _outcome(
        _q("q1", ("a", "b"), (("nyman",), ("borås",))),
        retrieved=("c", "a", "d", "b"),
        answer="Katarina Nyman [1] och [3].",
        cited=("a", "c"),
        numbers=(1, 2),
    )
    scores = score_question(outcome, k=3)
    assert scores.as_dict() == {
        "hit@1": 0.0,
        "hit@k": 1.0,
        "recall@k": 0.5,
        "mrr": 0.5,
        "fact_coverage": 0.5,
        "citation_precision": 0.5,
        "citation_validity": 0.0,
        "refusal_accuracy": None,
        "false_refusal_rate": 0.0,
        "lead_fact": 1.0,  # "Katarina Nyman" is the first (and only) sentence
        "lead_source": 1.0,  # [1] → a, expected
        "answer_chars": 27.0,
        "hedge_rate": None,  # the answer object reports no outcome
    }


def test_score_refused_unanswerable_question() -> None:
    outcome = _outcome(
        _q("q2", ()), retrieved=("a",), answer="Det vet jag inte.", refused=True, numbers=(1,)
    )
    scores = score_question(outcome, k=5)
    assert scores.as_dict() == {
        "hit@1": None,
        "hit@k": None,
        "recall@k": None,
        "mrr": None,
        "fact_coverage": None,
        "citation_precision": None,
        "citation_validity": None,
        "refusal_accuracy": 1.0,
        "false_refusal_rate": None,
        "lead_fact": None,
        "lead_source": None,
        "answer_chars": None,
        "hedge_rate": None,
    }


def test_score_refused_answerable_question_loses_facts_and_counts_false_refusal() -> None:
    outcome = _outcome(
        _q("q3", ("a",), (("nyman",),)),
        retrieved=("a",),
        answer="Det framgår inte av källorna [1].",
        refused=True,
        cited=("a",),
        numbers=(1,),
    )
    scores = score_question(outcome, k=5)
    assert scores["fact_coverage"] == 0.0
    assert scores["false_refusal_rate"] == 1.0
    assert nan(scores["citation_precision"])
    assert nan(scores["citation_validity"])
    assert nan(scores["refusal_accuracy"])


# --- aggregate ---


def test_aggregate_with_mixed_kinds() -> None:
    outcomes = [
        _outcome(  # factual, perfect
            _q("f1", ("a",), (("x",),), kind="factual"),
            retrieved=("a", "b"),
            answer="x [1]",
            cited=("a",),
            numbers=(1,),
            retrieve_ms=10.0,
            total_ms=100.0,
        ),
        _outcome(  # factual, retrieval miss, falsely refused
            _q("f2", ("c",), (("y",),), kind="factual"),
            retrieved=("a", "b"),
            answer="Jag vet inte.",
            refused=True,
            retrieve_ms=30.0,
            total_ms=300.0,
        ),
        _outcome(  # unanswerable, wrongly answered without citations
            _q("u1", (), kind="unanswerable"),
            retrieved=("a",),
            answer="Påhittat svar.",
            retrieve_ms=20.0,
            total_ms=200.0,
        ),
    ]
    scores = [score_question(outcome, k=2) for outcome in outcomes]
    result = aggregate(outcomes, scores)

    assert result["n"] == 3
    assert result["hit@1"] == 0.5
    assert result["hit@k"] == 0.5
    assert result["recall@k"] == 0.5
    assert result["mrr"] == 0.5
    assert result["fact_coverage"] == 0.5
    assert result["citation_precision"] == 1.0  # only f1 defines it
    assert result["citation_validity"] == 0.5  # f1 valid, u1 uncited; f2 refused
    assert result["refusal_accuracy"] == 0.0
    assert result["false_refusal_rate"] == 0.5
    assert result["latency_ms"] == {
        "retrieve_p50": 20.0,
        "retrieve_p95": pytest.approx(29.0),
        "total_p50": 200.0,
        "total_p95": pytest.approx(290.0),
    }

    assert list(result["by_kind"]) == ["factual", "unanswerable"]
    factual = result["by_kind"]["factual"]
    unanswerable = result["by_kind"]["unanswerable"]
    assert factual["n"] == 2
    assert unanswerable["n"] == 1
    assert factual["refusal_accuracy"] is None
    assert factual["false_refusal_rate"] == 0.5
    assert factual["latency_ms"]["retrieve_p50"] == 20.0
    for key in ("hit@1", "hit@k", "recall@k", "mrr", "fact_coverage", "citation_precision"):
        assert unanswerable[key] is None
    assert unanswerable["citation_validity"] == 0.0
    assert unanswerable["refusal_accuracy"] == 0.0
    assert unanswerable["false_refusal_rate"] is None
    assert "by_kind" not in factual

    expected_keys = {*METRIC_KEYS, "latency_ms", "n"}
    assert set(result) == expected_keys | {"by_kind"}
    assert set(factual) == expected_keys
    assert set(result["latency_ms"]) == set(LATENCY_KEYS)
    json.dumps(result, allow_nan=False)  # None, never NaN, so strict JSON works


def test_aggregate_empty() -> None:
    result = aggregate([], [])
    assert result["n"] == 0
    assert result["by_kind"] == {}
    assert all(result[key] is None for key in METRIC_KEYS)
    assert all(value is None for value in result["latency_ms"].values())


def test_aggregate_length_mismatch() -> None:
    outcome = _outcome(_q("q", ("a",)))
    with pytest.raises(ValueError):
        aggregate([outcome], [])
