"""Evaluation metrics: one pure function per metric, NaN when a metric does not apply.

NaN rather than 0 keeps "not applicable" apart from "failed": a retrieval score
for a question that has no expected source, or a citation score for a refusal,
would otherwise drag the averages down for reasons that have nothing to do with
quality. Aggregates average only the defined values and report ``None`` (JSON
``null``) when no question defines a metric.
"""

from __future__ import annotations

import math
import unicodedata
from collections.abc import Collection, Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from assistant.citations import markers
from assistant.evaluation.dataset import EvalQuestion

__all__ = [
    "LATENCY_KEYS",
    "METRIC_KEYS",
    "QuestionOutcome",
    "QuestionScores",
    "aggregate",
    "citation_markers",
    "citation_precision",
    "citation_validity",
    "fact_coverage",
    "fact_groups",
    "false_refusal",
    "hit_at",
    "mean_defined",
    "normalise",
    "percentile",
    "recall_at",
    "reciprocal_rank",
    "refusal_correct",
    "score_question",
]

NAN = float("nan")

# QuestionScores attribute -> report key. Report keys are part of the report format.
METRIC_KEYS: dict[str, str] = {
    "hit_at_1": "hit@1",
    "hit_at_k": "hit@k",
    "recall_at_k": "recall@k",
    "rr": "mrr",
    "fact_coverage": "fact_coverage",
    "citation_precision": "citation_precision",
    "citation_validity": "citation_validity",
    "refusal_correct": "refusal_accuracy",
    "false_refusal": "false_refusal_rate",
}
LATENCY_KEYS = ("retrieve_p50", "retrieve_p95", "total_p50", "total_p95")


# --- text ------------------------------------------------------------------------------------


def normalise(text: str) -> str:
    """Make must_mention matching robust to case, NBSP and line breaks.

    NFKC also folds decomposed å/ä/ö (common in text pasted from PDFs) into the
    composed form the eval file is written in. ``str.split`` treats NBSP and the
    other Unicode spaces as whitespace.
    """
    return " ".join(unicodedata.normalize("NFKC", text).casefold().split())


# --- retrieval -------------------------------------------------------------------------------


def _distinct(items: Iterable[str]) -> list[str]:
    """Sources are counted once: several chunks of one article are one retrieved source."""
    return list(dict.fromkeys(items))


def _check_k(k: int) -> None:
    if k < 1:
        raise ValueError(f"k must be at least 1, got {k}")


def hit_at(expected: Sequence[str], retrieved: Sequence[str], k: int) -> float:
    """1.0 if any expected source is among the first ``k`` distinct retrieved sources.

    ``retrieved`` should already be distinct, but duplicates are collapsed here
    too so a repeated source cannot push others out of the top k. NaN when
    nothing is expected (an unanswerable question has no right source).
    """
    _check_k(k)
    wanted = set(expected)
    if not wanted:
        return NAN
    return 1.0 if wanted.intersection(_distinct(retrieved)[:k]) else 0.0


def recall_at(expected: Sequence[str], retrieved: Sequence[str], k: int) -> float:
    """Fraction of the distinct expected sources found in the first ``k`` distinct retrieved."""
    _check_k(k)
    wanted = set(expected)
    if not wanted:
        return NAN
    return len(wanted.intersection(_distinct(retrieved)[:k])) / len(wanted)


def reciprocal_rank(expected: Sequence[str], retrieved: Sequence[str]) -> float:
    """1/rank of the first expected source among distinct retrieved; 0.0 if none was found."""
    wanted = set(expected)
    if not wanted:
        return NAN
    for rank, source in enumerate(_distinct(retrieved), start=1):
        if source in wanted:
            return 1.0 / rank
    return 0.0


# --- answer content --------------------------------------------------------------------------


def fact_groups(answer: str, groups: Sequence[Sequence[str]]) -> tuple[list[int], list[int]]:
    """Split group indices into met and missing, so the report can say which fact was lost.

    A group is met when the normalised answer contains any of its normalised
    alternatives as a substring. Empty alternatives never match: they would
    otherwise be contained in every answer.
    """
    text = normalise(answer)
    met: list[int] = []
    missing: list[int] = []
    for index, group in enumerate(groups):
        alternatives = (normalise(alternative) for alternative in group)
        if any(alternative and alternative in text for alternative in alternatives):
            met.append(index)
        else:
            missing.append(index)
    return met, missing


def fact_coverage(answer: str, groups: Sequence[Sequence[str]]) -> float:
    """Met groups / groups; NaN when the question names no facts to check."""
    if not groups:
        return NAN
    met, _ = fact_groups(answer, groups)
    return len(met) / len(groups)


# --- citations -------------------------------------------------------------------------------


def citation_markers(answer: str) -> list[int]:
    """Every cited number in order of appearance, duplicates kept.

    The assistant's own parser (:func:`assistant.citations.markers`), so the metrics count
    exactly the citations the answer object reports: ``[1][2]``, ``[1, 2]``, ranges
    ``[1-3]``; a year in brackets (``[2023]``) is not a citation.
    """
    return markers(answer)


def citation_validity(
    answer: str, source_numbers: Collection[int], *, refused: bool = False
) -> float:
    """1.0 if every ``[n]`` in the answer is one of ``source_numbers``, else 0.0.

    - Refused answers: NaN. A refusal is not supposed to cite, so validity says
      nothing about it.
    - A non-refused answer with no markers at all: 0.0. The assistant must back
      every answer with sources; an uncited answer is a sourcing failure, not an
      undefined case, and scoring it NaN would hide it from the average.
    """
    if refused:
        return NAN
    cited = citation_markers(answer)
    if not cited:
        return 0.0
    valid = set(source_numbers)
    return 1.0 if all(n in valid for n in cited) else 0.0


def citation_precision(cited_sources: Sequence[str], expected: Sequence[str]) -> float:
    """Share of the distinct cited sources that are expected ones.

    NaN when nothing is cited (validity already penalises a missing citation)
    or when nothing is expected (an unanswerable question has no right source).
    """
    cited = _distinct(cited_sources)
    wanted = set(expected)
    if not cited or not wanted:
        return NAN
    return sum(1 for source in cited if source in wanted) / len(cited)


# --- refusal ---------------------------------------------------------------------------------


def refusal_correct(refused: bool, answerable: bool) -> float:
    """Refusal accuracy is only about unanswerable questions, hence NaN for answerable ones."""
    if answerable:
        return NAN
    return 1.0 if refused else 0.0


def false_refusal(refused: bool, answerable: bool) -> float:
    """False-refusal rate is only about answerable questions, hence NaN for unanswerable ones."""
    if not answerable:
        return NAN
    return 1.0 if refused else 0.0


# --- statistics ------------------------------------------------------------------------------


def percentile(values: Sequence[float], q: float) -> float:
    """Linear-interpolated percentile, ``q`` in [0, 100] (same as numpy's default).

    NaN values (e.g. a timing that could not be measured) are ignored; NaN if
    nothing is left.
    """
    if not 0.0 <= q <= 100.0:
        raise ValueError(f"percentile q must be within [0, 100], got {q}")
    data = sorted(value for value in values if not math.isnan(value))
    if not data:
        return NAN
    position = (len(data) - 1) * q / 100.0
    lower = math.floor(position)
    upper = min(lower + 1, len(data) - 1)
    fraction = position - lower
    return data[lower] + (data[upper] - data[lower]) * fraction


def mean_defined(values: Iterable[float]) -> float:
    """Mean over the defined (non-NaN) values; NaN if there are none."""
    defined = [value for value in values if not math.isnan(value)]
    if not defined:
        return NAN
    return math.fsum(defined) / len(defined)


def _none_if_nan(value: float) -> float | None:
    """JSON has no NaN; ``None`` serialises to ``null``."""
    return None if math.isnan(value) else value


# --- per question ----------------------------------------------------------------------------


@dataclass
class QuestionScores:
    """The per-question metrics; NaN marks a metric that does not apply to the question."""

    hit_at_1: float
    hit_at_k: float
    recall_at_k: float
    rr: float
    fact_coverage: float
    citation_precision: float
    citation_validity: float
    refusal_correct: float
    false_refusal: float

    def as_dict(self) -> dict[str, float | None]:
        """Report keys with ``None`` for NaN, so the report is valid JSON."""
        return {
            key: _none_if_nan(getattr(self, attribute)) for attribute, key in METRIC_KEYS.items()
        }


@dataclass(frozen=True)
class QuestionOutcome:
    """What the harness observed for one question, independent of how it got it.

    ``cited_sources`` are the source ids that the answer's resolvable ``[n]``
    markers point to (distinct, in order); ``source_numbers`` are the ``n``
    values present in the answer object's ``sources``.
    """

    question: EvalQuestion
    retrieved_sources: tuple[str, ...]
    answer: str
    refused: bool
    cited_sources: tuple[str, ...]
    source_numbers: tuple[int, ...]
    retrieve_ms: float
    total_ms: float


def score_question(outcome: QuestionOutcome, k: int) -> QuestionScores:
    """Compute every metric for one question.

    Fact coverage is scored on refusals too: refusing an answerable question
    loses its facts and should count as such.
    """
    question = outcome.question
    expected = question.expected_sources
    retrieved = outcome.retrieved_sources
    refused = outcome.refused
    return QuestionScores(
        hit_at_1=hit_at(expected, retrieved, 1),
        hit_at_k=hit_at(expected, retrieved, k),
        recall_at_k=recall_at(expected, retrieved, k),
        rr=reciprocal_rank(expected, retrieved),
        fact_coverage=fact_coverage(outcome.answer, question.must_mention),
        citation_precision=(
            NAN if refused else citation_precision(outcome.cited_sources, expected)
        ),
        citation_validity=citation_validity(
            outcome.answer, outcome.source_numbers, refused=refused
        ),
        refusal_correct=refusal_correct(refused, question.answerable),
        false_refusal=false_refusal(refused, question.answerable),
    )


# --- aggregation -----------------------------------------------------------------------------


def _summarise(
    outcomes: Sequence[QuestionOutcome], scores: Sequence[QuestionScores]
) -> dict[str, Any]:
    summary: dict[str, Any] = {
        key: _none_if_nan(mean_defined(getattr(score, attribute) for score in scores))
        for attribute, key in METRIC_KEYS.items()
    }
    retrieve = [outcome.retrieve_ms for outcome in outcomes]
    total = [outcome.total_ms for outcome in outcomes]
    summary["latency_ms"] = {
        "retrieve_p50": _none_if_nan(percentile(retrieve, 50)),
        "retrieve_p95": _none_if_nan(percentile(retrieve, 95)),
        "total_p50": _none_if_nan(percentile(total, 50)),
        "total_p95": _none_if_nan(percentile(total, 95)),
    }
    summary["n"] = len(outcomes)
    return summary


def aggregate(
    outcomes: Sequence[QuestionOutcome], scores: Sequence[QuestionScores]
) -> dict[str, Any]:
    """Overall and per-``kind`` summary in the report's ``aggregate`` shape.

    Each metric is the mean over the questions where it is defined (``mrr`` is
    the mean reciprocal rank) and ``None`` where no question defines it, so a
    missing measurement is never mistaken for a score of 0. ``by_kind`` entries
    have the same keys except ``by_kind`` itself; kinds are sorted so reports
    diff cleanly.
    """
    if len(outcomes) != len(scores):
        raise ValueError(f"outcomes and scores differ in length ({len(outcomes)} != {len(scores)})")
    result = _summarise(outcomes, scores)
    grouped: dict[str, tuple[list[QuestionOutcome], list[QuestionScores]]] = {}
    for outcome, score in zip(outcomes, scores, strict=True):
        kind_outcomes, kind_scores = grouped.setdefault(outcome.question.kind, ([], []))
        kind_outcomes.append(outcome)
        kind_scores.append(score)
    result["by_kind"] = {kind: _summarise(*grouped[kind]) for kind in sorted(grouped)}
    return result
