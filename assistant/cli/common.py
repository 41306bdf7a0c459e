"""What every subcommand shares: exit codes, the error → exit-code table, settings.

Exit codes are part of the interface (CI and scripts key on them):
0 = done, 1 = a problem the user fixes (bad option, setting, file, missing index),
2 = ``eval`` fell short of a ``--min``/``--max`` threshold, or ``ingest`` found a
running app on its embedded index (:class:`assistant.errors.IndexInUseError`),
3 = ``ingest`` skipped files (partial), 130 = interrupted (Ctrl-C).
"""

from __future__ import annotations

import sys
from typing import TYPE_CHECKING

from assistant.errors import EXIT_ERROR, EXIT_PARTIAL, AssistantError, UserError

if TYPE_CHECKING:
    from assistant.config import Settings

__all__ = [
    "ERROR_EXITS", "EXIT_ERROR", "EXIT_GATE", "EXIT_INTERRUPTED", "EXIT_OK", "EXIT_PARTIAL",
    "err", "exit_code", "load_settings",
]

EXIT_OK, EXIT_GATE, EXIT_INTERRUPTED = 0, 2, 130  # 1 and 3 come with the errors

# The one table of errors that end the command with a readable line instead of a
# traceback. Our own errors carry their code (``AssistantError.exit_code``); the standard
# library's ways of saying "bad input" that the library lets through map to 1.
# Anything else is a bug and keeps its traceback.
ERROR_EXITS: tuple[tuple[type[BaseException], int], ...] = (
    (KeyboardInterrupt, EXIT_INTERRUPTED),
    (AssistantError, EXIT_ERROR),
    (FileNotFoundError, EXIT_ERROR),
    (ValueError, EXIT_ERROR),
)


def exit_code(exc: BaseException) -> int | None:
    """The exit code for ``exc`` from :data:`ERROR_EXITS`, or ``None`` for a bug."""
    for kind, code in ERROR_EXITS:
        if isinstance(exc, kind):
            return exc.exit_code if isinstance(exc, AssistantError) else code
    return None


def err(message: str) -> None:
    """Messages for people go to stderr, so stdout stays parseable (``--json``, JSONL)."""
    print(message, file=sys.stderr)


def load_settings(overrides: dict[str, object] | None = None) -> Settings:
    """Settings from the environment; a bad value becomes a :class:`UserError` naming the
    variable to fix (``ASSISTANT_CHUNK_TOKENS``), not pydantic's field path."""
    from pydantic import ValidationError

    from assistant.config import Settings

    try:
        return Settings(**(overrides or {}))  # type: ignore[arg-type]
    except ValidationError as exc:
        problems = "; ".join(f"{_env_name(e['loc'])}: {e['msg']}" for e in exc.errors())
        raise UserError(f"Ogiltig konfiguration: {problems}") from None


def _env_name(loc: tuple[int | str, ...]) -> str:
    if not loc:
        return "settings"
    name = str(loc[0])
    return name if name.isupper() else f"ASSISTANT_{name.upper()}"
