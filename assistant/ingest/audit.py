"""Who changed the knowledge base, and how: an append-only JSON-lines file.

Why a file of lines: each change is one ``write`` of one line in append mode, so
entries are never rewritten and a crash loses at most the line being written; any log
shipper or ``jq`` reads it; ``assistant audit export`` prints it. An entry names the
admin key by its id (a hash prefix, :func:`assistant.web.auth.admin_key_id`), never the
key; free text an editor typed is not logged, only the document id (a file name) and
hashes, and an error message is masked like any logged text (:mod:`assistant.privacy`).
"""

from __future__ import annotations

import datetime as dt
import json
import os
import threading
from collections.abc import Iterator
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Literal

from assistant.privacy import mask

__all__ = ["ACTIONS", "AuditEntry", "AuditLog"]

Action = Literal["upload", "replace", "metadata", "delete", "reindex"]
Outcome = Literal["ok", "unchanged", "failed"]
ACTIONS: tuple[Action, ...] = ("upload", "replace", "metadata", "delete", "reindex")


@dataclass(frozen=True)
class AuditEntry:
    """One change: when, by which key, what, to which document, hashes before and after."""

    time: str
    key_id: str
    action: Action
    doc_id: str | None
    old_hash: str | None
    new_hash: str | None
    outcome: Outcome
    job: str | None = None
    error: str | None = None


class AuditLog:
    """Appends entries to one file and reads them back; thread-safe within a process,
    and ``O_APPEND`` keeps lines whole between processes."""

    def __init__(self, path: Path) -> None:
        self.path = Path(path)
        self._lock = threading.Lock()

    def record(self, key_id: str, action: Action, doc_id: str | None, old_hash: str | None,
               new_hash: str | None, outcome: Outcome, job: str | None = None,
               error: str | None = None) -> AuditEntry:
        entry = AuditEntry(
            time=dt.datetime.now(dt.UTC).isoformat(timespec="seconds"), key_id=key_id,
            action=action, doc_id=doc_id, old_hash=old_hash, new_hash=new_hash,
            outcome=outcome, job=job, error=mask(error) if error else None)
        line = json.dumps(asdict(entry), ensure_ascii=False) + "\n"
        with self._lock:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            fd = os.open(self.path, os.O_RDWR | os.O_APPEND | os.O_CREAT, 0o600)
            try:
                size = os.fstat(fd).st_size
                # A line cut short by a crash must not swallow this one.
                if size and os.pread(fd, 1, size - 1) != b"\n":
                    line = "\n" + line
                os.write(fd, line.encode("utf-8"))
            finally:
                os.close(fd)
        return entry

    def lines(self) -> Iterator[str]:
        """The raw lines, oldest first (what ``assistant audit export`` prints)."""
        if not self.path.exists():
            return
        with self.path.open(encoding="utf-8") as handle:
            for line in handle:
                if line.strip():
                    yield line.rstrip("\n")

    def entries(self, limit: int | None = None) -> list[dict[str, object]]:
        """The entries as objects, newest first, at most ``limit``; a damaged line (a
        crash mid-write) is skipped rather than hiding the rest."""
        found: list[dict[str, object]] = []
        for line in self.lines():
            try:
                value = json.loads(line)
            except json.JSONDecodeError:
                continue
            if isinstance(value, dict):
                found.append(value)
        found.reverse()
        return found[:limit] if limit is not None else found
