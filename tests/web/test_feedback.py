"""Feedback storage and its way back into evaluation."""

from __future__ import annotations

import io
import json
import sqlite3
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from assistant.cli import EXIT_ERROR, main
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


def _age(db: Path, days: int, ids: list[int]) -> None:
    """Make rows look ``days`` old, as if written then."""
    when = (datetime.now(UTC) - timedelta(days=days)).isoformat(timespec="seconds")
    with sqlite3.connect(db) as conn:
        conn.executemany("UPDATE feedback SET created_at = ? WHERE id = ?",
                         [(when, i) for i in ids])
    conn.close()


def test_personal_data_is_masked_before_it_is_stored(tmp_path: Path) -> None:
    db = tmp_path / "feedback.sqlite3"
    store = FeedbackStore(db)
    record_id = store.record(
        question="Gäller det eleven 811218-9876 (KS 2023/123)?", rating=-1,
        answer="Ring 08-123 456 78 [1].", sources=SOURCES, citations=[1],
        history=[{"role": "user", "content": "Min mejl: per@exempel.se"}])
    store.update(record_id, comment="Fel, ring mig på +46 70 123 45 67 före 2024-05-06.")
    # What is on disk, read with SQLite itself: nothing of it in any column.
    with sqlite3.connect(db) as conn:
        raw = " ".join(str(v) for row in conn.execute("SELECT * FROM feedback") for v in row)
    conn.close()
    for secret in ("811218-9876", "08-123 456 78", "per@exempel.se", "70 123 45 67"):
        assert secret not in raw
    record = store.all()[0]
    assert record.question == "Gäller det eleven [personnummer] (KS 2023/123)?"
    assert record.answer == "Ring [telefonnummer] [1]."
    assert record.history[0]["content"] == "Min mejl: [e-postadress]"
    assert record.comment == "Fel, ring mig på [telefonnummer] före 2024-05-06."


def test_old_rows_are_purged_by_a_write_at_most_hourly(tmp_path: Path) -> None:
    db = tmp_path / "feedback.sqlite3"
    up, down = _fill(FeedbackStore(db, retention_days=30))
    _age(db, 31, [up])
    _age(db, 29, [down])
    store = FeedbackStore(db, retention_days=30)  # a restarted server: its first write purges
    fresh = store.record(question="Ny fråga", answer="Svar", rating=1)
    assert [r.id for r in store.all()] == [down, fresh]
    _age(db, 40, [down])
    store.record(question="Till", answer="Svar", rating=1)  # within the hour: no purge
    assert down in [r.id for r in store.all()]
    assert store.purge() == 1 and down not in [r.id for r in store.all()]
    keep_all = FeedbackStore(db, retention_days=0)
    _age(db, 4000, [fresh])
    assert keep_all.purge() == 0 and fresh in [r.id for r in keep_all.all()]


def test_cli_purge_and_delete(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                              capsys: pytest.CaptureFixture[str]) -> None:
    db = tmp_path / "feedback.sqlite3"
    up, down = _fill(FeedbackStore(db))
    _age(db, 400, [up])
    monkeypatch.setenv("ASSISTANT_FEEDBACK_DB", str(db))
    monkeypatch.setenv("ASSISTANT_FEEDBACK_RETENTION_DAYS", "365")
    assert main(["feedback", "purge"]) == 0
    assert "1 svar äldre än 365 dagar" in capsys.readouterr().out
    assert [r.id for r in FeedbackStore(db).all()] == [down]
    assert main(["feedback", "delete", "--id", str(down)]) == 0
    assert f"{down} borttagen" in capsys.readouterr().out
    assert FeedbackStore(db).all() == []
    assert main(["feedback", "delete", "--id", str(down)]) == EXIT_ERROR
    assert f"fel: Det finns ingen återkoppling med id {down}" in capsys.readouterr().err
