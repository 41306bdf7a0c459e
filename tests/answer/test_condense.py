"""Offline condensing of follow-up questions (no model: retrieval text only)."""

from __future__ import annotations

from assistant.answer.condense import condense_offline

HISTORY = [{"role": "user", "content": "Vad gjorde Trollhättan mot segregation?"},
           {"role": "assistant", "content": "Trollhättan avvecklade skolor [1]."}]


def _names(question: str) -> bool:
    return any(m in question for m in ("Trollhättan", "Lund", "Söderhamn"))


def test_without_history_the_question_is_used_as_is() -> None:
    assert condense_offline("Vem var värd för besöket?", []) == "Vem var värd för besöket?"


def test_short_followup_carries_the_previous_user_turn() -> None:
    got = condense_offline("Vem var värd för besöket?", HISTORY, _names)
    assert got == "Vad gjorde Trollhättan mot segregation? Vem var värd för besöket?"


def test_anaphora_makes_a_long_question_a_followup() -> None:
    question = "Vilka kommuner och skolor deltog i det arbetet under hösten och våren?"
    got = condense_offline(question, HISTORY, _names)
    assert got.startswith("Vad gjorde Trollhättan") and got.endswith(question)


def test_a_question_naming_a_municipality_is_standalone() -> None:
    question = "Vem är utbildningsdirektör i Lund?"
    assert condense_offline(question, HISTORY, _names) == question


def test_a_long_question_with_its_own_topic_is_standalone() -> None:
    question = ("Vilka samarbetspartners har kunskapslyftet för lärare i matematikutveckling "
                "och läsutveckling?")
    assert condense_offline(question, HISTORY, _names) == question


def test_only_user_turns_and_only_the_latest_are_used() -> None:
    history = [{"role": "user", "content": "Första frågan om Lund?"},
               {"role": "assistant", "content": "Svar om Lund."},
               {"role": "user", "content": "Vad är 14-kommunersnätverket?"},
               {"role": "assistant", "content": "Ett nätverk [1]."}]
    got = condense_offline("Vem tog initiativ till det?", history, _names)
    assert got == "Vad är 14-kommunersnätverket? Vem tog initiativ till det?"
