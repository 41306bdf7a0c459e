"""Conversation history: one model for the API, the UI, the CLI, eval files and LLM mode.

Why one module: the roles a history may hold, how its length is counted and where it is
cut for the model used to be decided in four places that had drifted apart (roles
user/assistant in the API, user/assistant/system in eval files, a limit that counted
messages, a silent cap of eight messages in LLM mode).

The rules:

- a message is ``{"role": "user" | "assistant", "content": str}`` (:class:`Message`);
  a system message is not history (the system prompt lives in ``prompts/``), and letting a
  client send one would let it speak with the operator's voice;
- limits count **turns**: a turn is one user message plus the assistant's reply, so a
  limit of 20 allows 20 questions with their answers (:func:`count_turns`), at most
  :func:`max_messages` messages (what a schema can publish as a list length);
- the model sees only the last :data:`LLM_HISTORY_TURNS` turns (:func:`recent_turns`):
  older turns rarely matter for a follow-up and cost tokens.

Nothing here imports beyond the standard library and :mod:`assistant.errors`, so every
room may use it.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, Literal, TypedDict, TypeVar, get_args

from assistant.errors import HistoryError

__all__ = [
    "LLM_HISTORY_TURNS",
    "ROLES",
    "History",
    "HistoryError",
    "Message",
    "Role",
    "check_turns",
    "count_turns",
    "max_messages",
    "parse_history",
    "recent_turns",
]

Role = Literal["user", "assistant"]
ROLES: tuple[Role, ...] = get_args(Role)
# Turns of earlier conversation sent to the language model (answer and condense prompts).
LLM_HISTORY_TURNS = 4


class Message(TypedDict):
    """One history message; a plain dict, so it is also the JSON wire form."""

    role: Role
    content: str


History = Sequence[Mapping[str, object]]  # Message dicts, or any {role, content} mapping
M = TypeVar("M", bound=Mapping[str, object])


def parse_history(value: Any) -> tuple[Message, ...]:
    """Validate untrusted history (JSON from a file or a request) into messages.

    ``None`` is an empty history. Raises :class:`HistoryError` naming the first bad entry;
    contents are stripped.
    """
    if value is None:
        return ()
    if not isinstance(value, list | tuple):
        raise HistoryError("'history' must be a list of {role, content} objects")
    roles = ", ".join(repr(role) for role in sorted(ROLES))
    entries: list[Message] = []
    for index, entry in enumerate(value, start=1):
        if not isinstance(entry, Mapping):
            raise HistoryError(f"'history' entry {index} must be an object")
        role = entry.get("role")
        if role not in ROLES:
            raise HistoryError(f"'history' entry {index}: 'role' must be one of {roles}")
        content = entry.get("content")
        if not isinstance(content, str):
            raise HistoryError(f"'history' entry {index}: 'content' must be a string")
        entries.append(Message(role=role, content=content.strip()))
    return tuple(entries)


def _turn_starts(messages: History) -> list[int]:
    """Indices where a turn begins: each user message, and an assistant message that does
    not answer a user message (so no message is ever outside a turn)."""
    return [i for i, m in enumerate(messages)
            if m.get("role") == "user" or i == 0 or messages[i - 1].get("role") != "user"]


def count_turns(history: History) -> int:
    """Turns in a history: a user message and the reply that follows count as one."""
    return len(_turn_starts(list(history)))


def check_turns(history: History, limit: int) -> None:
    """Raise :class:`HistoryError` (Swedish, for users) when ``history`` has more than
    ``limit`` turns."""
    turns = count_turns(history)
    if turns > limit:
        raise HistoryError(f"Historiken är för lång ({turns} turer, högst {limit}). "
                           "Börja en ny konversation eller skicka färre tidigare turer.")


def max_messages(turns: int) -> int:
    """The longest history within ``turns`` turns: a question and its answer per turn.

    Every longer list is refused by :func:`check_turns`; a shorter one may still be (each
    question without an answer is a turn of its own), which a list length cannot say.
    """
    return 2 * max(turns, 0)


def recent_turns(history: Sequence[M], turns: int = LLM_HISTORY_TURNS) -> list[M]:
    """The last ``turns`` turns of ``history``: the one place history is cut for the model."""
    if turns <= 0:
        return []
    items = list(history)
    starts = _turn_starts(items)
    if len(starts) <= turns:
        return items
    return items[starts[-turns]:]
