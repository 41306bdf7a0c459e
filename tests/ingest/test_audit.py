"""The admin audit log (issue 21, point 4): append-only JSON lines, key ids only, masked
error text, damaged lines skipped."""

from __future__ import annotations

import json
from pathlib import Path

from assistant.ingest.audit import AuditLog


def test_entries_are_appended_and_read_newest_first(tmp_path: Path) -> None:
    log = AuditLog(tmp_path / "admin" / "audit.jsonl")
    log.record("ak_1", "upload", "a.txt", None, "h1", "ok", "job1")
    log.record("ak_2", "delete", "a.txt", "h1", None, "failed", "job2",
               error="ring 070-123 45 67 eller anna@example.se")
    lines = list(log.lines())
    assert len(lines) == 2 and json.loads(lines[0])["action"] == "upload"
    newest = log.entries()[0]
    assert newest["key_id"] == "ak_2" and newest["old_hash"] == "h1"
    assert "070-123 45 67" not in str(newest["error"]) and "anna@example.se" not in \
        str(newest["error"])
    assert oct((tmp_path / "admin" / "audit.jsonl").stat().st_mode)[-3:] == "600"


def test_a_damaged_line_hides_nothing_else(tmp_path: Path) -> None:
    path = tmp_path / "audit.jsonl"
    log = AuditLog(path)
    log.record("ak_1", "reindex", None, None, None, "ok")
    with path.open("a", encoding="utf-8") as handle:
        handle.write('{"time": "2026-12-0')  # a crash mid-line
    log2 = AuditLog(path)
    log2.record("ak_1", "metadata", "b.txt", "h", "h", "ok")
    assert [e["action"] for e in log2.entries()] == ["metadata", "reindex"]
    assert len(log2.entries(limit=1)) == 1
