"""Prompt templates live as files in ``prompts/`` so they can be reviewed and tuned
without touching code (docs/architecture.md: prompts in files, loaded by name, Swedish first).

File format (``prompts/<name>.md``)::

    <!-- comments are removed: document the placeholders here -->
    System part, with {placeholders} filled by str.format.
    ---user---
    User part, e.g. {question}

Everything before the ``---user---`` line is the system message, everything after it the
user message. Placeholders use ``str.format`` syntax, which is also LangChain's f-string
template syntax, so one file serves both :meth:`Prompt.render` and
:meth:`Prompt.chat_template`. Write ``{{`` and ``}}`` for literal braces. Values are
inserted verbatim (never re-parsed), so source texts containing braces are safe.
"""

from __future__ import annotations

import re
import string
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import TYPE_CHECKING, Literal

if TYPE_CHECKING:
    from langchain_core.prompts import ChatPromptTemplate

USER_SEPARATOR = "---user---"
_SYSTEM_HEADER = "---system---"
_COMMENT = re.compile(r"<!--.*?-->", re.DOTALL)
_NAME = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_.-]*$")

Role = Literal["system", "user"]


def prompts_dir() -> Path:
    """``prompts/`` at the repository root, next to the ``assistant`` package.

    The project is installed editable, so this is the checked-out folder operators edit.
    """
    return Path(__file__).resolve().parents[1] / "prompts"


@dataclass(frozen=True)
class Prompt:
    """A system + user template pair, loaded from one file."""

    name: str
    system: str
    user: str

    @property
    def variables(self) -> frozenset[str]:
        """Placeholder names used in either part (what :meth:`render` needs)."""
        names: set[str] = set()
        for part in (self.system, self.user):
            for _, field_name, _, _ in string.Formatter().parse(part):
                if field_name:
                    names.add(field_name)
        return frozenset(names)

    def render(self, **values: object) -> list[tuple[Role, str]]:
        """``[("system", ...), ("user", ...)]``, filled in.

        A missing value raises ``ValueError`` naming the placeholder and the file, so a
        renamed placeholder fails loudly instead of sending ``{question}`` to the model.
        """
        missing = sorted(self.variables - values.keys())
        if missing:
            raise ValueError(
                f"prompt {self.name!r} needs values for {', '.join(missing)} "
                f"(placeholders in prompts/{self.name}.md)"
            )
        return [("system", self.system.format(**values)), ("user", self.user.format(**values))]

    def chat_template(self, *, history: bool = False) -> ChatPromptTemplate:
        """The prompt as a LangChain ``ChatPromptTemplate``.

        With ``history=True`` an optional ``history`` messages placeholder sits between the
        system and user messages, so earlier turns reach the model as real chat turns.
        """
        from langchain_core.prompts import ChatPromptTemplate, MessagesPlaceholder

        messages: list[object] = [("system", self.system)]
        if history:
            messages.append(MessagesPlaceholder("history", optional=True))
        messages.append(("human", self.user))
        return ChatPromptTemplate.from_messages(messages)  # type: ignore[arg-type]


def parse_prompt(name: str, text: str) -> Prompt:
    """Split a prompt file into its system and user parts (see the module docstring)."""
    cleaned = _COMMENT.sub("", text)
    lines = cleaned.splitlines()
    separators = [i for i, line in enumerate(lines) if line.strip() == USER_SEPARATOR]
    if len(separators) != 1:
        raise ValueError(
            f"prompt {name!r} must contain exactly one line {USER_SEPARATOR!r} separating the "
            f"system part from the user part (found {len(separators)})"
        )
    cut = separators[0]
    system_lines = [line for line in lines[:cut] if line.strip() != _SYSTEM_HEADER]
    system = "\n".join(system_lines).strip()
    user = "\n".join(lines[cut + 1 :]).strip()
    if not user:
        raise ValueError(f"prompt {name!r} has an empty user part after {USER_SEPARATOR!r}")
    prompt = Prompt(name=name, system=system, user=user)
    try:
        _ = prompt.variables  # unbalanced braces fail here, at load, not at the first request
    except ValueError as exc:
        raise ValueError(f"prompt {name!r} is not a valid template: {exc}") from None
    return prompt


@lru_cache(maxsize=32)
def _load(name: str, directory: Path) -> Prompt:
    path = directory / f"{name}.md"
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise FileNotFoundError(
            f"prompt {name!r} not found: expected the file {path}"
        ) from None
    return parse_prompt(name, text)


def load_prompt(name: str, directory: Path | None = None) -> Prompt:
    """Load ``prompts/<name>.md`` (e.g. ``load_prompt("answer.sv")``), cached per process.

    Call :func:`clear_prompt_cache` after editing a file in a running process.
    """
    if not _NAME.match(name):
        raise ValueError(f"invalid prompt name {name!r}: use a bare name such as 'answer.sv'")
    return _load(name, (directory or prompts_dir()).resolve())


def clear_prompt_cache() -> None:
    """Forget loaded prompts (tests and hot-reload of edited prompt files)."""
    _load.cache_clear()
