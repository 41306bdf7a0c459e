"""Abstention measures on hand-made question lists, where every value can be worked out by
hand: AUROC (ties count half), refusal at a false-refusal budget, the risk–coverage curve,
and None wherever a measure is undefined."""

from __future__ import annotations

import json
import math
from typing import Any

import pytest

from assistant.evaluation.abstention import (
    COVERAGES,
    FRR_LEVELS,
    Abstention,
    answered_correctly,
    auroc,
    item_from_entry,
    refusal_at_rate,
    risk_coverage,
    summarise,
)


def entry(qid: str, *, answerable: bool = True, confidence: float | None = None,
          best: float | None = None, refused: bool = False, outcome: str | None = None,
          hit: float | None = 1.0, lead: float | None = None,
          facts: float | None = None) -> dict[str, Any]:
    """A report question entry with just the fields the abstention reads."""
    return {
        "id": qid, "expected_sources": ["doc"] if answerable else [], "refused": refused,
        "outcome": outcome, "confidence": confidence,
        "refusal": None if best is None else {"rule": "accepted",
                                              "evidence": {"best_passage": best}},
        "metrics": {"hit@1": hit if answerable else None, "lead_source": lead,
                    "fact_coverage": facts},
    }


# --- AUROC -----------------------------------------------------------------------------------


def test_auroc_on_known_orderings() -> None:
    assert auroc([0.9, 0.8], [0.2, 0.1]) == 1.0  # every answerable above every other
    assert auroc([0.2, 0.1], [0.9, 0.8]) == 0.0  # exactly backwards
    assert auroc([0.5, 0.5], [0.5]) == 0.5  # all tied: a coin flip
    # pairs: .9>.5 1, .9>.4 1, .4<.5 0, .4=.4 ½ → 2.5 / 4
    assert auroc([0.9, 0.4], [0.5, 0.4]) == pytest.approx(0.625)


def test_auroc_is_undefined_without_both_classes() -> None:
    assert auroc([0.9, 0.8], []) is None
    assert auroc([], [0.1]) is None


# --- refusal at a false-refusal budget ---------------------------------------------------------


def test_refusal_at_rate_keeps_false_refusals_within_the_budget() -> None:
    answerable = [i / 100 for i in range(1, 101)]  # 0.01 … 1.00
    unanswerable = [0.005, 0.015, 0.025, 0.035, 0.5]
    at3 = refusal_at_rate(answerable, unanswerable, 0.03)
    assert at3.threshold == 0.04  # refuses 0.01, 0.02, 0.03: 3 of 100
    assert at3.false_refusal == pytest.approx(0.03)
    assert at3.refusal == pytest.approx(4 / 5)
    at1 = refusal_at_rate(answerable, unanswerable, 0.01)
    assert at1.threshold == 0.02 and at1.false_refusal == pytest.approx(0.01)
    assert at1.refusal == pytest.approx(2 / 5)


def test_refusal_at_rate_never_exceeds_the_budget_on_small_or_tied_sets() -> None:
    # 20 answerable: 3 % of 20 is 0.6 question, so nothing answerable may be refused
    small = refusal_at_rate([i / 20 for i in range(20)], [-1.0, 0.5], 0.03)
    assert small.false_refusal == 0.0 and small.threshold == 0.0
    assert small.refusal == 0.5  # only the score below every answerable one
    # six answerable tied at 0.1, a budget of five: refusing below the tie refuses none
    tied = refusal_at_rate([0.1] * 6 + [0.9] * 94, [0.05, 0.1], 0.05)
    assert tied.threshold == 0.1 and tied.false_refusal == 0.0 and tied.refusal == 0.5


def test_refusal_at_rate_undefined_parts() -> None:
    only_answerable = refusal_at_rate([0.2, 0.4], [], 0.05)
    assert only_answerable.refusal is None and only_answerable.false_refusal == 0.0
    nothing = refusal_at_rate([], [0.3], 0.05)
    assert (nothing.threshold, nothing.refusal, nothing.false_refusal) == (None, None, None)


# --- risk–coverage ---------------------------------------------------------------------------


def test_risk_coverage_accuracy_rises_as_the_least_confident_are_dropped() -> None:
    # ten questions, scores 1.0 … 0.1; correct ones are the three most confident and 0.5
    scored = [(s / 10, s in (10, 9, 8, 5)) for s in range(1, 11)]
    curve = risk_coverage(scored)
    assert [p.coverage for p in curve] == list(COVERAGES)
    assert [p.kept for p in curve] == [10, 9, 8, 7, 6, 5, 4, 3, 2, 1]
    assert [p.accuracy for p in curve] == pytest.approx(
        [4 / 10, 4 / 9, 4 / 8, 4 / 7, 4 / 6, 3 / 5, 3 / 4, 1.0, 1.0, 1.0])


def test_risk_coverage_averages_ties_at_the_cut_whatever_the_order() -> None:
    scored = [(1.0, True), (0.5, True), (0.5, False), (0.0, False)]
    curve = risk_coverage(scored, (1.0, 0.5, 0.25))
    # 50 %: two kept, the second is one of two tied at 0.5 (one right): 1 + ½ of 1
    assert [p.accuracy for p in curve] == pytest.approx([0.5, 0.75, 1.0])
    assert risk_coverage(list(reversed(scored)), (1.0, 0.5, 0.25)) == curve
    assert risk_coverage([]) == ()


# --- what counts as answered correctly ---------------------------------------------------------


@pytest.mark.parametrize(("fields", "correct"), [
    ({}, True),  # right document first at retrieval, nothing cited to check
    ({"lead": 1.0, "hit": 0.0}, True),  # the right source leads the citations
    ({"lead": 0.0, "hit": 0.0}, False),
    ({"facts": 0.5}, True),
    ({"facts": 0.4}, False),  # less than half the facts
    ({"refused": True}, False),
    ({"outcome": "hedged"}, False),  # a hedge claims no answer
    ({"answerable": False}, False),  # nothing to answer correctly
])
def test_answered_correctly(fields: dict[str, Any], correct: bool) -> None:
    assert answered_correctly(entry("q", **fields)) is correct


def test_item_reads_scores_from_the_report_entry() -> None:
    item = item_from_entry(entry("q", confidence=0.7, best=0.84))
    assert (item.confidence, item.reference, item.answerable) == (0.7, 0.84, True)
    bare = item_from_entry({"id": "old", "expected_sources": ["doc"], "refused": False})
    assert (bare.confidence, bare.reference, bare.correct) == (None, None, False)


# --- a run -----------------------------------------------------------------------------------


def mixed_run() -> list[dict[str, Any]]:
    """Three answerable (two right), two unanswerable; confidence separates them fully,
    the reference (best_passage) only partly."""
    return [
        entry("a1", confidence=0.9, best=0.85),
        entry("a2", confidence=0.8, best=0.80),
        entry("a3", confidence=0.6, best=0.70, hit=0.0),  # wrong document first
        entry("u1", answerable=False, confidence=0.3, best=0.82),
        entry("u2", answerable=False, confidence=0.1, best=0.60),
    ]


def test_summarise_puts_confidence_beside_the_reference() -> None:
    result = summarise(mixed_run())
    assert (result.n, result.answerable, result.unanswerable, result.correct) == (5, 3, 2, 2)
    assert result.confidence.auroc == 1.0
    # reference: .85 beats both, .80 beats .60 only, .70 beats .60 only → 4 of 6
    assert result.reference.auroc == pytest.approx(4 / 6)
    assert [r.target for r in result.confidence.refusal_at] == list(FRR_LEVELS)
    # 3 answerable: no budget refuses any of them; the lowest answerable score is the bar
    at3 = result.confidence.refusal(0.03)
    assert at3 is not None and (at3.threshold, at3.refusal, at3.false_refusal) == (0.6, 1.0, 0.0)
    ref3 = result.reference.refusal(0.03)
    assert ref3 is not None and ref3.refusal == 0.5
    # confidence keeps the two right answers first: 100 % of them at 40 % coverage
    curve = {p.coverage: p.accuracy for p in result.confidence.risk_coverage}
    assert curve[1.0] == pytest.approx(2 / 5) and curve[0.4] == 1.0
    json.dumps(result.to_dict(), allow_nan=False)


def test_without_confidence_the_column_is_null_and_the_reference_still_counts() -> None:
    """Today's answers carry no confidence: null, never 0, for every confidence measure."""
    entries = mixed_run()
    for e in entries:
        e["confidence"] = None
    result = summarise(entries).to_dict()
    confidence, reference = result["scores"]
    assert confidence["score"] == "confidence" and confidence["defined"] == 0
    assert confidence["auroc"] is None and confidence["risk_coverage"] == []
    assert all(r["refusal"] is None and r["threshold"] is None
               for r in confidence["refusal_at"])
    assert reference["score"] == "best_passage" and reference["auroc"] == pytest.approx(4 / 6)


def test_one_class_only_leaves_auroc_and_refusal_undefined() -> None:
    """An all-answerable suite (FAQ sv alone): no AUROC, no refusal rate; the curve stays."""
    result = summarise([e for e in mixed_run() if e["expected_sources"]])
    assert result.unanswerable == 0
    for score in result.scores():
        assert score.auroc is None
        assert all(r.refusal is None for r in score.refusal_at)
        assert score.risk_coverage[0].accuracy == pytest.approx(2 / 3)


def test_a_question_without_a_score_ranks_lowest() -> None:
    entries = [entry("a", confidence=0.2), entry("u", answerable=False, confidence=None)]
    assert summarise(entries).confidence.auroc == 1.0


def test_empty_run_and_round_trip() -> None:
    empty = summarise([])
    assert empty.n == 0 and empty.confidence.auroc is None and empty.reference.auroc is None
    result = summarise(mixed_run())
    again = Abstention.from_dict(json.loads(json.dumps(result.to_dict())))
    assert again == result
    assert not math.isnan(again.reference.risk_coverage[-1].accuracy)
