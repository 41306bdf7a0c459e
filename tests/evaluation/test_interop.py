"""Dataset interop: own JSONL ⇄ own CSV ⇄ ragas JSONL/CSV without loss, and errors that
name the line and the field."""

from __future__ import annotations

import csv
import json
from pathlib import Path
from typing import Any

import pytest

from assistant.evaluation.dataset import load_eval_file
from assistant.evaluation.interop import (
    ConversionError,
    RowError,
    convert,
    detect_format,
    read_records,
    write_records,
)
from tests.evaluation.test_harness import sample_run

ROOT = Path(__file__).resolve().parents[2]
QUESTIONS = ROOT / "eval" / "questions.jsonl"

TRICKY: list[dict[str, Any]] = [
    {"id": "t1", "question": "Vem var värd för besöket?", "kind": "followup",
     "history": [{"role": "user", "content": "Vad gjorde Trollhättan; och varför?"},
                 {"role": "assistant", "content": "De flyttade [1]."}],
     "expected_sources": ["004_02e4e99ec918efc6.txt"],
     "must_mention": [["katarina nyman", "nyman"], ["a; b | c"]],
     "reference_answer": "[1] Katarina, \"värd\"\nmed radbrytning", "owner": {"team": "x"},
     "tags": ["a", "b"]},
    {"id": "t2", "question": "Vad kostar en resa till Mars?", "expected_sources": []},
    {"id": "t3", "question": "[citat] fråga", "expected_sources": ["a.txt", "b.txt"],
     "must_mention": ["ensam"], "note": "[inte json"},
]


def row_errors(error: ConversionError) -> list[RowError]:
    assert all(isinstance(e, RowError) for e in error.errors)
    return [e for e in error.errors if isinstance(e, RowError)]


def write_jsonl(path: Path, records: list[dict[str, Any]]) -> Path:
    path.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in records),
                    encoding="utf-8")
    return path


def loaded(path: Path) -> list[Any]:
    questions, errors = load_eval_file(path)
    assert not errors
    return questions


@pytest.mark.parametrize("middle", ["ragas-jsonl", "ragas-csv", "eval-csv"])
@pytest.mark.parametrize("source", ["tricky", "committed"])
def test_round_trip_is_lossless(tmp_path: Path, middle: str, source: str) -> None:
    original = write_jsonl(tmp_path / "in.jsonl", TRICKY) if source == "tricky" else QUESTIONS
    suffix = ".csv" if middle.endswith("csv") else ".jsonl"
    convert(original, tmp_path / f"mid{suffix}", to_format=middle)
    assert convert(tmp_path / f"mid{suffix}", tmp_path / "back.jsonl", from_format=middle) \
        == len(loaded(original))
    before, after = loaded(original), loaded(tmp_path / "back.jsonl")
    assert [(q.id, q.question, q.expected_sources, q.must_mention, q.history,
             q.reference_answer, q.kind, q.extra) for q in after] == \
        [(q.id, q.question, q.expected_sources, q.must_mention, q.history,
          q.reference_answer, q.kind, q.extra) for q in before]


def test_ragas_rows_have_ragas_columns(tmp_path: Path) -> None:
    convert(write_jsonl(tmp_path / "in.jsonl", TRICKY), tmp_path / "r.jsonl",
            to_format="ragas-jsonl", ragas_only=True)
    rows = [json.loads(line) for line in (tmp_path / "r.jsonl").read_text().splitlines()]
    assert set(rows[0]) == {"user_input", "reference", "reference_contexts", "response",
                            "retrieved_contexts"}
    assert rows[0]["user_input"] == "Vem var värd för besöket?"
    convert(write_jsonl(tmp_path / "in.jsonl", TRICKY), tmp_path / "r.csv", to_format="ragas-csv")
    with (tmp_path / "r.csv").open(encoding="utf-8", newline="") as handle:
        header = next(csv.reader(handle))
    assert header[:5] == ["user_input", "reference", "reference_contexts", "response",
                          "retrieved_contexts"]
    assert {"id", "expected_sources", "must_mention"} <= set(header)


def test_report_becomes_ragas_rows_with_answers_and_contexts(tmp_path: Path) -> None:
    report = tmp_path / "report.json"
    report.write_text(json.dumps(sample_run().to_dict(), ensure_ascii=False), encoding="utf-8")
    convert(report, tmp_path / "r.jsonl", to_format="ragas-jsonl")
    rows = [json.loads(line) for line in (tmp_path / "r.jsonl").read_text().splitlines()]
    assert rows[0]["response"] == "Anna är rektor [1]."
    assert rows[0]["retrieved_contexts"][0] == "passage 1 of doc1"
    assert rows[0]["id"] == "a" and rows[0]["expected_sources"] == ["doc1"]
    assert rows[3]["expected_sources"] == []  # the unanswerable one stays unanswerable


def test_bad_rows_name_line_and_field_and_nothing_is_written(tmp_path: Path) -> None:
    bad = tmp_path / "bad.csv"
    bad.write_text("id,question,expected_sources,must_mention\n"
                   "a,Fråga ett?,x.txt,ok\n"
                   "b,,x.txt,ok\n"
                   "c,Fråga tre?,[\"x.txt\",ok\n"
                   "a,Fråga fyra?,y.txt,\n", encoding="utf-8")
    with pytest.raises(ConversionError) as caught:
        convert(bad, tmp_path / "out.jsonl")
    errors = [(e.line, e.field) for e in row_errors(caught.value)]
    assert (3, "question") in errors and (4, "expected_sources") in errors
    assert (5, "id") in errors
    assert "rad 3, fält 'question'" in str(caught.value)
    assert not (tmp_path / "out.jsonl").exists()


def test_ragas_rows_without_source_ids_are_refused_not_turned_into_refusal_tests(
        tmp_path: Path) -> None:
    path = tmp_path / "ragas.jsonl"
    path.write_text(json.dumps({"user_input": "Fråga?", "reference": "Svar."}) + "\n"
                    + "inte json\n", encoding="utf-8")
    with pytest.raises(ConversionError) as caught:
        read_records(path, "ragas-jsonl")
    reasons = {(e.line, e.field): e.reason for e in row_errors(caught.value)}
    assert "tom lista = frågan ska vägras" in reasons[(1, "expected_sources")]
    assert "invalid JSON" in reasons[(2, None)]


def test_formats_from_names_and_flags(tmp_path: Path) -> None:
    assert detect_format(Path("x.csv")) == "eval-csv"
    assert detect_format(Path("x.jsonl")) == "eval-jsonl"
    assert detect_format(Path("x.json")) == "report"
    assert detect_format(Path("x.csv"), "ragas-csv") == "ragas-csv"
    with pytest.raises(ValueError, match="ange --from/--to"):
        detect_format(Path("x.txt"))
    with pytest.raises(ValueError, match="okänt format"):
        detect_format(Path("x.csv"), "deepeval")
    with pytest.raises(ValueError, match="assistant eval --out"):
        write_records(tmp_path / "x.json", [], "report")


def test_one_run_of_a_compare_report_is_picked_with_a_hash(tmp_path: Path) -> None:
    baseline = ROOT / "eval" / "baseline.json"
    convert(Path(f"{baseline}#bm25"), tmp_path / "bm25.jsonl", to_format="ragas-jsonl")
    convert(Path(f"{baseline}#hybrid"), tmp_path / "hybrid.jsonl", to_format="ragas-jsonl")
    bm25 = [json.loads(line) for line in (tmp_path / "bm25.jsonl").read_text().splitlines()]
    hybrid = [json.loads(line) for line in (tmp_path / "hybrid.jsonl").read_text().splitlines()]
    questions = (ROOT / "eval" / "questions.jsonl").read_text(encoding="utf-8").splitlines()
    assert len(bm25) == len(hybrid) == len([q for q in questions if q.strip()])
    assert [r["response"] for r in bm25] != [r["response"] for r in hybrid]
    with pytest.raises(ValueError, match="ingen körning heter"):
        read_records(Path(f"{baseline}#nope"), "report")
