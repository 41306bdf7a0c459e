"""The live snapshot: probed cheaply, rebuilt off the request path, swapped whole."""

from __future__ import annotations

import threading
import time

import pytest

from assistant.retrieval.live import Live


class Source:
    def __init__(self) -> None:
        self.generation = 1
        self.probes = 0
        self.builds: list[int] = []
        self.fail = False
        self.gate = threading.Event()
        self.gate.set()

    def probe(self) -> int:
        self.probes += 1
        return self.generation

    def build(self, old: str, generation: int) -> str:
        self.gate.wait(10)
        if self.fail:
            raise RuntimeError("store unreachable")
        self.builds.append(generation)
        return f"{old}->{generation}"


def test_refresh_swaps_only_on_a_new_generation() -> None:
    source = Source()
    live = Live("g1", 1, source.probe, source.build, interval=0)
    assert live.refresh() is False and live.current() == "g1" and source.builds == []
    source.generation = 2
    assert live.refresh() is True
    assert live.current() == "g1->2" and live.generation == 2
    assert live.refresh() is False and source.builds == [2]


def test_a_failed_rebuild_keeps_the_old_snapshot(caplog: pytest.LogCaptureFixture) -> None:
    source = Source()
    live = Live("g1", 1, source.probe, source.build, interval=0.01)
    source.generation, source.fail = 2, True
    time.sleep(0.02)
    assert live.current() == "g1"  # starts a background check that fails
    deadline = time.monotonic() + 10
    while "could not refresh" not in caplog.text and time.monotonic() < deadline:
        time.sleep(0.01)
    assert "could not refresh" in caplog.text
    assert live.current() == "g1" and live.generation == 1
    source.fail = False
    assert live.refresh() is True and live.current() == "g1->2"


def test_readers_are_never_blocked_and_only_one_rebuild_runs() -> None:
    source = Source()
    live = Live("g1", 1, source.probe, source.build, interval=0.01)
    source.generation = 2
    source.gate.clear()  # the rebuild hangs until released
    time.sleep(0.02)
    for _ in range(50):  # many requests while the rebuild is in progress
        assert live.current() == "g1"
        time.sleep(0.001)
    source.gate.set()
    deadline = time.monotonic() + 10
    while live.current() == "g1" and time.monotonic() < deadline:
        time.sleep(0.01)
    assert live.current() == "g1->2"
    assert source.builds == [2]  # one rebuild although 50 requests found it due


def test_a_follower_swaps_before_anyone_asks_and_stops_when_told() -> None:
    """A serving app's first question after another writer's change meets the new
    snapshot: the follower has probed and rebuilt without any request."""
    source = Source()
    live = Live("g1", 1, source.probe, source.build, interval=0.02)
    stop = live.follow()
    try:
        source.generation = 2
        deadline = time.monotonic() + 10
        while live.generation != 2 and time.monotonic() < deadline:
            time.sleep(0.01)  # nothing calls current(): the follower alone moves it
        assert live.current() == "g1->2"
    finally:
        stop()
    probes = source.probes
    time.sleep(0.1)
    assert source.probes == probes  # stopped: no more reads


def test_no_follower_without_an_interval() -> None:
    source = Source()
    live = Live("g1", 1, source.probe, source.build, interval=0)
    stop = live.follow()
    source.generation = 2
    time.sleep(0.05)
    stop()
    assert source.probes == 0 and live.current() == "g1"
