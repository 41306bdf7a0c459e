"""Graceful shutdown of a real ``assistant serve``: SIGTERM during a streamed answer.

``/readyz`` turns 503 first, new requests get the JSON 503, ``/healthz`` still answers,
the stream in flight ends cleanly (its ``done``, or an ``error`` event at the cut) and
the process is gone within ``ASSISTANT_SHUTDOWN_SECONDS``. The answer is streamed by a
scripted, slow OpenAI-compatible model on 127.0.0.1, so the stream lasts as long as a
test needs. The drain's clock and middleware are tested in-process below.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import IO, Any

import httpx
import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from assistant.config import Settings
from assistant.errors import ShuttingDownError
from assistant.web.shutdown import (
    CLOSE_SHARE,
    CUT_SHARE,
    SHUTTING_DOWN,
    Drain,
    DrainMiddleware,
    until_cut,
)
from tests.support.openai_server import OpenAIServer, Reply
from tests.web.conftest import QUESTION, free_port

ASSISTANT = Path(sys.executable).parent / "assistant"
SENTENCE = "Trollhättan flyttade elever mellan skolor för att minska segregationen [1]. "


def _serve(settings: Settings, model_url: str, seconds: float, tmp: Path, workers: int = 1
           ) -> tuple[subprocess.Popen[bytes], str, IO[bytes]]:
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("ASSISTANT_")}
    env.update({"ASSISTANT_CORPUS_DIR": str(settings.corpus_dir),
                "ASSISTANT_INDEX_DIR": str(settings.index_dir),
                "ASSISTANT_FEEDBACK_DB": str(tmp / "feedback.sqlite3"),
                "ASSISTANT_LLM": "openai", "ASSISTANT_LLM_BASE_URL": model_url,
                "ASSISTANT_LLM_MODEL": "test-model", "OPENAI_API_KEY": "test",
                "ASSISTANT_LLM_MAX_RETRIES": "0", "ASSISTANT_RATE_LIMIT": "off",
                "ASSISTANT_SHUTDOWN_SECONDS": str(seconds),
                "ANONYMIZED_TELEMETRY": "False", "GRADIO_ANALYTICS_ENABLED": "False"})
    log = tempfile.TemporaryFile()  # noqa: SIM115 (outlives this function: the server's log)
    proc = subprocess.Popen([str(ASSISTANT), "serve", "--port", str(port),
                             "--workers", str(workers)], env=env,
                            stdout=log, stderr=subprocess.STDOUT, cwd=tmp)
    base = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 120
    while True:
        if proc.poll() is not None:
            log.seek(0)
            pytest.fail(f"server exited: {log.read()[-3000:]!r}")
        try:
            if httpx.get(f"{base}/readyz", timeout=2).status_code == 200:
                return proc, base, log
        except httpx.TransportError:
            pass
        if time.monotonic() > deadline:
            pytest.fail("server did not start within 120 s")
        time.sleep(0.2)


class _Stream(threading.Thread):
    """One streamed /api/chat answer on its own thread: each event with its arrival time."""

    def __init__(self, base: str) -> None:
        super().__init__(daemon=True)
        self.base = base
        self.events: list[tuple[float, str, Any]] = []
        self.first = threading.Event()

    def run(self) -> None:
        event = None
        with httpx.stream("POST", f"{self.base}/api/chat", timeout=60,
                          json={"question": QUESTION, "stream": True},
                          headers={"accept": "text/event-stream"}) as response:
            assert response.status_code == 200
            for line in response.iter_lines():
                if line.startswith("event:"):
                    event = line.split(":", 1)[1].strip()
                elif line.startswith("data:") and event:
                    self.events.append((time.monotonic(), event, json.loads(line[5:])))
                    if event == "token":
                        self.first.set()

    @property
    def kinds(self) -> list[str]:
        return [kind for _, kind, _ in self.events]


@pytest.fixture
def serve(sample_index: Settings, openai_server: OpenAIServer, tmp_path: Path
          ) -> Iterator[Any]:
    started: list[subprocess.Popen[bytes]] = []

    def start(seconds: float, workers: int = 1
              ) -> tuple[subprocess.Popen[bytes], str, IO[bytes]]:
        server = _serve(sample_index, openai_server.base_url, seconds, tmp_path, workers)
        started.append(server[0])
        return server

    yield start
    for proc in started:
        if proc.poll() is None:
            proc.kill()
            proc.wait(10)


def _drain_observed(proc: subprocess.Popen[bytes], base: str, stream: _Stream) -> float:
    """SIGTERM; then what the outside sees while the server drains. Returns the signal's
    time."""
    assert stream.first.wait(60), "the answer did not start streaming"
    sent = time.monotonic()
    proc.send_signal(signal.SIGTERM)
    deadline = sent + 2
    while (ready := httpx.get(f"{base}/readyz", timeout=5)).status_code == 200:
        assert time.monotonic() < deadline, "/readyz stayed 200 after SIGTERM"
        time.sleep(0.02)
    turned = time.monotonic()
    assert ready.status_code == 503 and ready.json()["checks"]["shutdown"]["ok"] is False
    assert ready.headers["retry-after"]
    assert not stream.events or stream.kinds[-1] not in ("done", "error") \
        or stream.events[-1][0] > turned, "the stream ended before /readyz turned"
    refused = httpx.post(f"{base}/api/chat", json={"question": QUESTION}, timeout=5)
    assert refused.status_code == 503
    body = refused.json()
    assert body["error"] == SHUTTING_DOWN and body["request_id"] == \
        refused.headers["x-request-id"]
    assert int(refused.headers["retry-after"]) > 0
    assert httpx.get(f"{base}/healthz", timeout=5).status_code == 200  # alive, not ready
    return sent


def _exit(proc: subprocess.Popen[bytes], log: IO[bytes], sent: float, seconds: float) -> None:
    proc.wait(seconds + 10)
    took = time.monotonic() - sent
    log.seek(0)
    output = log.read().decode(errors="replace")
    assert took <= seconds + 1.5, f"exited {took:.1f} s after SIGTERM:\n{output[-2000:]}"
    assert proc.returncode in (0, -signal.SIGTERM), output[-2000:]
    assert "Traceback" not in output, output[-3000:]


@pytest.mark.parametrize("workers", [1, 2])
def test_a_stream_in_flight_finishes_before_the_server_stops(serve, openai_server, workers):
    """With two workers the signal goes to the parent, which passes it on to both."""
    seconds = 8.0
    # Three sentences over about two seconds: well inside the window's cut (6.4 s).
    openai_server.script(Reply(SENTENCE * 3, chunk_size=10, chunk_delay=0.08))
    proc, base, log = serve(seconds, workers)
    stream = _Stream(base)
    stream.start()
    sent = _drain_observed(proc, base, stream)
    stream.join(seconds)
    assert stream.kinds[0] == "sources" and stream.kinds[-1] == "done", stream.kinds
    assert stream.events[-1][2]["mode"] == "llm"  # the model's answer, whole
    assert stream.events[-1][0] - sent < seconds * CUT_SHARE
    _exit(proc, log, sent, seconds)


def test_a_stream_too_long_for_the_window_ends_with_an_error_event(serve, openai_server):
    seconds = 3.0
    # Forty sentences at 0.4 s a chunk: a minute of answer, far past the window.
    openai_server.script(Reply(SENTENCE * 40, chunk_size=20, chunk_delay=0.4))
    proc, base, log = serve(seconds)
    stream = _Stream(base)
    stream.start()
    sent = _drain_observed(proc, base, stream)
    stream.join(seconds + 5)
    assert not stream.is_alive(), "the stream was not ended"
    assert "token" in stream.kinds and stream.kinds[-1] == "error", stream.kinds
    at, _, error = stream.events[-1]
    assert error["status"] == 503 and error["error"] == SHUTTING_DOWN
    assert error["retry_after"] > 0 and error["request_id"]
    # At the cut, not before: the answer had its share of the window.
    assert seconds * CUT_SHARE - 0.3 <= at - sent <= seconds
    _exit(proc, log, sent, seconds)


# --- the drain's parts, in-process


def test_the_drain_clock():
    drain = Drain(10.0)
    assert not drain.draining and not drain.cut_due() and not drain.may_close()
    assert drain.remaining() == 10.0
    drain.begin()
    drain.in_flight = 1
    assert drain.draining and not drain.cut_due() and not drain.may_close()
    drain.started = time.monotonic() - 2  # two seconds into the drain
    assert not drain.may_close()  # a request is still in flight
    drain.in_flight = 0
    assert drain.may_close()  # nothing in flight, and the load balancer had its second
    drain.in_flight = 1
    drain.started = time.monotonic() - 10 * CUT_SHARE
    assert drain.cut_due() and drain.poll_timeout() == 0
    assert not drain.may_close()  # the cut streams send their error events first
    drain.started = time.monotonic() - 10 * CLOSE_SHARE
    assert drain.may_close()  # then the port closes, whatever is still in flight
    assert 0 < drain.remaining() <= 10 * (1 - CLOSE_SHARE)


def test_a_stream_waiting_for_a_slow_event_ends_at_the_cut():
    """The cut does not wait for the next event (a model that thinks for a minute)."""
    import asyncio

    drain = Drain(1.0)

    async def slow() -> Any:
        yield "first"
        await asyncio.sleep(60)
        yield "never"

    async def consume() -> tuple[list[str], float]:
        got: list[str] = []
        started = time.monotonic()
        with pytest.raises(ShuttingDownError):
            async for item in until_cut(slow(), drain):
                got.append(item)
                drain.begin()
        return got, time.monotonic() - started

    got, took = asyncio.run(consume())
    assert got == ["first"] and 0.7 <= took <= 1.3


def test_while_draining_only_the_operators_routes_answer():
    drain = Drain(5.0)
    app = FastAPI()

    @app.get("/healthz")
    async def healthz() -> dict[str, str]:
        return {"status": "ok"}

    @app.post("/api/chat")
    async def chat() -> dict[str, str]:
        return {"answer": "…"}

    app.add_middleware(DrainMiddleware, drain=drain)
    with TestClient(app) as client:
        assert client.post("/api/chat").status_code == 200
        drain.begin()
        refused = client.post("/api/chat")
        assert refused.status_code == 503 and refused.json() == {
            "error": SHUTTING_DOWN, "retry_after": 5}
        assert refused.headers["connection"] == "close"
        v1 = client.post("/v1/chat/completions")
        assert v1.status_code == 503 and v1.json()["error"]["code"] == "service_unavailable"
        assert client.get("/healthz").status_code == 200
        assert drain.in_flight == 0
