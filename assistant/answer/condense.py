"""Offline condensing of follow-up questions.

Without a language model we cannot rewrite "Vem var värd för besöket?" into a
standalone question, but we can tell that it is underspecified and retrieve with
the conversation's recent user turns prepended, which carries the topic along.
"""

from __future__ import annotations

from collections.abc import Callable

from assistant.history import History
from assistant.language import analyse, points_back
from assistant.params import tuning


def condense_offline(
    question: str,
    history: History,
    names_topic: Callable[[str], bool] = lambda _q: False,
) -> str:
    """The text to retrieve with: the question, or recent user turns + the question."""
    previous = [str(t.get("content", "")) for t in history if t.get("role") == "user"]
    params = tuning().condense
    previous = [p for p in previous if p.strip()][-params.history_turns:]
    if not previous or names_topic(question):
        return question
    short = len(analyse(question)) <= params.followup_terms
    # A word pointing back ("det", "hon"; "besöket" is caught by the length rule) makes
    # any question a follow-up.
    pointing = points_back(question)
    return " ".join([*previous, question]) if short or pointing else question
