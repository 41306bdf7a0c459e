"""Running many model calls: a bounded thread pool, retry with backoff, Ctrl-C that keeps work.

A suite against a remote endpoint spends its time waiting on the network, so a few
questions in flight at once cut the wall time by that factor; the endpoint then
answers 429 or 5xx now and then, which must cost a retry after a pause, not a
wrong score. And an hour-long run stopped with Ctrl-C must still leave a report
of what was answered.
"""

from __future__ import annotations

import random
import re
import threading
import time
from collections.abc import Callable, Sequence
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from dataclasses import dataclass, field
from typing import TypeVar

__all__ = ["TRANSIENT_NOTICE", "RetryPolicy", "is_transient_error", "retry_after", "run_ordered"]

T = TypeVar("T")
R = TypeVar("R")

# The chain's fallback notice names the HTTP status (see assistant.openai_client).
TRANSIENT_NOTICE = re.compile(r"HTTP (429|5\d\d)\b")


def is_transient_error(exc: BaseException) -> bool:
    """429, 5xx, timeouts and dropped connections: worth another try after a pause."""
    import openai

    if isinstance(exc, openai.APIStatusError):
        return exc.status_code == 429 or exc.status_code >= 500
    return isinstance(exc, openai.APITimeoutError | openai.APIConnectionError)


def retry_after(exc: BaseException) -> float | None:
    """Seconds the server asked us to wait (``Retry-After``), when it said so."""
    response = getattr(exc, "response", None)
    headers = getattr(response, "headers", None)
    value = headers.get("retry-after") if headers is not None else None
    try:
        return max(0.0, float(value)) if value is not None else None
    except ValueError:
        return None


@dataclass
class RetryPolicy:
    """Exponential backoff with jitter, capped; honours ``Retry-After`` when given."""

    attempts: int = 4
    base_delay: float = 1.0
    max_delay: float = 30.0
    sleep: Callable[[float], None] = time.sleep
    retries: int = field(default=0, init=False)  # how many retries were made (for the report)
    _lock: threading.Lock = field(default_factory=threading.Lock, init=False, repr=False)

    def delay(self, attempt: int, exc: BaseException | None = None) -> float:
        asked = retry_after(exc) if exc is not None else None
        if asked is not None:
            return min(asked, self.max_delay)
        backoff = self.base_delay * (2 ** (attempt - 1))
        return min(self.max_delay, backoff * (0.5 + random.random() / 2))

    def run(self, call: Callable[[], R], retry_result: Callable[[R], bool] | None = None) -> R:
        """Call until it succeeds, raises a non-transient error, or attempts run out.

        ``retry_result`` marks a returned value as transient too (an answer that fell
        back because of a 429); after the last attempt that value is returned as is.
        """
        for attempt in range(1, self.attempts + 1):
            last = attempt == self.attempts
            try:
                result = call()
            except Exception as exc:
                if last or not is_transient_error(exc):
                    raise
                self._count()
                self.sleep(self.delay(attempt, exc))
                continue
            if last or retry_result is None or not retry_result(result):
                return result
            self._count()
            self.sleep(self.delay(attempt))
        raise AssertionError("unreachable")  # the loop returns or raises on the last attempt

    def _count(self) -> None:
        with self._lock:
            self.retries += 1


def run_ordered(
    call: Callable[[T], R],
    items: Sequence[T],
    concurrency: int = 1,
    on_done: Callable[[R], None] | None = None,
) -> tuple[list[R | None], bool]:
    """``call`` on every item, ``concurrency`` at a time; results in input order.

    Returns ``(results, interrupted)``. On Ctrl-C, questions not yet started are
    dropped (their slot is ``None``), the ones in flight are left to finish on their
    own, and the caller gets what was done so it can write a partial report.
    """
    results: list[R | None] = [None] * len(items)
    if concurrency <= 1:
        try:
            for index, item in enumerate(items):
                results[index] = call(item)
                if on_done is not None:
                    on_done(results[index])  # type: ignore[arg-type]
        except KeyboardInterrupt:
            return results, True
        return results, False

    pool = ThreadPoolExecutor(max_workers=concurrency, thread_name_prefix="eval")
    interrupted = False
    pending: dict[Future[R], int] = {}
    try:
        pending = {pool.submit(call, item): index for index, item in enumerate(items)}
        while pending:
            finished, _ = wait(list(pending), return_when=FIRST_COMPLETED)
            for future in finished:
                index = pending.pop(future)
                results[index] = future.result()
                if on_done is not None:
                    on_done(results[index])  # type: ignore[arg-type]
    except KeyboardInterrupt:
        interrupted = True
        for future, index in pending.items():  # finished but not yet collected: keep them
            if future.done() and not future.cancelled() and future.exception() is None:
                results[index] = future.result()
    finally:
        # Not started: dropped. On Ctrl-C the ones in flight finish on their own threads.
        pool.shutdown(wait=not interrupted, cancel_futures=True)
    return results, interrupted
