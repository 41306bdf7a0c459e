"""The refusal policy: each rule on its own, the decision record, the committed calibration."""

from __future__ import annotations

import copy

import pytest

from assistant.answer.policy import RULES, Decision, Evidence, RefusalPolicy
from assistant.params import load_calibration

# Evidence that passes every rule of the policy below; each test breaks one thing.
GOOD = Evidence(language="sv", best_passage=0.88, best_lexical=0.6, best_sentence=0.87,
                content_terms=4, unknown_terms=0, answer_type="", attribute_coverage=0.8)
POLICY = RefusalPolicy(min_evidence=0.82, min_evidence_en=0.76, min_lexical=0.5,
                       min_standout_en=2.5, check_unknown_terms=True, min_typed_coverage=0.3,
                       max_slot_gap=None, min_attribute_coverage=0.4,
                       min_attribute_coverage_en=0.1)


def _decide(**change: object) -> Decision:
    from dataclasses import replace

    return POLICY.decide(replace(GOOD, **change))  # type: ignore[arg-type]


def test_good_evidence_is_accepted_with_the_tightest_check_recorded() -> None:
    decision = POLICY.decide(GOOD)
    assert not decision.refused
    assert decision.rule == "accepted"
    # attribute 0.8 vs 0.4 has the least room? passage 0.88 vs 0.82 has less.
    assert (decision.value, decision.threshold) == (0.88, 0.82)
    assert all(check.passed for check in decision.checks)


def test_weak_evidence_needs_both_low_similarity_and_low_term_coverage() -> None:
    refused = _decide(best_passage=0.80, best_lexical=0.3)
    assert refused.refused and refused.rule == "weak_evidence"
    assert (refused.value, refused.threshold) == (0.80, 0.82)
    assert not _decide(best_passage=0.80, best_lexical=0.7).refused  # words rescue it


def test_english_uses_its_own_floor_and_the_standout_rule() -> None:
    en = {"language": "en", "best_lexical": 0.0, "standout": 3.0}
    assert not _decide(best_passage=0.78, **en).refused  # 0.78 >= 0.76 (en floor)
    assert _decide(best_passage=0.75, **en).rule == "weak_evidence"
    low = _decide(best_passage=0.85, **{**en, "standout": 2.0})
    assert low.refused and low.rule == "not_standing_out" and low.threshold == 2.5


def test_unknown_terms_rule_is_swedish_only() -> None:
    assert _decide(unknown_names=("göteborg",)).rule == "unknown_terms"
    assert _decide(unknown_terms=4).rule == "unknown_terms"  # none of 4 terms known
    assert not _decide(unknown_terms=3).refused
    assert not _decide(language="en", unknown_names=("education",), standout=3.0).refused


def test_missing_entity_refuses_evidence_about_a_neighbour() -> None:
    decision = _decide(known_names=1, missing_names=("gävl",))
    assert decision.refused and decision.rule == "missing_entity"
    assert (decision.value, decision.threshold) == (0.0, 1.0)
    assert not _decide(known_names=2, missing_names=()).refused
    half = RefusalPolicy(min_entity_coverage=0.5)
    two = GOOD.__class__(**{**GOOD.__dict__, "known_names": 2, "missing_names": ("lund",)})
    assert not half.decide(two).refused  # one of two names covered is enough here
    assert POLICY.decide(two).refused
    off = RefusalPolicy(min_entity_coverage=None)
    assert not off.decide(GOOD.__class__(**{**GOOD.__dict__, "known_names": 1,
                                           "missing_names": ("x",)})).refused


def test_answer_type_must_sit_in_a_sentence_carrying_the_attribute() -> None:
    assert not _decide(answer_type="number", typed=True, typed_coverage=0.5).refused
    weak = _decide(answer_type="number", typed=True, typed_coverage=0.2)
    assert weak.rule == "missing_answer_type" and weak.threshold == 0.3
    assert _decide(answer_type="date", typed=False, typed_coverage=1.0).refused
    assert _decide(answer_type="date", typed=True, typed_coverage=None).refused


def test_missing_slot_refuses_when_no_filler_scores_close_to_the_best_sentence() -> None:
    policy = RefusalPolicy(max_slot_gap=0.05, max_slot_gap_en=0.1)
    slotted = GOOD.__class__(**{**GOOD.__dict__, "answer_type": "count", "slot_gap": 0.08})
    decision = policy.decide(slotted)
    assert decision.refused and decision.rule == "missing_slot"
    assert (decision.value, decision.threshold) == (0.08, 0.05)
    close = GOOD.__class__(**{**slotted.__dict__, "slot_gap": 0.0})
    assert not policy.decide(close).refused
    english = GOOD.__class__(**{**slotted.__dict__, "language": "en", "standout": 3.0})
    assert not policy.decide(english).refused  # 0.08 <= 0.1, the English maximum
    assert not RefusalPolicy(max_slot_gap=None).decide(slotted).refused  # off: None
    no_slot = GOOD.__class__(**{**GOOD.__dict__, "slot_gap": None})
    assert "missing_slot" not in [c.rule for c in policy.checks(no_slot)]


def test_missing_attribute_has_a_threshold_per_language() -> None:
    decision = _decide(attribute_coverage=0.25)
    assert decision.rule == "missing_attribute" and decision.value == 0.25
    assert not _decide(attribute_coverage=None).refused  # nothing asked beyond the names
    assert not _decide(language="en", standout=3.0, attribute_coverage=0.25).refused


def test_none_switches_a_rule_off_so_its_check_is_never_made() -> None:
    policy = RefusalPolicy(min_attribute_coverage=None, min_standout_en=None)
    rules = [c.rule for c in policy.checks(GOOD)]
    assert "missing_attribute" not in rules
    en = Evidence(language="en", best_passage=0.9, best_lexical=0.1, standout=-1e9)
    assert "not_standing_out" not in [c.rule for c in policy.checks(en)]
    # A zero is a threshold like any other: the check is made (and always passes).
    zero = RefusalPolicy(min_attribute_coverage=0.0)
    assert "missing_attribute" in [c.rule for c in zero.checks(GOOD)]


def test_the_committed_policy_skips_the_rules_it_has_switched_off() -> None:
    """calibration.json writes off as null; such a rule leaves no check behind (the old
    -99 standout floor still ran a check it believed was off)."""
    committed = load_calibration()["refusal"]
    off = {name for name, value in committed.items() if value is None}
    assert {"min_standout_en", "max_slot_gap_en", "min_attribute_coverage"} <= off
    policy = RefusalPolicy.from_calibration()
    en = Evidence(language="en", best_passage=0.9, best_lexical=0.9, standout=-1e9,
                  slot_gap=1.0, attribute_coverage=0.0, answer_type="count")
    rules = [c.rule for c in policy.checks(en)]
    assert not {"not_standing_out", "missing_slot", "missing_attribute"} & set(rules)
    assert "weak_evidence" in rules  # the rules that are on still run


def test_decision_and_evidence_serialise_for_the_answer_object() -> None:
    decision = _decide(best_passage=0.7, best_lexical=0.1)
    data = decision.to_dict()
    assert data["refused"] is True and data["rule"] in RULES
    assert {"rule", "value", "threshold", "passed"} <= set(data["checks"][0])
    ev = Evidence.from_dict(GOOD.to_dict())
    assert ev == GOOD
    assert Decision.no_evidence().rule == "no_evidence"
    assert POLICY.decide(GOOD).as_model_refusal().to_dict()["rule"] == "model_refusal"


def test_policy_is_frozen_and_built_from_the_committed_calibration() -> None:
    policy = RefusalPolicy.from_calibration()
    assert policy.thresholds() == load_calibration()["refusal"]
    assert policy == RefusalPolicy()  # the rules' defaults are the committed values
    assert copy.deepcopy(policy) == policy and copy.copy(policy).source == policy.source
    with pytest.raises(AttributeError):
        policy.min_evidence = 0.1
    with pytest.raises(ValueError, match="okända"):
        RefusalPolicy.from_calibration({"refusal": {"min_evidnce": 0.8}})
