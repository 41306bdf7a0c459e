"""Evaluation metrics: one pure function per metric, NaN when a metric does not apply,
and the registry of :class:`Metric` records everything else reads.

NaN rather than 0 keeps "not applicable" apart from "failed": a retrieval score
for a question that has no expected source, or a citation score for a refusal,
would otherwise drag the averages down for reasons that have nothing to do with
quality. Aggregates average only the defined values and report ``None`` (JSON
``null``) when no question defines a metric.

A metric is declared once, as a :class:`Metric` in the registry at the bottom of this
module: its report key, direction, whether it needs a generated answer, its judge
prompt (for LLM-judge metrics), whether it is charted and how it is formatted. The
harness (scoring, retrieval-only nulls), the terminal and Markdown reports, the HTML
pages (the catalog is embedded in their data), ``compare`` and the ``--min``/``--max``
gates all read the registry, so adding a metric is one :func:`register` call here
(see ``docs/recipes/add-a-metric.md``).
"""

from __future__ import annotations

import math
import unicodedata
from collections.abc import Callable, Collection, Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

from assistant.citations import markers, strip_markers
from assistant.evaluation.dataset import EvalQuestion
from assistant.text import sentence_spans

__all__ = [
    "LATENCY",
    "LATENCY_KEYS",
    "JudgePrompt",
    "Metric",
    "QuestionOutcome",
    "QuestionScores",
    "aggregate",
    "answer_chars",
    "citation_markers",
    "citation_precision",
    "citation_validity",
    "fact_coverage",
    "fact_groups",
    "false_refusal",
    "gate_metrics",
    "get_metric",
    "hedged",
    "judge_metrics",
    "hit_at",
    "lead_fact",
    "lead_sentence",
    "lead_source",
    "mean_defined",
    "metric_catalog",
    "metrics",
    "normalise",
    "percentile",
    "recall_at",
    "reciprocal_rank",
    "refusal_correct",
    "register",
    "score_question",
    "scored_metrics",
    "unregister",
]

NAN = float("nan")

# The aggregate's latency percentiles (``aggregate["latency_ms"]``), gated with --max.
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


# --- the lead of an answer ------------------------------------------------------------------

# The line an extractive answer opens with, naming its source(s) before the quotes
# (assistant.answer.extractive.compose): "Enligt artikeln ”…” (Lund, 2012-10-10):",
# "Enligt artiklarna:", "According to the article “…”, in Swedish:". It is no sentence
# of the answer, so the lead metrics look past it.
HEADING_PREFIXES = ("enligt artikeln", "enligt artiklarna", "according to the article")


def lead_sentence(answer: str) -> str:
    """The answer's first sentence, after a source heading line if it opens with one.

    Citation markers are removed first: an extractive answer puts ``[n]`` after each
    quote (``"… förvaltningen. [1] Lyftet …"``), where it would hide the sentence end.
    Sentences are split as everywhere else (:func:`assistant.text.sentence_spans`).
    """
    text = strip_markers(answer).strip()
    first, newline, rest = text.partition("\n")
    heading = first.strip()
    if newline and heading.endswith(":") and heading.casefold().startswith(HEADING_PREFIXES):
        text = rest.strip()
    spans = sentence_spans(text)
    if not spans:
        return ""
    start, end = spans[0]
    return text[start:end]


def lead_fact(answer: str, groups: Sequence[Sequence[str]], *, refused: bool = False) -> float:
    """1.0 when the first sentence already states a required fact (any ``must_mention``
    group met there), else 0.0: an answer that opens with the answer, not with a
    sentence pointing elsewhere. NaN without facts to check, and for a refusal (fact
    coverage already counts the facts a refusal loses)."""
    if refused or not groups:
        return NAN
    met, _ = fact_groups(lead_sentence(answer), groups)
    return 1.0 if met else 0.0


def answer_chars(answer: str, *, refused: bool = False) -> float:
    """The answer's length in characters (lower is better at equal content); NaN for a
    refusal and for no answer at all (a failed question), which would read as short."""
    if refused or not answer:
        return NAN
    return float(len(answer))


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


def lead_source(cited_sources: Sequence[str], expected: Sequence[str]) -> float:
    """1.0 when the first cited source is an expected one, else 0.0; NaN when nothing is
    cited or nothing is expected (as for citation precision)."""
    wanted = set(expected)
    if not cited_sources or not wanted:
        return NAN
    return 1.0 if cited_sources[0] in wanted else 0.0


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


def hedged(outcome: str | None) -> float:
    """1.0 for a hedged answer ("Jag hittar inget säkert svar …"), 0.0 for any other
    outcome; NaN when the answer object reports no ``outcome`` (older answerers)."""
    if outcome is None:
        return NAN
    return 1.0 if outcome == "hedged" else 0.0


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


@dataclass(frozen=True)
class QuestionOutcome:
    """What the harness observed for one question, independent of how it got it.

    ``cited_sources`` are the source ids that the answer's resolvable ``[n]``
    markers point to (distinct, in order); ``source_numbers`` are the ``n``
    values present in the answer object's ``sources``. ``confidence`` and
    ``answer_outcome`` (``"answer"``, ``"hedged"``, ``"refused"``) are the answer
    object's, ``None`` when it has none; ``refused`` is already true for a hedge.
    """

    question: EvalQuestion
    retrieved_sources: tuple[str, ...]
    answer: str
    refused: bool
    cited_sources: tuple[str, ...]
    source_numbers: tuple[int, ...]
    retrieve_ms: float
    total_ms: float
    confidence: float | None = None
    answer_outcome: str | None = None


Scorer = Callable[[QuestionOutcome, int], float]


@dataclass(frozen=True)
class JudgePrompt:
    """How the LLM judge scores a metric (:mod:`assistant.evaluation.judge`).

    ``prompt`` names a file under ``prompts/``; ``scoring`` is ``"claims"`` (the model
    lists claims with a supported flag, score = supported / claims, as in ragas) or
    ``"rating"`` (a 1–5 grade scaled to 0–1); ``inputs`` are the values the prompt is
    filled with, from ``question``, ``answer``, ``passages`` (the cited ones),
    ``history`` and ``reference`` (the line's ``reference_answer``: without one the
    metric is skipped for that question).
    """

    prompt: str
    scoring: Literal["claims", "rating"]
    inputs: tuple[str, ...]


@dataclass(frozen=True)
class Metric:
    """Everything the project knows about one metric, in one place.

    - ``key``: the report key (``hit@1``), part of the report format: never renamed.
    - ``name``: a Python identifier for it (``hit_at_1``).
    - ``score``: ``(outcome, k) → float`` for a metric the harness computes per
      question (NaN when it does not apply); ``None`` for judge and latency metrics.
    - ``direction``: ``"higher"`` or ``"lower"`` is better; ``compare`` reads it to tell
      a regression from an improvement, the gates to allow ``--min`` or ``--max``.
    - ``needs_answer``: only meaningful for a run that writes a cited answer; a
      retrieval-only run (the tutorial baseline, raw-dense) gets null instead of a 0.
    - ``judge``: the judge prompt for an LLM-judge metric, else ``None``.
    - ``chart``: drawn in the quality charts (PNG and HTML; 0–1 bars).
    - ``digits``: decimals when printed; ``column``: its short label in the HTML
      question table (``None``: no column).
    """

    key: str
    name: str
    score: Scorer | None = field(default=None, compare=False)
    direction: Literal["higher", "lower"] = "higher"
    needs_answer: bool = False
    judge: JudgePrompt | None = None
    chart: bool = True
    digits: int = 3
    column: str | None = None
    description: str = ""

    @property
    def lower_is_better(self) -> bool:
        return self.direction == "lower"

    @property
    def kind(self) -> str:
        """``"question"`` (harness-scored), ``"judge"`` or ``"latency"``."""
        if self.judge is not None:
            return "judge"
        return "question" if self.score is not None else "latency"

    def describe(self) -> dict[str, Any]:
        """The metric as the HTML pages read it (embedded in their data)."""
        return {"key": self.key, "kind": self.kind, "direction": self.direction,
                "chart": self.chart, "digits": self.digits, "column": self.column,
                "description": self.description}


@dataclass
class QuestionScores:
    """One question's metric values by report key; NaN marks a metric that does not apply.

    Holds the harness metrics and, once a run is judged, the judge's scores too, so the
    report's per-question ``metrics`` block is one mapping whoever computed a value.
    """

    values: dict[str, float] = field(default_factory=dict)

    def __getitem__(self, key: str) -> float:
        return self.values.get(key, NAN)

    def as_dict(self) -> dict[str, float | None]:
        """Report keys with ``None`` for NaN, so the report is valid JSON."""
        return {key: _none_if_nan(value) for key, value in self.values.items()}

    def undefined(self, keys: Iterable[str]) -> QuestionScores:
        """A copy with ``keys`` set to NaN (e.g. answer metrics of a retrieval-only run)."""
        return QuestionScores({**self.values, **{key: NAN for key in keys}})


def score_question(outcome: QuestionOutcome, k: int) -> QuestionScores:
    """Compute every registered harness metric for one question.

    Fact coverage is scored on refusals too: refusing an answerable question
    loses its facts and should count as such.
    """
    return QuestionScores({metric.key: metric.score(outcome, k)
                           for metric in scored_metrics() if metric.score is not None})


# --- the registry ----------------------------------------------------------------------------


_REGISTRY: dict[str, Metric] = {}


def register(metric: Metric) -> Metric:
    """Add a metric; its key must be new (report keys are never reused)."""
    if metric.key in _REGISTRY or metric.key == LATENCY.key:
        raise ValueError(f"metriken {metric.key!r} finns redan")
    if metric.score is None and metric.judge is None:
        raise ValueError(f"metriken {metric.key!r} behöver en score-funktion eller en "
                         "domarprompt")
    _REGISTRY[metric.key] = metric
    return metric


def unregister(key: str) -> None:
    """Remove a metric again (tests that register an extra one clean up with this)."""
    _REGISTRY.pop(key, None)


def metrics() -> tuple[Metric, ...]:
    """Every registered metric in report order: harness metrics, then the judge's."""
    values = list(_REGISTRY.values())
    return tuple([m for m in values if m.judge is None] + [m for m in values if m.judge])


def scored_metrics() -> tuple[Metric, ...]:
    """The metrics the harness computes for every question."""
    return tuple(m for m in metrics() if m.kind == "question")


def judge_metrics() -> tuple[Metric, ...]:
    """The LLM judge's metrics (present in a report only when the run was judged)."""
    return tuple(m for m in metrics() if m.kind == "judge")


def get_metric(key: str) -> Metric | None:
    """A metric by report key, the latency metric (``total_ms``) included."""
    return LATENCY if key == LATENCY.key else _REGISTRY.get(key)


def gate_metrics() -> dict[str, str]:
    """Every aggregate value a ``--min``/``--max`` threshold may name → its direction:
    the metrics, the judge's (null, hence failing, when not judged) and the latency
    percentiles."""
    named: dict[str, str] = {m.key: m.direction for m in metrics()}
    named.update({key: LATENCY.direction for key in LATENCY_KEYS})
    return named


def metric_catalog() -> list[dict[str, Any]]:
    """The registry as data, for the HTML pages (their scripts know no metric names)."""
    return [m.describe() for m in (*metrics(), LATENCY)]


def _retrieval(function: Callable[[Sequence[str], Sequence[str]], float]) -> Scorer:
    return lambda o, _k: function(o.question.expected_sources, o.retrieved_sources)


def _cited_precision(outcome: QuestionOutcome, _k: int) -> float:
    if outcome.refused:
        return NAN
    return citation_precision(outcome.cited_sources, outcome.question.expected_sources)


def _lead_source(outcome: QuestionOutcome, _k: int) -> float:
    if outcome.refused:
        return NAN
    return lead_source(outcome.cited_sources, outcome.question.expected_sources)


# The answer time of one question (``timings_ms.total``): compared per question by
# ``compare``, gated as the aggregate's percentiles (LATENCY_KEYS). Not a registry entry:
# it is measured, not scored.
LATENCY = Metric("total_ms", "total_ms", direction="lower", chart=False, digits=1,
                 description="svarstid per fråga (ms)")

for _metric in (
    Metric("hit@1", "hit_at_1", _retrieval(lambda e, r: hit_at(e, r, 1)), column="hit@1",
           description="en förväntad källa är den första hämtade"),
    Metric("hit@k", "hit_at_k", lambda o, k: hit_at(o.question.expected_sources,
                                                    o.retrieved_sources, k),
           description="en förväntad källa finns bland de k första"),
    Metric("recall@k", "recall_at_k", lambda o, k: recall_at(o.question.expected_sources,
                                                             o.retrieved_sources, k),
           description="andel förväntade källor bland de k första"),
    Metric("mrr", "rr", _retrieval(reciprocal_rank), column="mrr",
           description="1/rang för den första förväntade källan"),
    Metric("fact_coverage", "fact_coverage",
           lambda o, _k: fact_coverage(o.answer, o.question.must_mention), column="fakta",
           description="andel must_mention-grupper som svaret nämner"),
    Metric("citation_precision", "citation_precision", _cited_precision, needs_answer=True,
           column="citering", description="andel citerade källor som är förväntade"),
    Metric("citation_validity", "citation_validity",
           lambda o, _k: citation_validity(o.answer, o.source_numbers, refused=o.refused),
           needs_answer=True, description="varje [n] pekar på en källa, och minst en finns"),
    Metric("refusal_accuracy", "refusal_correct",
           lambda o, _k: refusal_correct(o.refused, o.question.answerable), needs_answer=True,
           description="obesvarbara frågor som vägrades"),
    Metric("false_refusal_rate", "false_refusal",
           lambda o, _k: false_refusal(o.refused, o.question.answerable), needs_answer=True,
           direction="lower", chart=False, description="besvarbara frågor som vägrades"),
    Metric("lead_fact", "lead_fact",
           lambda o, _k: lead_fact(o.answer, o.question.must_mention, refused=o.refused),
           needs_answer=True, column="fakta först",
           description="svarets första mening nämner en must_mention-grupp"),
    Metric("lead_source", "lead_source", _lead_source, needs_answer=True,
           column="källa först", description="den först citerade källan är förväntad"),
    Metric("answer_chars", "answer_chars",
           lambda o, _k: answer_chars(o.answer, refused=o.refused), direction="lower",
           needs_answer=True, chart=False, digits=0, column="tecken",
           description="svarets längd i tecken (vägran räknas inte)"),
    Metric("hedge_rate", "hedged", lambda o, _k: hedged(o.answer_outcome), direction="lower",
           needs_answer=True, chart=False,
           description="andel osäkra svar (outcome hedged); räknas som vägran"),
    Metric("faithfulness", "faithfulness", needs_answer=True, column="faithfulness",
           judge=JudgePrompt("judge-faithfulness.sv", "claims",
                             ("question", "answer", "passages")),
           description="andel påståenden i svaret som de citerade passagerna stöder"),
    Metric("answer_relevance", "answer_relevance", needs_answer=True, column="relevance",
           judge=JudgePrompt("judge-relevance.sv", "rating", ("question", "answer", "history")),
           description="svaret besvarar frågan (domarens betyg 1–5 → 0–1)"),
    Metric("answer_correctness", "answer_correctness", needs_answer=True,
           column="correctness",
           judge=JudgePrompt("judge-correctness.sv", "rating",
                             ("question", "answer", "reference")),
           description="svaret stämmer med referenssvaret (1–5 → 0–1)"),
):
    register(_metric)


# --- aggregation -----------------------------------------------------------------------------


def _summarise(
    outcomes: Sequence[QuestionOutcome], scores: Sequence[QuestionScores]
) -> dict[str, Any]:
    summary: dict[str, Any] = {
        metric.key: _none_if_nan(mean_defined(score[metric.key] for score in scores))
        for metric in scored_metrics()
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
