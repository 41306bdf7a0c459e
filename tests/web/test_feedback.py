"""Feedback storage and its way back into evaluation."""

from __future__ import annotations

import io
import json
from pathlib import Path

import pytest

from assistant.cli import main
from assistant.evaluation.dataset import load_eval_file
from assistant.web.feedback import FeedbackStore

SOURCES = [
    {"n": 1, "id": "004_02e4e99ec918efc6.txt", "title": "SKR-nätverk", "text": "…"},
    {"n": 2, "id": "002_14c7ea9898707bbb.txt", "title": "Utbyte", "text": "…"},
    {"n": 3, "id": "004_02e4e99ec918efc6.txt", "title": "SKR-nätverk", "text": "…"},
]


def _fill(store: FeedbackStore) -> tuple[int, int]:
    up = store.record(question="Vad gjorde Trollhättan?", answer="Bra svar [1].", rating=1,
                      sources=SOURCES, citations=[1])
    down = store.record(question="Vem var värd?", answer="Fel svar [3] [2].", rating=-1,
                        sources=SOURCES, citations=[3, 2],
                        history=[{"role": "user", "content": "Vad gjorde Trollhättan?"},
                                 {"role": "assistant", "content": "Bra svar [1]."}],
                        comment="  Nämner inte värden.  ", mode="extractive", channel="ui")
    return up, down


def test_record_update_and_read(tmp_path: Path) -> None:
    store = FeedbackStore(tmp_path / "sub" / "feedback.sqlite3")
    assert store.all() == []  # nothing created until something is stored
    up, down = _fill(store)
    records = store.all()
    assert [r.id for r in records] == [up, down]
    assert records[1].comment == "Nämner inte värden."
    assert records[1].cited_source_ids() == ["004_02e4e99ec918efc6.txt",
                                             "002_14c7ea9898707bbb.txt"]
    assert records[1].created_at.endswith("+00:00")
    assert store.update(up, comment="Tydligt!") and store.all(rating=1)[0].comment == "Tydligt!"
    assert not store.update(9999, comment="x")
    with pytest.raises(ValueError):
        store.record(question="q", answer="a", rating=0)


def test_malformed_api_sources_do_not_break_the_export(tmp_path: Path) -> None:
    """/api/feedback stores sources as the client sent them; odd entries cite nothing."""
    store = FeedbackStore(tmp_path / "feedback.sqlite3")
    store.record(question="q", answer="a [1] [2]", rating=-1, citations=[1, 2],
                 sources=[{"n": "x", "id": "a.txt"}, {"id": "b.txt"}, {"n": None, "id": 1},
                          {"n": "2", "id": "c.txt"}])
    out = io.StringIO()
    assert store.export_eval(out) == 1
    assert json.loads(out.getvalue())["expected_sources"] == ["c.txt"]


def test_export_eval_lines_load_in_the_harness(tmp_path: Path) -> None:
    store = FeedbackStore(tmp_path / "feedback.sqlite3")
    _, down = _fill(store)
    out = io.StringIO()
    assert store.export_eval(out) == 1  # only thumbs-down
    line = json.loads(out.getvalue())
    assert line["id"] == f"feedback-{down}"
    assert line["expected_sources"] == ["004_02e4e99ec918efc6.txt", "002_14c7ea9898707bbb.txt"]
    assert line["must_mention"] == [] and line["reference_answer"] is None
    assert line["kind"] == "feedback" and line["comment"] == "Nämner inte värden."
    assert line["needs_review"] is True and len(line["history"]) == 2

    path = tmp_path / "from-feedback.jsonl"
    path.write_text(out.getvalue(), encoding="utf-8")
    questions, errors = load_eval_file(path)
    assert errors == []
    assert questions[0].kind == "feedback" and questions[0].extra["comment"]


def test_cli_export(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                    capsys: pytest.CaptureFixture[str]) -> None:
    db = tmp_path / "feedback.sqlite3"
    _fill(FeedbackStore(db))
    monkeypatch.setenv("ASSISTANT_FEEDBACK_DB", str(db))
    out = tmp_path / "eval.jsonl"
    assert main(["feedback", "export", "--format", "eval", "--out", str(out)]) == 0
    assert "1 rader" in capsys.readouterr().err
    assert json.loads(out.read_text(encoding="utf-8"))["kind"] == "feedback"
    assert main(["feedback", "export", "--format", "eval"]) == 0
    assert json.loads(capsys.readouterr().out)["comment"] == "Nämner inte värden."
