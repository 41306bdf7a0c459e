"""The refusal rule registry: one registration adds a rule everywhere it is used.

The worked example of docs/recipes/add-a-refusal-rule.md: a rule registered here (and
only here) is applied by the policy, accepted from the calibration file, searched by
the calibration and counted per rule in the eval report.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import fields
from typing import Any

import pytest

from assistant.answer.policy import (
    REGISTRY,
    RULES,
    Evidence,
    Param,
    RefusalPolicy,
    RefusalRule,
    Thresholds,
    Verdict,
)
from assistant.evaluation import calibration as cal
from assistant.evaluation.dataset import EvalQuestion
from assistant.evaluation.harness import run_eval
from assistant.history import History
from assistant.params import load_calibration
from assistant.retrieval.hybrid import Candidates
from assistant.types import Answer


def _too_few_terms(ev: Evidence, t: Thresholds) -> Verdict | None:
    """The example rule: a question of fewer content terms than the minimum says too
    little to be answered from quotes."""
    minimum = t.number("min_content_terms")
    return ev.content_terms, minimum, ev.content_terms >= minimum


TOO_FEW_TERMS = RefusalRule(
    "too_few_terms", ("content_terms",),
    (Param("min_content_terms", None, None, (None, 1.0, 2.0, 3.0)),),
    switch="min_content_terms", judge=_too_few_terms)


@pytest.fixture
def extra_rule() -> Iterator[RefusalRule]:
    with REGISTRY.added(TOO_FEW_TERMS) as rule:
        yield rule
    assert "too_few_terms" not in REGISTRY.names()  # gone again for other tests


def _ev(terms: int) -> Evidence:
    return Evidence(language="sv", best_passage=0.9, best_lexical=0.9, content_terms=terms)


def test_the_built_in_rules_are_the_registry_in_evaluation_order() -> None:
    assert REGISTRY.names() == RULES
    assert RULES[0] == "weak_evidence" and RULES[-1] == "low_confidence"
    evidence_fields = {f.name for f in fields(Evidence)}
    for rule in REGISTRY:
        assert set(rule.reads) <= evidence_fields, rule.name
        assert rule.switch in {p.name for p in rule.params}
    # The grid is the rules' parameters, in rule order.
    assert list(RefusalPolicy.calibration_grid()) == list(REGISTRY.params())


def test_a_registered_rule_decides(extra_rule: RefusalRule) -> None:
    assert REGISTRY.names()[-1] == "too_few_terms"
    assert RefusalPolicy().min_content_terms is None  # its default: off
    assert "too_few_terms" not in [c.rule for c in RefusalPolicy().checks(_ev(1))]
    policy = RefusalPolicy(min_content_terms=2.0)
    decision = policy.decide(_ev(1))
    assert decision.refused and decision.rule == "too_few_terms"
    assert (decision.value, decision.threshold) == (1, 2.0)
    assert not policy.decide(_ev(2)).refused
    # The calibration file may set it like any other threshold.
    data = {**load_calibration(), "refusal": {**load_calibration()["refusal"],
                                              "min_content_terms": 3.0}}
    assert RefusalPolicy.from_calibration(data).min_content_terms == 3.0


def test_a_registered_rule_is_searched_by_the_calibration(extra_rule: RefusalRule) -> None:
    assert RefusalPolicy.calibration_grid()["min_content_terms"] == (None, 1.0, 2.0, 3.0)
    empty = Candidates("q", [], [], [], "sv")
    items = []
    for n in range(10):  # only the new rule tells these apart
        items.append(cal.Item("own", f"a{n}", "fact", ("d",), empty, evidence=_ev(3), fact=1.0))
        items.append(cal.Item("own", f"u{n}", "nearmiss", (), empty, evidence=_ev(1)))
    chosen = cal.choose_policy(items, RefusalPolicy.search_start())
    assert chosen.min_content_terms in (2.0, 3.0)
    metrics = cal.refusal_metrics(items, lambda i: chosen.decide(i.evidence).refused)["own"]
    assert metrics["refusal_accuracy"] == 1.0 and metrics["false_refusal_rate"] == 0.0


class _PolicyOnly:
    """An answerer whose answers are the policy's decisions on fixed evidence: enough
    for the harness's per-rule refusal counts."""

    def __init__(self, policy: RefusalPolicy, evidence: dict[str, Evidence]) -> None:
        self.policy, self.evidence = policy, evidence

    def ask(self, question: str, history: History = (), k: int | None = None,
            filters: Any = None, retriever: Any = None) -> Answer:
        decision = self.policy.decide(self.evidence[question])
        return Answer(question, "" if decision.refused else "Svar.", decision.refused,
                      "extractive", [], [], {}, refusal=decision.to_dict())


def test_a_registered_rule_is_counted_in_the_report(extra_rule: RefusalRule) -> None:
    questions = [EvalQuestion("u1", "Vad?", (), ()), EvalQuestion("a1", "Hur många?", ("d",), ())]
    answerer = _PolicyOnly(RefusalPolicy(min_content_terms=2.0),
                           {"Vad?": _ev(1), "Hur många?": _ev(3)})
    report = run_eval(answerer, questions, k=5)
    assert report.aggregate["refusal_reasons"]["correct"] == {"too_few_terms": 1}


def test_a_rule_cannot_take_a_name_or_parameter_twice(extra_rule: RefusalRule) -> None:
    with pytest.raises(ValueError, match="finns redan"):
        REGISTRY.register(extra_rule)
    with pytest.raises(ValueError, match="brytaren"):
        REGISTRY.register(RefusalRule("x", (), (Param("p", None, None, (None,)),),
                                      switch="q", judge=_too_few_terms))
