"""The load benchmark's own arithmetic and table (the benchmark itself is ``make
bench-load``, never part of the tests)."""

from __future__ import annotations

import os

from bench.load import HEADER, Level, percentile, process_tree, rss_bytes, table


def test_nearest_rank_percentiles() -> None:
    values = [float(v) for v in range(1, 101)]  # 1 … 100
    assert percentile(values, 50) == 50.0
    assert percentile(values, 95) == 95.0
    assert percentile(values, 99) == 99.0
    assert percentile(values, 100) == 100.0
    assert percentile(list(reversed(values)), 50) == 50.0  # order does not matter
    assert percentile([7.0], 99) == 7.0
    assert percentile([1.0, 2.0, 3.0], 0) == 1.0
    assert percentile([], 50) is None


def test_a_level_row_and_the_table() -> None:
    level = Level(workers=2, clients=16, seconds=10.0,
                  latencies=[0.1] * 90 + [0.4] * 9 + [1.2], errors=1,
                  rss_bytes=600 * 2**20, server_cpu=15.0, client_cpu=0.5, elapsed=10.0)
    assert level.answers_per_second == 10.0
    assert level.row() == ["2", "16", "10.0", "100 ms", "400 ms", "400 ms", "1", "600 MiB",
                           "150 %", "5 %"]
    empty = Level(workers=1, clients=1, seconds=10.0, errors=3)
    assert empty.row()[3:7] == ["–", "–", "–", "3"]
    lines = table([level, empty]).splitlines()
    assert lines[0] == "| " + " | ".join(HEADER) + " |"
    assert lines[1].count("---") == len(HEADER)
    assert lines[2].startswith("| 2 | 16 | 10.0 |") and len(lines) == 4


def test_this_process_is_found_and_measured() -> None:
    pids = process_tree(os.getpid())
    assert pids[0] == os.getpid()
    assert rss_bytes(pids) > 10 * 2**20
