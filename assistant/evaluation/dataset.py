"""Loading of the JSONL evaluation file.

A hand-written eval file is edited often and by several people, so one bad line
must never sink a whole run: every problem becomes a :class:`DatasetError` with
its line number and the good lines are still evaluated.
"""

from __future__ import annotations

import json
from collections.abc import Collection, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from assistant.errors import DatasetLineError
from assistant.history import HistoryError, Message, parse_history

__all__ = [
    "DEFAULT_KIND",
    "DatasetError",
    "EvalQuestion",
    "jsonl_objects",
    "load_eval_file",
    "parse_record",
    "unknown_sources",
]

DEFAULT_KIND = "unspecified"

_KNOWN_FIELDS = frozenset(
    {"id", "question", "expected_sources", "must_mention", "history", "reference_answer", "kind",
     "exclude_sources"}
)


@dataclass(frozen=True)
class EvalQuestion:
    """One evaluation case.

    ``history`` and ``extra`` hold dicts, so they are left out of the hash; the
    rest of the fields are enough to tell questions apart in sets and dict keys.
    """

    id: str
    question: str
    expected_sources: tuple[str, ...]
    must_mention: tuple[tuple[str, ...], ...]
    history: tuple[Message, ...] = field(default=(), hash=False)
    reference_answer: str | None = None
    kind: str = DEFAULT_KIND
    extra: dict[str, Any] = field(default_factory=dict, hash=False)
    line: int = 0
    # Documents retrieval must not see for this question (leave-the-answer-out suite):
    # the harness excludes them at retrieval time, equivalent to indexing without them.
    exclude_sources: tuple[str, ...] = ()

    @property
    def answerable(self) -> bool:
        """No expected source means the corpus cannot answer it, so refusing is correct."""
        return bool(self.expected_sources)


@dataclass(frozen=True)
class DatasetError:
    """A rejected or partly wrong line; ``line`` is 1-based so editors can jump to it."""

    line: int
    reason: str

    def __str__(self) -> str:
        return f"line {self.line}: {self.reason}"


def load_eval_file(path: Path) -> tuple[list[EvalQuestion], list[DatasetError]]:
    """Parse ``path`` leniently and return the valid questions plus every problem found.

    Only a missing or unreadable file raises, because then there is nothing to
    evaluate at all; a bad line is reported and skipped so the run goes on.
    Blank lines and lines starting with ``//`` or ``#`` are comments.
    """
    path = Path(path)
    try:
        # utf-8-sig: files saved from Windows editors often start with a BOM.
        text = path.read_text(encoding="utf-8-sig")
    except FileNotFoundError as exc:
        raise FileNotFoundError(f"eval file not found: {path}") from exc
    except UnicodeDecodeError as exc:
        raise ValueError(f"eval file {path} is not valid UTF-8: {exc}") from exc
    except OSError as exc:
        raise ValueError(f"cannot read eval file {path}: {exc.strerror or exc}") from exc

    questions: list[EvalQuestion] = []
    errors: list[DatasetError] = []
    first_line_of: dict[str, int] = {}

    for number, record in jsonl_objects(text):
        if isinstance(record, DatasetError):
            errors.append(record)
            continue
        line_errors: list[str] = []
        question = _parse_record(record, number, line_errors)
        errors.extend(DatasetError(number, reason) for reason in line_errors)
        if question is None:
            continue
        if question.id in first_line_of:
            errors.append(
                DatasetError(
                    number,
                    f"duplicate id {question.id!r} (first on line {first_line_of[question.id]})",
                )
            )
            continue
        first_line_of[question.id] = number
        questions.append(question)

    return questions, errors


def jsonl_objects(text: str) -> Iterator[tuple[int, dict[str, Any] | DatasetError]]:
    """(line, object) for each JSONL line, or (line, the reason it is not an object).

    Blank lines and lines starting with ``//`` or ``#`` are comments; shared by the
    eval loader and the format converter so both read a file the same way.
    """
    for number, raw in enumerate(text.splitlines(), start=1):
        stripped = raw.strip()
        if not stripped or stripped.startswith(("//", "#")):
            continue
        try:
            record = json.loads(stripped)
        except json.JSONDecodeError as exc:
            yield number, DatasetError(number, f"invalid JSON: {exc.msg} (col {exc.colno})")
            continue
        if not isinstance(record, dict):
            yield number, DatasetError(number, f"expected a JSON object, got {_json_type(record)}")
            continue
        yield number, record


def unknown_sources(
    questions: Sequence[EvalQuestion], known_ids: Collection[str]
) -> dict[str, list[str]]:
    """Map each expected source id missing from the index to the questions naming it.

    A typo in an expected id silently turns every retrieval metric for that
    question into a miss, so the harness warns about these by name. Order
    follows first appearance so the warning reads in file order.
    """
    known = known_ids if isinstance(known_ids, set | frozenset | dict) else set(known_ids)
    missing: dict[str, list[str]] = {}
    for question in questions:
        for source in question.expected_sources:
            if source in known:
                continue
            ids = missing.setdefault(source, [])
            if question.id not in ids:
                ids.append(question.id)
    return missing


def parse_record(record: dict[str, Any], line: int) -> tuple[EvalQuestion | None, list[str]]:
    """Validate one record (from any format); every problem on it, or the question.

    Other readers (CSV, ragas rows) build records and share the JSONL rules through this.
    """
    errors: list[str] = []
    question = _parse_record(record, line, errors)
    return question, errors


def _parse_record(record: dict[str, Any], number: int, errors: list[str]) -> EvalQuestion | None:
    """Check every field so one pass reports all problems on the line, not just the first."""
    values: dict[str, Any] = {}
    parsers = (
        ("id", lambda: _parse_id(record, number)),
        ("question", lambda: _parse_question(record)),
        ("expected_sources", lambda: _parse_expected_sources(record)),
        ("must_mention", lambda: _parse_must_mention(record.get("must_mention"))),
        ("history", lambda: _parse_history(record.get("history"))),
        ("reference_answer", lambda: _parse_reference_answer(record.get("reference_answer"))),
        ("kind", lambda: _parse_kind(record.get("kind"))),
        ("exclude_sources", lambda: _parse_sources(record.get("exclude_sources", []),
                                                   "exclude_sources")),
    )
    for name, parse in parsers:
        try:
            values[name] = parse()
        except DatasetLineError as exc:
            errors.append(str(exc))
    if errors:
        return None
    extra = {key: value for key, value in record.items() if key not in _KNOWN_FIELDS}
    return EvalQuestion(**values, extra=extra, line=number)


def _parse_id(record: dict[str, Any], number: int) -> str:
    """A missing id gets a line-based one so results can still be referred to."""
    value = record.get("id")
    if value is None:
        return f"line{number}"
    if not isinstance(value, str) or not value.strip():
        raise DatasetLineError("'id' must be a non-empty string")
    return value.strip()


def _parse_question(record: dict[str, Any]) -> str:
    if "question" not in record:
        raise DatasetLineError("missing field 'question'")
    value = record["question"]
    if not isinstance(value, str) or not value.strip():
        raise DatasetLineError("'question' must be a non-empty string")
    return value.strip()


def _parse_expected_sources(record: dict[str, Any]) -> tuple[str, ...]:
    """Required even though it may be empty: a forgotten field must not turn into a refusal test."""
    if "expected_sources" not in record:
        raise DatasetLineError("missing field 'expected_sources'")
    return _parse_sources(record["expected_sources"], "expected_sources")


def _parse_sources(value: Any, name: str) -> tuple[str, ...]:
    if not isinstance(value, list) or not all(
        isinstance(item, str) and item.strip() for item in value
    ):
        raise DatasetLineError(f"'{name}' must be a list of strings")
    return tuple(dict.fromkeys(item.strip() for item in value))


def _parse_must_mention(value: Any) -> tuple[tuple[str, ...], ...]:
    """A bare string is a one-alternative group, the common case when writing by hand.

    Empty alternatives are rejected because an empty string occurs in every
    answer and would make the group trivially met.
    """
    if value is None:
        return ()
    message = "'must_mention' must be a list of groups (strings or lists of strings)"
    if not isinstance(value, list):
        raise DatasetLineError(message)
    groups: list[tuple[str, ...]] = []
    for index, group in enumerate(value, start=1):
        alternatives = [group] if isinstance(group, str) else group
        if not isinstance(alternatives, list) or not all(
            isinstance(item, str) for item in alternatives
        ):
            raise DatasetLineError(message)
        cleaned = tuple(item.strip() for item in alternatives)
        if not cleaned or not all(cleaned):
            raise DatasetLineError(
                f"'must_mention' group {index} is empty or has an empty alternative")
        groups.append(cleaned)
    return tuple(groups)


def _parse_history(value: Any) -> tuple[Message, ...]:
    """The shared history rules (:func:`assistant.history.parse_history`), reported as a
    line error so the rest of the file is still evaluated."""
    try:
        return parse_history(value)
    except HistoryError as exc:
        raise DatasetLineError(str(exc)) from exc


def _parse_reference_answer(value: Any) -> str | None:
    if value is None:
        return None
    if not isinstance(value, str):
        raise DatasetLineError("'reference_answer' must be a string")
    return value.strip() or None


def _parse_kind(value: Any) -> str:
    if value is None:
        return DEFAULT_KIND
    if not isinstance(value, str) or not value.strip():
        raise DatasetLineError("'kind' must be a non-empty string")
    return value.strip()


def _json_type(value: Any) -> str:
    """Names the JSON type, since the Python type name would confuse eval-file authors."""
    if isinstance(value, list):
        return "array"
    if isinstance(value, str):
        return "string"
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int | float):
        return "number"
    return "null"
