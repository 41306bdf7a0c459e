"""Offline condensing of follow-up questions.

Without a language model we cannot rewrite "Vem var värd för besöket?" into a
standalone question, but we can tell that it is underspecified and retrieve with
the conversation's recent user turns prepended, which carries the topic along.
"""

from __future__ import annotations

from collections.abc import Callable

from assistant.history import History
from assistant.language import analyse
from assistant.params import tuning
from assistant.text import words

# Words that point back into the conversation ("det", "hon", "besöket" is handled by
# the length rule). A question using one of them is never standalone.
ANAPHORA = frozenset((
    "det", "den", "de", "dem", "deras", "dess", "där", "dit", "då", "hon", "han", "hen",
    "henne", "honom", "hans", "hennes", "detta", "denna", "dessa", "samma", "it", "they",
    "them", "their", "there", "that", "this", "these", "those", "he", "she", "his", "her", "its",
))


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
    pointing = any(w in ANAPHORA for w in words(question))
    return " ".join([*previous, question]) if short or pointing else question
