"""Shared fixtures. With CI=true a skipped test fails the run: a missing dependency
(chromium, a Chroma server binary) must never pass silently."""

from __future__ import annotations

import os

import pytest

from assistant.runtime import disable_telemetry

pytest_plugins = ["tests.support.fixtures", "tests.support.index", "tests.support.browser"]

disable_telemetry()  # the same set-up as every entry point, before Gradio or Chroma load


def pytest_runtest_logreport(report: pytest.TestReport) -> None:
    if os.environ.get("CI", "").lower() in {"1", "true", "yes"} and report.skipped:
        report.outcome = "failed"
        report.longrepr = f"skipped in CI (CI=true turns skips into failures): {report.longrepr}"
