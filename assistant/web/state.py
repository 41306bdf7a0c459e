"""What the workers of one ``assistant serve --workers N`` share: the rate limits.

Why SQLite: the workers are processes on one machine, the state is a few rows per client,
and the standard library has it; a limit that each worker counted in its own memory
would let a client through N times as often, depending on which worker its connection
reached. The file lives in the server's state folder (``ASSISTANT_STATE_DIR``, by default
``<index_dir>/serve-<port>``), which ``serve`` empties when it starts, so the clock it
stores (``time.monotonic``, one clock for every process on the machine) is never read
after a reboot.

Sessions need no shared state: the cookie is signed (:class:`~assistant.web.auth.
SessionCookies`), and ``serve`` gives every worker the same secret. Metrics are shared by
prometheus_client's multiprocess mode (:mod:`assistant.web.metrics`).

One server process (``--workers 1``, the tests' in-process servers) keeps the in-memory
:class:`~assistant.web.security.RateLimiter`: nothing to share, and no file to write.
"""

from __future__ import annotations

import sqlite3
import threading
import time
from pathlib import Path

__all__ = ["RATE_FILE", "SharedRateLimiter"]

RATE_FILE = "rate-limits.sqlite3"
# Hits between two sweeps of every client's expired hits (one client's are removed on its
# own every hit): bounds the file when many addresses come once.
SWEEP_EVERY = 1000
# Seconds a worker waits for another's write to the file (each takes microseconds).
BUSY_SECONDS = 5.0


class SharedRateLimiter:
    """The same sliding window as :class:`~assistant.web.security.RateLimiter` (at most
    ``limit`` hits per ``window`` seconds per client, ``limit == 0`` off), counted in a
    SQLite file every worker opens.

    Each hit is one short write transaction (``BEGIN IMMEDIATE``: the count and the new
    hit cannot interleave with another worker's), in WAL mode without fsync: the rows
    matter only while the server runs. ``name`` keeps the limits that share a file apart
    (questions, reads, a widget key's budget).
    """

    def __init__(self, limit: int, window: float, path: Path, name: str) -> None:
        self.limit = limit
        self.window = window
        self.name = name
        self.path = path
        self._lock = threading.Lock()  # one connection, used from the loop and the UI's threads
        self._conn: sqlite3.Connection | None = None
        self._since_sweep = 0

    @property
    def enabled(self) -> bool:
        return self.limit > 0

    def _connection(self) -> sqlite3.Connection:
        if self._conn is None:
            conn = sqlite3.connect(self.path, timeout=BUSY_SECONDS, isolation_level=None,
                                   check_same_thread=False)
            conn.execute("PRAGMA journal_mode=WAL")
            conn.execute("PRAGMA synchronous=OFF")
            conn.execute("CREATE TABLE IF NOT EXISTS hits "
                         "(bucket TEXT NOT NULL, t REAL NOT NULL)")
            conn.execute("CREATE INDEX IF NOT EXISTS hits_bucket ON hits (bucket, t)")
            self._conn = conn
        return self._conn

    def hit(self, client: str, now: float | None = None) -> float | None:
        """Count one request; ``None`` if allowed, else seconds until the next one may go."""
        if not self.enabled:
            return None
        now = time.monotonic() if now is None else now
        bucket = f"{self.name}:{client}"
        with self._lock:
            conn = self._connection()
            conn.execute("BEGIN IMMEDIATE")
            try:
                conn.execute("DELETE FROM hits WHERE bucket = ? AND t <= ?",
                             (bucket, now - self.window))
                count, oldest = conn.execute(
                    "SELECT count(*), min(t) FROM hits WHERE bucket = ?", (bucket,)).fetchone()
                if count >= self.limit:
                    retry: float | None = max(oldest + self.window - now, 0.001)
                else:
                    retry = None
                    conn.execute("INSERT INTO hits VALUES (?, ?)", (bucket, now))
                self._since_sweep += 1
                if self._since_sweep >= SWEEP_EVERY:
                    self._since_sweep = 0
                    conn.execute("DELETE FROM hits WHERE bucket LIKE ? AND t <= ?",
                                 (f"{self.name}:%", now - self.window))
                conn.execute("COMMIT")
            except BaseException:
                conn.execute("ROLLBACK")
                raise
            return retry

    def close(self) -> None:
        with self._lock:
            if self._conn is not None:
                self._conn.close()
                self._conn = None
