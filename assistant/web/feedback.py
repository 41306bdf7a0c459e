"""Thumbs up/down from the chat UI and the API, kept in SQLite.

Feedback is only useful if it can flow back into evaluation: every thumbs-down
becomes a candidate eval line (``assistant feedback export --format eval``)
that a person checks and completes before it joins an eval file. SQLite keeps
this dependency-free and lets the operator point ``ASSISTANT_FEEDBACK_DB`` at a
shared volume when several replicas run.

What users typed is personal data until shown otherwise: the question, the answer, the
history and the comment are masked (:func:`assistant.privacy.mask`) before they are
written, and rows older than ``ASSISTANT_FEEDBACK_RETENTION_DAYS`` are deleted by the
store itself (at most once an hour, on a write: no thread polls) or by
``assistant feedback purge``; ``assistant feedback delete --id`` answers one person's
request (docs/privacy.md).
"""

from __future__ import annotations

import errno
import json
import shutil
import sqlite3
import threading
import time
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, TextIO

from assistant.errors import StorageError
from assistant.history import History
from assistant.privacy import mask, mask_json

__all__ = ["FeedbackRecord", "FeedbackStore", "MAX_COMMENT_CHARS"]

MAX_COMMENT_CHARS = 2000
# What one row may hold at most, so rows x ASSISTANT_FEEDBACK_MAX_ROWS bounds the file.
MAX_ANSWER_CHARS = 20_000
MAX_SOURCE_TEXT_CHARS = 2_000
MAX_STORED_SOURCES = 20
SOURCE_FIELDS = ("n", "id", "title", "municipality", "date", "url", "chunk_id", "score", "text")
RETRY_SECONDS = 30
LOW_DISK_BYTES = 1 << 20
# How often a write also deletes the rows past their retention: often enough that a row
# outlives its retention by at most this, rarely enough to cost nothing.
PURGE_EVERY_SECONDS = 3600


_SCHEMA = """
CREATE TABLE IF NOT EXISTS feedback (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    created_at TEXT NOT NULL,
    question TEXT NOT NULL,
    answer TEXT NOT NULL,
    sources TEXT NOT NULL,
    citations TEXT NOT NULL,
    history TEXT NOT NULL,
    rating INTEGER NOT NULL CHECK (rating IN (-1, 1)),
    comment TEXT,
    mode TEXT,
    channel TEXT
);
"""


@dataclass(frozen=True)
class FeedbackRecord:
    """One stored rating with everything needed to reproduce what the user saw."""

    id: int
    created_at: str
    question: str
    answer: str
    sources: list[dict[str, Any]]
    citations: list[int]
    history: list[dict[str, str]]
    rating: int
    comment: str | None
    mode: str | None
    channel: str | None

    def cited_source_ids(self) -> list[str]:
        """Distinct document ids the answer actually cited, in citation order.

        These are the eval file's ``expected_sources`` candidates: what the user
        judged is what the answer pointed at, and a reviewer corrects it by hand.
        """
        by_n: dict[int, str] = {}
        for source in self.sources:
            try:
                by_n[int(source["n"])] = str(source["id"])
            except (KeyError, TypeError, ValueError):
                continue  # stored as an API client sent it: a malformed entry cites nothing
        ids = [by_n[n] for n in self.citations if n in by_n]
        return list(dict.fromkeys(ids))


class FeedbackStore:
    """A tiny SQLite-backed store; one connection per call keeps it thread-safe.

    Bounded: at most ``max_rows`` rows of bounded size, so nobody can fill the
    disk with votes. A full store refuses new rows (507) rather than dropping
    old ones, which would let a flood erase real feedback.
    """

    def __init__(self, path: Path, max_rows: int = 10_000,
                 retention_days: int | None = None) -> None:
        self.path = Path(path)
        self.max_rows = max_rows
        # None or 0: kept until deleted by hand.
        self.retention_days = retention_days or None
        self._init_lock = threading.Lock()
        self._ready = False
        self._purged_at: float | None = None  # time.monotonic() of the last purge

    @contextmanager
    def _connect(self) -> Iterator[sqlite3.Connection]:
        """A connection in a transaction; storage failures become StorageError."""
        try:
            # Created lazily, so merely building the app never touches the disk.
            with self._init_lock:
                if not self._ready:
                    self.path.parent.mkdir(parents=True, exist_ok=True)
            conn = sqlite3.connect(self.path, timeout=10)
            try:
                with self._init_lock:
                    if not self._ready:
                        conn.execute("PRAGMA journal_mode=WAL")
                        conn.executescript(_SCHEMA)
                        self._ready = True
                with conn:
                    yield conn
            finally:
                conn.close()
        except (sqlite3.Error, OSError) as exc:
            raise _storage_error(exc, self.path) from exc

    def record(
        self,
        *,
        question: str,
        answer: str,
        rating: int,
        sources: Sequence[Mapping[str, Any]] = (),
        citations: Sequence[int] = (),
        history: History = (),
        comment: str | None = None,
        mode: str | None = None,
        channel: str | None = None,
    ) -> int:
        """Store one rating (+1 or -1) and return its id, so a comment can follow later."""
        if rating not in (-1, 1):
            raise ValueError("rating must be 1 (tumme upp) or -1 (tumme ned)")
        row = (
            _timestamp(datetime.now(UTC)),
            mask(question),
            mask(answer[:MAX_ANSWER_CHARS]),
            json.dumps(_clean_sources(sources), ensure_ascii=False),
            json.dumps([int(n) for n in citations]),
            json.dumps(mask_json([dict(m) for m in history]), ensure_ascii=False),
            rating,
            _clean_comment(comment),
            mode,
            channel,
        )
        with self._connect() as conn:
            self._purge_due(conn)
            (count,) = conn.execute("SELECT COUNT(*) FROM feedback").fetchone()
            if count >= self.max_rows:
                raise StorageError(
                    507, f"Återkopplingen är full ({self.max_rows} svar sparade). Be "
                         "administratören exportera och tömma den (assistant feedback export), "
                         "eller höja ASSISTANT_FEEDBACK_MAX_ROWS.")
            cur = conn.execute(
                "INSERT INTO feedback (created_at, question, answer, sources, citations, history,"
                " rating, comment, mode, channel) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                row,
            )
            return int(cur.lastrowid or 0)

    def update(self, record_id: int, *, rating: int | None = None,
               comment: str | None = None) -> bool:
        """Change the rating or add a comment after the fact (the UI asks for it second)."""
        sets: list[str] = []
        values: list[Any] = []
        if rating is not None:
            if rating not in (-1, 1):
                raise ValueError("rating must be 1 or -1")
            sets.append("rating = ?")
            values.append(rating)
        if comment is not None:
            sets.append("comment = ?")
            values.append(_clean_comment(comment))
        if not sets:
            return False
        with self._connect() as conn:
            self._purge_due(conn)
            cur = conn.execute(f"UPDATE feedback SET {', '.join(sets)} WHERE id = ?",
                               (*values, record_id))
            return cur.rowcount > 0

    def purge(self, now: datetime | None = None) -> int:
        """Delete the rows older than the retention; how many. Nothing without one."""
        if self.retention_days is None or not self.path.exists():
            return 0
        with self._connect() as conn:
            return self._purge(conn, now)

    def delete(self, record_id: int) -> bool:
        """Delete one row (a person's request to erase what they wrote); whether it was
        there."""
        if not self.path.exists():
            return False
        with self._connect() as conn:
            return conn.execute("DELETE FROM feedback WHERE id = ?",
                                (record_id,)).rowcount > 0

    def _purge(self, conn: sqlite3.Connection, now: datetime | None = None) -> int:
        assert self.retention_days is not None
        cutoff = (now or datetime.now(UTC)) - timedelta(days=self.retention_days)
        # created_at is ISO 8601 in UTC, all in one shape, so text order is time order.
        deleted = conn.execute("DELETE FROM feedback WHERE created_at < ?",
                               (_timestamp(cutoff),)).rowcount
        self._purged_at = time.monotonic()
        return int(deleted)

    def _purge_due(self, conn: sqlite3.Connection) -> None:
        """The purge that runs by itself: on a write, at most once per
        :data:`PURGE_EVERY_SECONDS`, so old rows go without a thread that polls."""
        if self.retention_days is None:
            return
        if self._purged_at is None or time.monotonic() - self._purged_at >= PURGE_EVERY_SECONDS:
            self._purge(conn)

    def all(self, rating: int | None = None) -> list[FeedbackRecord]:
        """Every record (optionally only one rating), oldest first."""
        if not self.path.exists():
            return []
        query = "SELECT * FROM feedback"
        params: tuple[Any, ...] = ()
        if rating is not None:
            query += " WHERE rating = ?"
            params = (rating,)
        with self._connect() as conn:
            conn.row_factory = sqlite3.Row
            rows = conn.execute(query + " ORDER BY id", params).fetchall()
        return [_from_row(row) for row in rows]

    def export_eval(self, out: TextIO) -> int:
        """Write every thumbs-down as an eval JSONL line; returns the number written.

        The lines are drafts: ``expected_sources`` is what the answer cited (maybe
        wrong, that is why it got a thumbs-down), ``must_mention`` is empty and
        ``reference_answer`` null, so a person must review each one before it
        is added to an eval file. The user's comment says what was wrong.
        """
        count = 0
        for rec in self.all(rating=-1):
            line: dict[str, Any] = {
                "id": f"feedback-{rec.id}",
                "question": rec.question,
                "expected_sources": rec.cited_source_ids(),
                "must_mention": [],
                "reference_answer": None,
                "kind": "feedback",
                "comment": rec.comment,
            }
            if rec.history:
                line["history"] = rec.history
            line["feedback_answer"] = rec.answer
            line["feedback_created_at"] = rec.created_at
            line["needs_review"] = True
            out.write(json.dumps(line, ensure_ascii=False) + "\n")
            count += 1
        return count


def _disk_full(path: Path) -> bool:
    """SQLite reports a full disk as SQLITE_FULL only sometimes (growing the WAL index
    gives an I/O error instead), so ask the file system."""
    try:
        return shutil.disk_usage(path.parent).free < LOW_DISK_BYTES
    except OSError:
        return False


def _storage_error(exc: BaseException, path: Path) -> StorageError:
    """SQLite's and the OS's failures, told apart by whether waiting can help."""
    code = getattr(exc, "sqlite_errorcode", None)
    if code == sqlite3.SQLITE_FULL or (
            isinstance(exc, OSError) and exc.errno == errno.ENOSPC) or _disk_full(path):
        return StorageError(
            507, "Disken för återkoppling är full, så din återkoppling kunde inte sparas. "
                 "Be administratören frigöra utrymme.")
    return StorageError(
        503, "Återkopplingen kunde inte sparas just nu (databasen är upptagen eller inte "
             f"nåbar). Försök igen om {RETRY_SECONDS} sekunder.", RETRY_SECONDS)


def _clean_sources(sources: Sequence[Mapping[str, Any]]) -> list[dict[str, Any]]:
    """The fields that say what the user saw, each of bounded size; clients may send more."""
    cleaned: list[dict[str, Any]] = []
    for source in list(sources)[:MAX_STORED_SOURCES]:
        item = {k: source[k] for k in SOURCE_FIELDS if k in source}
        for key, value in item.items():
            if isinstance(value, str):
                item[key] = value[:MAX_SOURCE_TEXT_CHARS]
            elif not isinstance(value, (int, float, bool)) and value is not None:
                item[key] = str(value)[:MAX_SOURCE_TEXT_CHARS]
        cleaned.append(item)
    return cleaned


def _clean_comment(comment: str | None) -> str | None:
    if comment is None:
        return None
    text = mask(comment.strip()[:MAX_COMMENT_CHARS])
    return text or None


def _timestamp(moment: datetime) -> str:
    """The one shape of ``created_at``: ISO 8601 in UTC, to the second."""
    return moment.astimezone(UTC).isoformat(timespec="seconds")


def _from_row(row: sqlite3.Row) -> FeedbackRecord:
    return FeedbackRecord(
        id=int(row["id"]),
        created_at=str(row["created_at"]),
        question=str(row["question"]),
        answer=str(row["answer"]),
        sources=json.loads(row["sources"]),
        citations=[int(n) for n in json.loads(row["citations"])],
        history=json.loads(row["history"]),
        rating=int(row["rating"]),
        comment=row["comment"],
        mode=row["mode"],
        channel=row["channel"],
    )
