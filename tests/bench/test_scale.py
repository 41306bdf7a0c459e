"""bench.scale's child runs: CPU and peak memory beside wall-clock."""

from __future__ import annotations

import sys

import pytest

from bench.scale import _run


def test_a_child_run_reports_its_own_cpu_and_memory() -> None:
    """CPU and RSS are what make figures comparable on a shared machine: a child that
    burns CPU and holds 64 MiB reports both, and its output."""
    script = ("import time\nblock = bytearray(64 * 2**20)\nt = time.process_time()\n"
              "while time.process_time() - t < 0.3:\n    pass\nprint('klar')")
    run = _run([sys.executable, "-c", script], {})
    assert run.out.strip() == "klar"
    assert 0.3 <= run.cpu <= run.wall + 0.5
    assert run.rss_mib >= 64


def test_a_failing_child_is_an_error() -> None:
    with pytest.raises(RuntimeError, match="failed"):
        _run([sys.executable, "-c", "raise SystemExit(1)"], {})
