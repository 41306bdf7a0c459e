"""The quality gate: threshold parsing and the check itself (the CLI's exit codes are
tested in tests/cli/test_evaluate.py).

The headline case is the issue's acceptance test: a deliberate regression
(k=1 instead of k=5) must make ``assistant eval --min hit@k=…`` exit non-zero
while the unregressed configuration passes the same threshold.
"""

from __future__ import annotations

from typing import Any

import pytest

from assistant.evaluation.harness import check_gate, parse_threshold, run_eval
from assistant.evaluation.metrics import gate_metrics
from tests.evaluation.test_harness import FakeAnswerer, Scripted, make_question

SUMMARY: dict[str, Any] = {
    "hit@1": 0.5, "hit@k": 0.9, "recall@k": 0.85, "mrr": 0.7, "fact_coverage": 0.6,
    "citation_precision": 0.8, "citation_validity": 1.0, "refusal_accuracy": None,
    "false_refusal_rate": 0.1,
    "latency_ms": {"retrieve_p50": 20.0, "retrieve_p95": 40.0, "total_p50": 30.0,
                   "total_p95": 60.0},
    "n": 10,
}

# --- parsing ---------------------------------------------------------------------------------


def test_parse_threshold() -> None:
    assert parse_threshold("hit@k=0.9") == ("hit@k", 0.9)
    assert parse_threshold(" mrr = 0.5 ") == ("mrr", 0.5)
    assert parse_threshold("total_p95=500") == ("total_p95", 500.0)
    assert parse_threshold("latency_ms.total_p95=500") == ("total_p95", 500.0)


@pytest.mark.parametrize("text", ["hit@k", "hit@k=", "=0.9", "hitk=0.9", "hit@k=hög",
                                  "hit@k=nan", "n=3"])
def test_parse_threshold_rejects_typos(text: str) -> None:
    with pytest.raises(ValueError):
        parse_threshold(text)


def test_every_aggregate_metric_can_be_gated() -> None:
    for metric in gate_metrics():
        assert parse_threshold(f"{metric}=0.5")[0] == metric


def test_a_threshold_must_bound_its_metric_the_right_way() -> None:
    """A floor on a lower-is-better metric (or a ceiling on a higher one) gates nothing
    useful: the registry's direction decides which of --min/--max fits."""
    assert parse_threshold("hit@k=0.9", "min") == ("hit@k", 0.9)
    assert parse_threshold("false_refusal_rate=0.05", "max") == ("false_refusal_rate", 0.05)
    assert parse_threshold("total_p95=500", "max") == ("total_p95", 500.0)
    with pytest.raises(ValueError, match="använd --max"):
        parse_threshold("false_refusal_rate=0.05", "min")
    with pytest.raises(ValueError, match="använd --min"):
        parse_threshold("hit@k=0.9", "max")
    with pytest.raises(ValueError, match="använd --max"):
        parse_threshold("total_p95=500", "min")
    # issue 19's answer metrics: a floor on the lead, a ceiling on the length
    assert parse_threshold("lead_fact=0.9", "min") == ("lead_fact", 0.9)
    assert parse_threshold("lead_source=0.6", "min") == ("lead_source", 0.6)
    assert parse_threshold("answer_chars=400", "max") == ("answer_chars", 400.0)
    with pytest.raises(ValueError, match="använd --max"):
        parse_threshold("answer_chars=400", "min")


# --- the check -------------------------------------------------------------------------------


def test_gate_passes_when_every_threshold_is_met() -> None:
    assert check_gate(SUMMARY, [("hit@k", 0.9), ("mrr", 0.1)],
                      [("false_refusal_rate", 0.1), ("total_p95", 60.0)]) == []


def test_gate_reports_each_shortfall_with_value_and_threshold() -> None:
    failures = check_gate(SUMMARY, [("hit@k", 0.95), ("mrr", 0.5)],
                          [("false_refusal_rate", 0.05), ("retrieve_p95", 10.0)])
    assert [(f.metric, f.bound) for f in failures] == [
        ("hit@k", "min"), ("false_refusal_rate", "max"), ("retrieve_p95", "max")]
    assert str(failures[0]) == "hit@k = 0.9 < 0.95 (krav ≥ 0.95)"
    assert str(failures[1]) == "false_refusal_rate = 0.1 > 0.05 (krav ≤ 0.05)"


def test_null_metric_fails_the_gate() -> None:
    """A gate on something nobody measured must not pass forever."""
    for bound in ("min", "max"):
        failures = (check_gate(SUMMARY, [("refusal_accuracy", 0.0)]) if bound == "min"
                    else check_gate(SUMMARY, (), [("refusal_accuracy", 1.0)]))
        assert len(failures) == 1 and failures[0].value is None
        assert "odefinierad" in str(failures[0])


def test_regression_k1_fails_a_gate_that_k5_passes_with_scripted_rankings() -> None:
    """Deterministic version of the acceptance case: the expected source sits at rank 2."""
    questions = [make_question("a", "Fråga A?", ["doc2"]), make_question("b", "Fråga B?",
                                                                          ["doc1"])]
    script = {"Fråga A?": Scripted(["doc1", "doc2"], "Svar [1]."),
              "Fråga B?": Scripted(["doc1", "doc3"], "Svar [1].")}
    good = run_eval(FakeAnswerer(script), questions, k=5).aggregate
    regressed = run_eval(FakeAnswerer(script), questions, k=1).aggregate
    assert good["hit@k"] == 1.0 and regressed["hit@k"] == 0.5
    assert check_gate(good, [("hit@k", 0.9)]) == []
    assert [f.metric for f in check_gate(regressed, [("hit@k", 0.9)])] == ["hit@k"]
