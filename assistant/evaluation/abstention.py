"""Abstention measured the way the field measures it, per run: how well a score tells
answerable from unanswerable questions, independent of where the threshold sits.

Refusal accuracy and false-refusal rate describe one operating point; they cannot say
whether a better threshold exists, nor compare two scores fairly. So for each score the
report gives:

- **AUROC** between answerable (positive) and unanswerable questions: the chance that
  an answerable question scores higher than an unanswerable one, ties counting half
  (the Mann–Whitney statistic). ``None`` when either class is empty (a suite without
  unanswerable questions, e.g. FAQ sv alone).
- **Refusal at 1 / 3 / 5 % false refusals**: the threshold is the highest one that
  refuses at most that share of the answerable questions (the ⌊rate·n⌋-th lowest
  answerable score; refuse when a score is below it), and the value is the share of
  unanswerable questions it refuses. The false-refusal rate it actually reaches is
  reported beside it (ties can keep it below the budget).
- **Risk–coverage**: questions sorted by score, most confident first; at coverage
  100, 90, …, 10 % the share of the kept questions that are *answered correctly*:
  answerable, not refused (a hedge counts as refused), the right source leads
  (``lead_source`` = 1, or ``hit@1`` = 1 when the answer cites nothing usable) and,
  where the question lists facts, ``fact_coverage`` ≥ 0.5. Questions tied at the cut
  count by their average, so the curve does not depend on question order.

Two scores, side by side in the same run: ``confidence`` (the answer object's
calibrated probability, issue 19; ``None`` everywhere for answerers without one) and
the reference ``best_passage`` (the top-1 passage cosine from the refusal evidence),
which any new score has to beat. A question without a score (nothing retrieved) ranks
lowest, as if refused first. Values undefined for a run are ``None`` (JSON ``null``),
never 0, as for every metric (ragas style).

Inputs are report question entries (``QuestionResult.to_dict()`` or a loaded report,
compact baselines included), so the harness and ``compare`` compute the same numbers.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

__all__ = [
    "COVERAGES",
    "FRR_LEVELS",
    "REFERENCE",
    "SCORES",
    "Abstention",
    "AbstentionItem",
    "CoveragePoint",
    "RefusalAtRate",
    "ScoreSummary",
    "answered_correctly",
    "auroc",
    "item_from_entry",
    "refusal_at_rate",
    "risk_coverage",
    "summarise",
    "summarise_score",
]

FRR_LEVELS = (0.01, 0.03, 0.05)
COVERAGES = tuple(round(1.0 - step / 10, 1) for step in range(10))  # 1.0, 0.9, … 0.1
CONFIDENCE = "confidence"
REFERENCE = "best_passage"  # question["refusal"]["evidence"]["best_passage"]
SCORES = (CONFIDENCE, REFERENCE)
FACT_BAR = 0.5
_LOWEST = -math.inf  # a question without a score is the first to be refused


# --- one question ----------------------------------------------------------------------------


@dataclass(frozen=True)
class AbstentionItem:
    """One question as the abstention measures see it."""

    answerable: bool
    correct: bool  # answerable and answered correctly (see answered_correctly)
    confidence: float | None
    reference: float | None

    def score(self, name: str) -> float | None:
        return self.confidence if name == CONFIDENCE else self.reference


def _number(value: Any) -> float | None:
    if isinstance(value, bool) or not isinstance(value, int | float) or math.isnan(value):
        return None
    return float(value)


def answered_correctly(entry: Mapping[str, Any]) -> bool:
    """Answerable, not refused (nor hedged), the right source leads (``lead_source`` or,
    failing that, ``hit@1``) and at least half the listed facts are there."""
    if not entry.get("expected_sources") or _refused(entry):
        return False
    scores = entry.get("metrics") or {}
    if not (scores.get("lead_source") == 1 or scores.get("hit@1") == 1):
        return False
    facts = _number(scores.get("fact_coverage"))
    return facts is None or facts >= FACT_BAR


def _refused(entry: Mapping[str, Any]) -> bool:
    return bool(entry.get("refused")) or entry.get("outcome") == "hedged"


def item_from_entry(entry: Mapping[str, Any]) -> AbstentionItem:
    """A report question entry → its abstention item (any report version)."""
    evidence = (entry.get("refusal") or {}).get("evidence")
    reference = evidence.get(REFERENCE) if isinstance(evidence, Mapping) else None
    return AbstentionItem(answerable=bool(entry.get("expected_sources")),
                          correct=answered_correctly(entry),
                          confidence=_number(entry.get(CONFIDENCE)),
                          reference=_number(reference))


# --- measures --------------------------------------------------------------------------------


def auroc(positives: Sequence[float], negatives: Sequence[float]) -> float | None:
    """P(positive > negative) + ½ P(tie) over all pairs; None when a class is empty."""
    if not positives or not negatives:
        return None
    wins = 0.0
    for p in positives:
        for n in negatives:
            wins += 1.0 if p > n else 0.5 if p == n else 0.0
    return wins / (len(positives) * len(negatives))


@dataclass(frozen=True)
class RefusalAtRate:
    """Refusing below ``threshold`` keeps false refusals within ``target``."""

    target: float
    threshold: float | None
    refusal: float | None  # share of unanswerable questions refused
    false_refusal: float | None  # share of answerable questions refused (≤ target)

    def to_dict(self) -> dict[str, Any]:
        return {"target": self.target, "threshold": self.threshold, "refusal": self.refusal,
                "false_refusal": self.false_refusal}


def refusal_at_rate(answerable: Sequence[float], unanswerable: Sequence[float],
                    target: float) -> RefusalAtRate:
    """The highest threshold that refuses at most ``target`` of the answerable scores,
    and what it does to the unanswerable ones (None without answerable questions)."""
    if not answerable:
        return RefusalAtRate(target, None, None, None)
    ordered = sorted(answerable)
    threshold = ordered[min(math.floor(target * len(ordered) + 1e-9), len(ordered) - 1)]
    refused = sum(score < threshold for score in unanswerable)
    false = sum(score < threshold for score in ordered)
    return RefusalAtRate(target, _finite(threshold),
                         refused / len(unanswerable) if unanswerable else None,
                         false / len(ordered))


def _finite(value: float) -> float | None:
    return value if math.isfinite(value) else None


@dataclass(frozen=True)
class CoveragePoint:
    """The most confident ``kept`` questions (``coverage`` of all) and how many of them
    were answered correctly."""

    coverage: float
    kept: int
    accuracy: float

    def to_dict(self) -> dict[str, Any]:
        return {"coverage": self.coverage, "kept": self.kept, "accuracy": self.accuracy}


def risk_coverage(scored: Sequence[tuple[float, bool]],
                  coverages: Iterable[float] = COVERAGES) -> tuple[CoveragePoint, ...]:
    """Accuracy of the kept questions as coverage falls; ``scored`` is (score, correct).

    The questions tied at the cut count by their average correctness: with the ties
    broken by file order, reordering the file could move the curve.
    """
    if not scored:
        return ()
    ordered = sorted(scored, key=lambda pair: -pair[0])
    points: list[CoveragePoint] = []
    for coverage in coverages:
        kept = max(1, math.floor(coverage * len(ordered) + 0.5))
        cut = ordered[kept - 1][0]
        above = [correct for score, correct in ordered if score > cut]
        tied = [correct for score, correct in ordered if score == cut]
        expected = sum(above) + (kept - len(above)) * sum(tied) / len(tied)
        points.append(CoveragePoint(coverage, kept, expected / kept))
    return tuple(points)


# --- one score, one run ----------------------------------------------------------------------


@dataclass(frozen=True)
class ScoreSummary:
    """Every abstention measure for one score (``confidence`` or ``best_passage``)."""

    score: str
    defined: int  # questions that have this score
    auroc: float | None
    refusal_at: tuple[RefusalAtRate, ...]
    risk_coverage: tuple[CoveragePoint, ...]

    def to_dict(self) -> dict[str, Any]:
        return {"score": self.score, "defined": self.defined, "auroc": self.auroc,
                "refusal_at": [r.to_dict() for r in self.refusal_at],
                "risk_coverage": [p.to_dict() for p in self.risk_coverage]}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> ScoreSummary:
        return cls(str(data.get("score")), int(data.get("defined") or 0), data.get("auroc"),
                   tuple(RefusalAtRate(**r) for r in data.get("refusal_at") or []),
                   tuple(CoveragePoint(**p) for p in data.get("risk_coverage") or []))

    def refusal(self, target: float) -> RefusalAtRate | None:
        return next((r for r in self.refusal_at if math.isclose(r.target, target)), None)


def summarise_score(items: Sequence[AbstentionItem], name: str) -> ScoreSummary:
    """The measures for one score; all undefined when no question has it (an answerer
    without ``confidence``, a retrieval-only run without refusal evidence)."""
    defined = sum(item.score(name) is not None for item in items)
    if not defined:
        return ScoreSummary(name, 0, None, tuple(RefusalAtRate(t, None, None, None)
                                                 for t in FRR_LEVELS), ())
    values = [(_LOWEST if (v := item.score(name)) is None else v, item) for item in items]
    positives = [v for v, item in values if item.answerable]
    negatives = [v for v, item in values if not item.answerable]
    return ScoreSummary(name, defined, auroc(positives, negatives),
                        tuple(refusal_at_rate(positives, negatives, t) for t in FRR_LEVELS),
                        risk_coverage([(v, item.correct) for v, item in values]))


@dataclass(frozen=True)
class Abstention:
    """A run's abstention measures: ``aggregate["abstention"]`` in the report."""

    n: int
    answerable: int
    unanswerable: int
    correct: int  # answerable questions answered correctly
    confidence: ScoreSummary
    reference: ScoreSummary

    def scores(self) -> tuple[ScoreSummary, ScoreSummary]:
        return (self.confidence, self.reference)

    def to_dict(self) -> dict[str, Any]:
        return {"n": self.n, "answerable": self.answerable,
                "unanswerable": self.unanswerable, "correct": self.correct,
                "reference": REFERENCE, "scores": [s.to_dict() for s in self.scores()]}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Abstention:
        by_name = {s.get("score"): ScoreSummary.from_dict(s) for s in data.get("scores") or []}
        empty = summarise_score((), CONFIDENCE)
        return cls(int(data.get("n") or 0), int(data.get("answerable") or 0),
                   int(data.get("unanswerable") or 0), int(data.get("correct") or 0),
                   by_name.get(CONFIDENCE, empty),
                   by_name.get(REFERENCE, summarise_score((), REFERENCE)))


def summarise(entries: Iterable[Mapping[str, Any]]) -> Abstention:
    """The abstention measures of one run from its report question entries."""
    items = [item_from_entry(entry) for entry in entries]
    answerable = sum(item.answerable for item in items)
    return Abstention(len(items), answerable, len(items) - answerable,
                      sum(item.correct for item in items),
                      summarise_score(items, CONFIDENCE), summarise_score(items, REFERENCE))
