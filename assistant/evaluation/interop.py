"""Reading and writing eval sets in the formats other tools use (``assistant eval convert``).

- ``eval-jsonl``: the project's own format (docs/architecture.md), one JSON object per line.
- ``eval-csv``: the same fields as a spreadsheet: ``expected_sources`` separated by
  ``;``, ``must_mention`` groups by ``;`` and alternatives by ``|``, ``history`` and any
  other structured value as JSON. A cell starting with ``[`` or ``{`` is always JSON,
  so a value that itself contains ``;`` or ``|`` still round-trips.
- ``ragas-jsonl`` / ``ragas-csv``: ragas' ``EvaluationDataset`` rows ``user_input``,
  ``reference``, ``reference_contexts``, ``response``, ``retrieved_contexts`` (lists as
  JSON in CSV). The project's own fields ride along as extra columns (``id``,
  ``expected_sources``, ``must_mention``, ``kind``, ``history``) so nothing is lost
  on the way back; ``ragas_only=True`` drops them for tools that reject extras.
- a **report** (``assistant eval --out``; ``FILE#RUN`` picks one run of a ``--compare``
  report) is read as rows with the run's answers (``response``) and passages
  (``retrieved_contexts``), which is what ragas scores.

Every row is validated with the eval loader's own rules; problems name the line and
the field, and a conversion with problems writes nothing, so nothing is dropped
silently.
"""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from assistant.errors import ConversionError
from assistant.evaluation.dataset import (
    DatasetError,
    EvalQuestion,
    jsonl_objects,
    parse_record,
)

__all__ = [
    "FORMATS",
    "ConversionError",
    "RowError",
    "convert",
    "detect_format",
    "question_record",
    "read_records",
    "write_records",
]

FORMATS = ("eval-jsonl", "eval-csv", "ragas-jsonl", "ragas-csv", "report")
OWN_COLUMNS = ("id", "question", "expected_sources", "must_mention", "history",
               "reference_answer", "kind")
RAGAS_COLUMNS = ("user_input", "reference", "reference_contexts", "response",
                 "retrieved_contexts")
# Free-text cells: taken verbatim, never read as JSON (an answer may start with "[1]").
TEXT_COLUMNS = frozenset({"id", "question", "reference_answer", "kind", "user_input",
                          "reference", "response"})


@dataclass(frozen=True)
class RowError:
    line: int
    field: str | None
    reason: str

    def __str__(self) -> str:
        where = f"rad {self.line}" + (f", fält {self.field!r}" if self.field else "")
        return f"{where}: {self.reason}"


def conversion_error(path: Path, errors: list[RowError]) -> ConversionError:
    """Every problem with its line and field, at most 50 shown; nothing was written."""
    shown = "\n".join(f"  {path}:{e.line}: {e}" for e in errors[:50])
    more = f"\n  … och {len(errors) - 50} till" if len(errors) > 50 else ""
    return ConversionError(f"{len(errors)} problem i {path}; inget skrevs:\n{shown}{more}",
                           errors)


def detect_format(path: Path, given: str | None = None) -> str:
    """``--from``/``--to`` when given, else from the name: ``*.csv`` → own CSV, ``*.jsonl`` →
    own JSONL, ``*.json`` → a report. ragas files need the explicit ``ragas-*`` format."""
    if given:
        if given not in FORMATS:
            raise ValueError(f"okänt format {given!r}; välj bland {', '.join(FORMATS)}")
        return given
    suffix = Path(str(path).partition("#")[0]).suffix.lower()
    formats = {".csv": "eval-csv", ".jsonl": "eval-jsonl", ".json": "report"}
    if suffix not in formats:
        raise ValueError(f"kan inte avgöra formatet för {path}; ange --from/--to "
                         f"({', '.join(FORMATS)})")
    return formats[suffix]


# --- own records -----------------------------------------------------------------------------


def question_record(question: EvalQuestion) -> dict[str, Any]:
    """An :class:`EvalQuestion` back as its JSONL object (optional fields only when set)."""
    record: dict[str, Any] = {"id": question.id, "question": question.question,
                              "expected_sources": list(question.expected_sources)}
    if question.must_mention:
        record["must_mention"] = [list(group) for group in question.must_mention]
    if question.history:
        record["history"] = [dict(turn) for turn in question.history]
    if question.reference_answer is not None:
        record["reference_answer"] = question.reference_answer
    if question.kind != "unspecified":
        record["kind"] = question.kind
    record.update(question.extra)
    return record


def _validated(raw: Iterable[tuple[int, dict[str, Any]]],
               errors: list[RowError]) -> list[dict[str, Any]]:
    """Run each record through the JSONL loader's rules; keep the valid ones normalised."""
    records: list[dict[str, Any]] = []
    seen: dict[str, int] = {}
    for line, record in raw:
        question, problems = parse_record(record, line)
        reported = {(e.line, e.field) for e in errors}
        for problem in problems:
            field = next((name for name in OWN_COLUMNS if f"'{name}'" in problem), None)
            if (line, field) not in reported:  # the reader already explained this one
                errors.append(RowError(line, field, problem))
        if question is None:
            continue
        if question.id in seen:
            errors.append(RowError(line, "id", f"id {question.id!r} finns redan på rad "
                                               f"{seen[question.id]}"))
            continue
        seen[question.id] = line
        records.append(question_record(question))
    return records


# --- reading ---------------------------------------------------------------------------------


def _jsonl(text: str, errors: list[RowError]) -> Iterator[tuple[int, dict[str, Any]]]:
    for line, record in jsonl_objects(text):
        if isinstance(record, DatasetError):
            errors.append(RowError(line, None, record.reason))
        else:
            yield line, record


def _csv(text: str, errors: list[RowError]) -> Iterator[tuple[int, dict[str, str]]]:
    reader = csv.DictReader(io.StringIO(text, newline=""))
    if reader.fieldnames is None:
        return
    for row in reader:
        if None in row:  # more cells than header columns
            errors.append(RowError(reader.line_num, None, "fler celler än kolumner i rubriken"))
            continue
        yield reader.line_num, {key: value for key, value in row.items() if key}


def _cell_json(value: str, line: int, field: str, errors: list[RowError]) -> Any:
    try:
        return json.loads(value)
    except json.JSONDecodeError as exc:
        errors.append(RowError(line, field, f"ogiltig JSON i cellen: {exc.msg}"))
        return None


def _is_json(value: str) -> bool:
    return value.lstrip().startswith(("[", "{"))


def _loose_json(value: str) -> tuple[bool, Any]:
    """Extra columns: a cell that parses as JSON (``true``, ``3``, ``["a"]``, ``"x"``) is that
    value, anything else is plain text. The writer encodes text that would parse, so both
    directions agree."""
    try:
        return True, json.loads(value)
    except json.JSONDecodeError:
        return False, value


def _own_from_csv(line: int, row: dict[str, str], errors: list[RowError]) -> dict[str, Any]:
    """A spreadsheet row → a JSONL-style record; empty optional cells are absent fields."""
    record: dict[str, Any] = {}
    for key, value in row.items():
        value = value or ""
        if key in TEXT_COLUMNS:
            if value.strip():
                record[key] = value
        elif key == "expected_sources":
            record[key] = (_cell_json(value, line, key, errors) if _is_json(value)
                           else [part.strip() for part in value.split(";") if part.strip()])
        elif key == "must_mention":
            if _is_json(value):
                record[key] = _cell_json(value, line, key, errors)
            elif value.strip():
                record[key] = [[alt.strip() for alt in group.split("|")]
                               for group in value.split(";") if group.strip()]
        elif value.strip():
            # history and any extra column: JSON when it looks like JSON, else the text
            record[key] = _loose_json(value)[1]
    return record


def _own_from_ragas(line: int, row: dict[str, Any], errors: list[RowError],
                    from_csv: bool) -> dict[str, Any]:
    if from_csv:
        row = _own_from_csv(line, row, errors)
        for key in ("reference_contexts", "retrieved_contexts"):
            if isinstance(row.get(key), str):  # a plain string cell is one context
                row[key] = [row[key]]
    record: dict[str, Any] = {}
    if "user_input" not in row:
        errors.append(RowError(line, "user_input", "saknas (ragas-radens fråga)"))
    if "expected_sources" not in row:
        errors.append(RowError(
            line, "expected_sources",
            "saknas: ragas-rader har inga käll-id, så det går inte att avgöra om frågan ska "
            "besvaras; lägg till kolumnen expected_sources (tom lista = frågan ska vägras)"))
    for key, value in row.items():
        if key == "user_input":
            record["question"] = value
        elif key == "reference":
            if value not in (None, ""):
                record["reference_answer"] = value
        elif key in RAGAS_COLUMNS and value in (None, "", []):
            continue  # an empty ragas column is "not given", not a field to keep
        else:
            record[key] = value
    return record


def _report_rows(spec: str) -> list[tuple[int, dict[str, Any]]]:
    """One run of a report (``report.json`` or ``report.json#dense``) as rows."""
    from assistant.evaluation.compare import load_run

    _, run = load_run(spec)
    rows: list[tuple[int, dict[str, Any]]] = []
    for number, entry in enumerate(run["questions"], start=1):
        record = {key: entry.get(key) for key in OWN_COLUMNS if entry.get(key) not in (None, [])}
        record.setdefault("expected_sources", entry.get("expected_sources") or [])
        record.update(entry.get("extra") or {})
        record["response"] = entry.get("answer", "")
        record["retrieved_contexts"] = [s.get("text", "") for s in entry.get("sources") or []]
        rows.append((entry.get("line") or number, record))
    return rows


def read_records(path: Path, fmt: str) -> list[dict[str, Any]]:
    """Every row of ``path`` as a validated own-format record; raises with all problems."""
    errors: list[RowError] = []
    if fmt == "report":  # read as a report, so FILE#RUN picks a run of a --compare report
        records = _validated(_report_rows(str(path)), errors)
        if errors:
            raise conversion_error(Path(path), errors)
        return records
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8-sig")
    except FileNotFoundError:
        raise FileNotFoundError(f"filen finns inte: {path}") from None
    except UnicodeDecodeError as exc:
        raise ValueError(f"{path} är inte UTF-8: {exc}") from None
    raw: list[tuple[int, dict[str, Any]]]
    if fmt == "eval-jsonl":
        raw = list(_jsonl(text, errors))
    elif fmt == "eval-csv":
        raw = [(line, _own_from_csv(line, row, errors)) for line, row in _csv(text, errors)]
    elif fmt == "ragas-jsonl":
        raw = [(line, _own_from_ragas(line, row, errors, False))
               for line, row in _jsonl(text, errors)]
    elif fmt == "ragas-csv":
        raw = [(line, _own_from_ragas(line, dict(row), errors, True))
               for line, row in _csv(text, errors)]
    else:
        raise ValueError(f"okänt format {fmt!r}")
    records = _validated(raw, errors)
    if errors:
        raise conversion_error(path, sorted(errors, key=lambda e: e.line))
    return records


# --- writing ---------------------------------------------------------------------------------


def _ragas_row(record: dict[str, Any], ragas_only: bool) -> dict[str, Any]:
    row: dict[str, Any] = {
        "user_input": record["question"],
        "reference": record.get("reference_answer"),
        "reference_contexts": record.get("reference_contexts", []),
        "response": record.get("response"),
        "retrieved_contexts": record.get("retrieved_contexts", []),
    }
    if not ragas_only:
        for key, value in record.items():
            if key not in ("question", "reference_answer", *RAGAS_COLUMNS):
                row[key] = value
    return row


def _needs_json(values: list[Any], separators: str) -> bool:
    return any(not isinstance(v, str) or any(s in v for s in separators) or v != v.strip()
               or not v for v in values)


def _csv_cell(key: str, value: Any) -> str:
    if value is None:
        return ""
    if key in TEXT_COLUMNS and isinstance(value, str):
        return value
    if key == "expected_sources" and isinstance(value, list):
        return json.dumps(value, ensure_ascii=False) if _needs_json(value, ";|[{") or not value \
            else "; ".join(value)
    if key == "must_mention" and isinstance(value, list):
        alternatives = [alt for group in value for alt in (group if isinstance(group, list)
                                                           else [group])]
        plain = all(isinstance(g, list) and g for g in value) and value and not _needs_json(
            alternatives, ";|[{")
        return "; ".join(" | ".join(group) for group in value) if plain \
            else json.dumps(value, ensure_ascii=False)
    if isinstance(value, str):
        # Text that would read back as JSON is written as a JSON string, so it stays text.
        return json.dumps(value, ensure_ascii=False) if _loose_json(value)[0] else value
    return json.dumps(value, ensure_ascii=False)


def write_records(path: Path, records: list[dict[str, Any]], fmt: str,
                  *, ragas_only: bool = False) -> None:
    if fmt == "report":
        raise ValueError("en rapport skrivs av assistant eval --out, inte av convert")
    rows = ([_ragas_row(r, ragas_only) for r in records] if fmt.startswith("ragas")
            else records)
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    if fmt.endswith("jsonl"):
        text = "".join(json.dumps(row, ensure_ascii=False) + "\n" for row in rows)
    else:
        base = RAGAS_COLUMNS if fmt.startswith("ragas") else OWN_COLUMNS
        columns = list(base) + [key for key in dict.fromkeys(k for row in rows for k in row)
                                if key not in base]
        buffer = io.StringIO(newline="")
        writer = csv.writer(buffer, lineterminator="\n")
        writer.writerow(columns)
        for row in rows:
            writer.writerow([_csv_cell(key, row.get(key)) for key in columns])
        text = buffer.getvalue()
    path.write_text(text, encoding="utf-8")


def convert(source: Path, target: Path, *, from_format: str | None = None,
            to_format: str | None = None, ragas_only: bool = False) -> int:
    """Read ``source``, write ``target``; returns the number of rows written."""
    records = read_records(source, detect_format(source, from_format))
    write_records(target, records, detect_format(target, to_format), ragas_only=ragas_only)
    return len(records)
