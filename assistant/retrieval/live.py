"""A value that follows the index: checked cheaply, rebuilt in the background, swapped
atomically.

Every ingest bumps a generation number stored with the manifest. A server keeps one
immutable snapshot (manifest, lexical index, caches) per generation; a request reads
the current snapshot once and uses it throughout, so a swap in the middle of a request
never mixes two generations. The probe runs at most every ``interval`` seconds (one
small read by id), and the next snapshot is built on a background thread while the old
one keeps answering: no request waits for a rebuild, none is dropped.

A serving app :meth:`Live.follow`\ s: it probes on a thread of its own, so the first
question after someone else's change already meets the new snapshot. Checked only when
a request came (a CLI's way), that first question would trigger the rebuild and still be
answered from the old one: an editor asking once right after an upload would be told
the article is not there.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from typing import Generic, TypeVar

log = logging.getLogger("assistant.live")

T = TypeVar("T")


class Live(Generic[T]):
    """``current()`` returns the newest built snapshot and, when due, starts a check."""

    def __init__(self, snapshot: T, generation: int, probe: Callable[[], int],
                 build: Callable[[T, int], T], interval: float) -> None:
        self._snapshot = snapshot
        self.generation = generation
        self._probe = probe
        self._build = build
        self.interval = interval
        self._checked = time.monotonic()
        self._lock = threading.Lock()  # one check or rebuild at a time
        self._busy = False
        self._following: threading.Event | None = None

    def current(self) -> T:
        if (self.interval > 0 and self._following is None
                and time.monotonic() - self._checked >= self.interval):
            self._start_check()
        return self._snapshot

    def follow(self) -> Callable[[], None]:
        """Probe every ``interval`` seconds on a daemon thread until the returned function
        is called (it waits for the thread). One small read per interval is all an idle
        server spends on it. With ``interval`` 0 nothing is started."""
        stop = threading.Event()
        if self.interval <= 0:
            return stop.set

        def run() -> None:
            while not stop.wait(self.interval):
                with self._lock:
                    if self._busy:
                        continue
                    self._busy = True
                self._check()

        self._following = stop
        thread = threading.Thread(target=run, name="index-follow", daemon=True)
        thread.start()

        def halt() -> None:
            stop.set()
            thread.join(timeout=1)  # a rebuild in progress finishes on its own (daemon)
            self._following = None

        return halt

    def _start_check(self) -> None:
        with self._lock:
            if self._busy:
                return
            self._busy = True
            self._checked = time.monotonic()
        threading.Thread(target=self._check, name="index-refresh", daemon=True).start()

    def _check(self) -> None:
        try:
            self.refresh()
        except Exception:  # a failed probe or rebuild keeps the old snapshot answering
            log.exception("could not refresh the index; still answering from generation %d",
                          self.generation)
        finally:
            with self._lock:
                self._busy = False
                self._checked = time.monotonic()

    def refresh(self) -> bool:
        """Probe now and, on a new generation, build and swap in its snapshot (blocking).
        Returns whether a new snapshot was swapped in."""
        generation = self._probe()
        if generation == self.generation:
            return False
        started = time.perf_counter()
        snapshot = self._build(self._snapshot, generation)
        # One reference assignment: readers see either the old or the new snapshot.
        self._snapshot, self.generation = snapshot, generation
        log.info("index generation %d loaded in %.2f s", generation,
                 time.perf_counter() - started)
        return True
