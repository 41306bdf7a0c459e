"""The rate limit the workers of ``serve --workers N`` share: the same sliding window as
the in-memory limiter, counted in one SQLite file that several limiters (one per worker)
open. Across real processes: tests/web/test_workers.py."""

from __future__ import annotations

import random
from pathlib import Path

from assistant.web.security import RateLimiter
from assistant.web.state import SharedRateLimiter


def test_the_same_window_as_the_in_memory_limiter(tmp_path: Path) -> None:
    """A random sequence of hits from a few clients gets the same answers, retry times
    included, from both limiters."""
    shared = SharedRateLimiter(3, 10.0, tmp_path / "rate.sqlite3", "client")
    memory = RateLimiter(3, 10.0)
    rng = random.Random(17)
    now = 1000.0
    answers = []
    for _ in range(400):
        now += rng.choice((0.1, 0.5, 1.0, 4.0))
        client = rng.choice(("ip:a", "ip:b", "ip:c"))
        answers.append((shared.hit(client, now), memory.hit(client, now)))
    assert all(a == b for a, b in answers), answers
    assert any(a is not None for a, _ in answers)  # the limit did answer sometimes
    assert any(a is None for a, _ in answers)


def test_limiters_on_one_file_share_the_count(tmp_path: Path) -> None:
    path = tmp_path / "rate.sqlite3"
    first = SharedRateLimiter(2, 60.0, path, "client")
    second = SharedRateLimiter(2, 60.0, path, "client")  # another worker's
    assert first.hit("ip:a", 100.0) is None
    assert second.hit("ip:a", 101.0) is None
    assert first.hit("ip:a", 102.0) == 58.0  # the oldest hit leaves the window at 160
    assert second.hit("ip:a", 103.0) == 57.0
    assert second.hit("ip:b", 103.0) is None  # another client, its own count
    assert first.hit("ip:a", 160.5) is None  # the first hit has left the window


def test_named_limits_in_one_file_are_apart(tmp_path: Path) -> None:
    path = tmp_path / "rate.sqlite3"
    questions = SharedRateLimiter(1, 60.0, path, "client")
    reads = SharedRateLimiter(1, 60.0, path, "reads")
    assert questions.hit("ip:a", 1.0) is None
    assert reads.hit("ip:a", 1.0) is None
    assert questions.hit("ip:a", 2.0) is not None
    assert reads.hit("ip:a", 2.0) is not None


def test_off_writes_nothing(tmp_path: Path) -> None:
    path = tmp_path / "rate.sqlite3"
    limiter = SharedRateLimiter(0, 60.0, path, "client")
    assert not limiter.enabled
    assert all(limiter.hit("ip:a") is None for _ in range(100))
    assert not path.exists()


def test_expired_hits_of_every_client_are_swept(tmp_path: Path) -> None:
    import sqlite3

    from assistant.web.state import SWEEP_EVERY

    path = tmp_path / "rate.sqlite3"
    limiter = SharedRateLimiter(5, 1.0, path, "client")
    for i in range(SWEEP_EVERY):  # each address once, then never again
        limiter.hit(f"ip:{i}", float(i))
    with sqlite3.connect(path) as conn:
        (rows,) = conn.execute("SELECT count(*) FROM hits").fetchone()
    assert rows <= 2, rows  # only the hits still in the window at the sweep
    limiter.close()


def test_one_process_counts_in_memory_workers_in_the_shared_file(tmp_path: Path) -> None:
    from assistant.config import Settings
    from assistant.web.server import build_limiter

    one = Settings(index_dir=tmp_path, rate_limit="5/minute")
    assert isinstance(build_limiter(one, "client", one.rate_limit), RateLimiter)
    two = one.model_copy(update={"workers": 2, "state_dir": tmp_path / "state"})
    shared = build_limiter(two, "client", two.rate_limit)
    assert isinstance(shared, SharedRateLimiter)
    assert shared.path == tmp_path / "state" / "rate-limits.sqlite3"
    assert (shared.limit, shared.window) == (5, 60.0)
    assert Settings(index_dir=tmp_path, port=8123).shared_state_dir == tmp_path / "serve-8123"
