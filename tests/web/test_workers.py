"""``assistant serve --workers 2``: a real server, two worker processes on one port.

Which worker answered a request is read from prometheus_client's multiprocess files in
the server's state folder (``ASSISTANT_STATE_DIR``): one file per worker, named by its
pid. Every request goes over a fresh connection, so the kernel hands each to whichever
worker accepts first; the tests go on until both workers have answered what they need.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import IO

import httpx
import pytest
from prometheus_client.multiprocess import MultiProcessCollector
from prometheus_client.parser import text_string_to_metric_families

from assistant.config import Settings
from assistant.web.auth import SESSION_COOKIE
from assistant.web.workers import METRICS_DIR
from bench.load import stop_server
from tests.web.conftest import QUESTION, free_port

API_KEY = "test-secret-key"
METRICS_KEY = "test-metrics-key"
LIMIT = 6  # questions per minute and client (here: per secret key)
# Fresh connections tried before concluding that one worker never gets any.
MAX_TRIES = 200


@dataclass
class WorkersServer:
    proc: subprocess.Popen[bytes]
    base: str
    state: Path
    log: IO[bytes]

    def stop(self) -> None:
        stop_server(self.proc)

    def output(self) -> str:
        self.log.seek(0)
        return self.log.read().decode(errors="replace")

    def per_worker(self, route: str, status: str | None = None) -> dict[str, float]:
        """Requests to ``route`` (with ``status``) each worker counted, by pid."""
        counts: dict[str, float] = {}
        for path in (self.state / METRICS_DIR).glob("counter_*.db"):
            if path.stat().st_size == 0:  # a worker creating it this moment
                continue
            pid = path.stem.rpartition("_")[2]
            counts[pid] = sum(
                sample.value
                for family in MultiProcessCollector.merge([str(path)], accumulate=True)
                for sample in family.samples
                if sample.name == "assistant_http_requests_total"
                and sample.labels["route"] == route
                and (status is None or sample.labels["status"] == status))
        return counts

    def counted(self, route: str, total: float) -> dict[str, float]:
        """:meth:`per_worker` once ``total`` requests to ``route`` are counted (a worker
        counts a request after its response has gone out)."""
        deadline = time.monotonic() + 30
        while sum((counts := self.per_worker(route)).values()) < total:
            assert time.monotonic() < deadline, (route, total, counts)
            time.sleep(0.02)
        return counts

    def scrape(self) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
        text = httpx.get(f"{self.base}/metrics", timeout=10,
                         headers={"authorization": f"Bearer {METRICS_KEY}"}).text
        return {(s.name, tuple(sorted(s.labels.items()))): s.value
                for family in text_string_to_metric_families(text) for s in family.samples}


def fresh_get(url: str, **kwargs: object) -> httpx.Response:
    with httpx.Client(timeout=30) as client:  # one request, one connection
        return client.get(url, **kwargs)  # type: ignore[arg-type]


def start_workers(settings: Settings, tmp: Path, extra_env: dict[str, str]) -> WorkersServer:
    port = free_port()
    state = tmp / "state"
    env = {k: v for k, v in os.environ.items()
           if not k.startswith("ASSISTANT_") and k != "PROMETHEUS_MULTIPROC_DIR"}
    env.update({"ASSISTANT_CORPUS_DIR": str(settings.corpus_dir),
                "ASSISTANT_INDEX_DIR": str(settings.index_dir),
                "ASSISTANT_FEEDBACK_DB": str(tmp / "feedback.sqlite3"),
                "ASSISTANT_STATE_DIR": str(state), "ASSISTANT_LLM": "extractive",
                "ASSISTANT_METRICS_KEY": METRICS_KEY, "ASSISTANT_SHUTDOWN_SECONDS": "3",
                "ANONYMIZED_TELEMETRY": "False", "GRADIO_ANALYTICS_ENABLED": "False",
                **extra_env})
    log = tempfile.TemporaryFile()  # noqa: SIM115 (the server's log, read on failure)
    proc = subprocess.Popen([sys.executable, "-m", "assistant.cli", "serve", "--workers", "2",
                             "--port", str(port)], env=env, stdout=log,
                            stderr=subprocess.STDOUT, cwd=tmp)
    server = WorkersServer(proc, f"http://127.0.0.1:{port}", state, log)
    deadline = time.monotonic() + 180
    try:
        # Both workers up: each has answered a health check (they count it in their files).
        while len([n for n in server.per_worker("/healthz").values() if n]) < 2:
            if proc.poll() is not None:
                pytest.fail(f"server exited: {server.output()[-3000:]}")
            if time.monotonic() > deadline:
                pytest.fail(f"both workers did not answer within 180 s: "
                            f"{server.output()[-3000:]}")
            try:
                fresh_get(f"{server.base}/healthz")
            except httpx.TransportError:
                time.sleep(0.2)
    except BaseException:
        server.stop()
        raise
    return server


@pytest.fixture(scope="module")
def workers(sample_index: Settings, tmp_path_factory: pytest.TempPathFactory
            ) -> Iterator[WorkersServer]:
    tmp = tmp_path_factory.mktemp("workers")
    server = start_workers(sample_index, tmp, {"ASSISTANT_API_KEYS": API_KEY,
                                               "ASSISTANT_RATE_LIMIT": f"{LIMIT}/minute"})
    yield server
    server.stop()


def test_the_rate_limit_holds_across_the_workers(workers: WorkersServer) -> None:
    """Questions from one client over fresh connections, until both workers have had some
    and there are more than the limit: exactly ``LIMIT`` are answered, whichever worker
    got them. (Counted per worker, each would let ``LIMIT`` through.)"""
    statuses: list[int] = []
    while len(statuses) <= LIMIT or len(
            [n for n in workers.per_worker("/api/chat").values() if n]) < 2:
        assert len(statuses) < MAX_TRIES, workers.per_worker("/api/chat")
        with httpx.Client(timeout=30) as client:
            response = client.post(f"{workers.base}/api/chat", json={"question": QUESTION},
                                   headers={"authorization": f"Bearer {API_KEY}"})
        statuses.append(response.status_code)
        if response.status_code == 429:
            assert int(response.headers["retry-after"]) > 0
    assert statuses[:LIMIT] == [200] * LIMIT
    assert set(statuses[LIMIT:]) == {429}, statuses
    workers.counted("/api/chat", len(statuses))
    answered = workers.per_worker("/api/chat", "200")
    refused = workers.per_worker("/api/chat", "429")
    # Both workers had questions and only LIMIT were answered in all: counted per worker,
    # min(a, LIMIT) + min(b, LIMIT) > LIMIT for any a, b ≥ 1 with a + b > LIMIT.
    assert len(answered) == 2 and sum(answered.values()) == LIMIT
    # And some worker refused while it had itself answered fewer than LIMIT.
    assert any(answered.get(pid, 0) < LIMIT for pid, n in refused.items() if n)

    # The scrape, whichever worker it reaches, sums both workers' counts.
    metrics = workers.scrape()
    chat = (("method", "POST"), ("route", "/api/chat"))
    assert metrics[("assistant_http_requests_total", (*chat, ("status", "200")))] == LIMIT
    assert metrics[("assistant_http_requests_total", (*chat, ("status", "429")))] == \
        len(statuses) - LIMIT == sum(refused.values())
    assert metrics[("assistant_rate_limited_total", (("route", "/api/chat"),))] == \
        len(statuses) - LIMIT
    assert metrics[("assistant_answers_total", (("channel", "api"), ("outcome", "answer")))] \
        == LIMIT
    assert metrics[("assistant_index_documents", ())] == 5  # the scraped worker's own view


def test_a_session_cookie_from_one_worker_is_valid_on_the_other(
        workers: WorkersServer) -> None:
    before = workers.per_worker("/docs")
    page = fresh_get(f"{workers.base}/docs")
    assert page.status_code == 200
    cookie = page.cookies[SESSION_COOKIE]
    after = workers.counted("/docs", sum(before.values()) + 1)
    issuer = next(pid for pid, n in after.items() if n > before.get(pid, 0))
    own_page = {"cookie": f"{SESSION_COOKIE}={cookie}", "sec-fetch-site": "same-origin"}
    # The chat UI's own call (its page's set-up, not rate limited): the cookie opens it on
    # whichever worker answers (200, or 503 while that worker still builds the UI).
    for _ in range(MAX_TRIES):
        assert fresh_get(f"{workers.base}/config", headers=own_page).status_code in (200, 503)
        others = {pid: n for pid, n in workers.per_worker("/config").items() if pid != issuer}
        if any(others.values()):
            break
    else:
        pytest.fail(f"the other worker never answered: {workers.per_worker('/config')}")
    assert workers.per_worker("/config", "401") == {pid: 0 for pid in
                                                    workers.per_worker("/config")}
    # A token signed with another secret is refused by either worker.
    payload = cookie.rpartition(".")[0]
    forged = {**own_page, "cookie": f"{SESSION_COOKIE}={payload}.{'0' * 64}"}
    assert fresh_get(f"{workers.base}/config", headers=forged).status_code == 401


def test_sigterm_to_the_parent_drains_every_worker_and_cleans_up(
        sample_index: Settings, tmp_path: Path) -> None:
    server = start_workers(sample_index, tmp_path, {"ASSISTANT_RATE_LIMIT": "off"})
    try:
        _drained(server)
    finally:
        server.stop()


def _drained(server: WorkersServer) -> None:
    children = Path(f"/proc/{server.proc.pid}/task/{server.proc.pid}/children")
    pids = [int(pid) for pid in server.per_worker("/healthz")]
    assert len(pids) == 2 and set(pids) <= {int(p) for p in children.read_text().split()}
    server.proc.send_signal(signal.SIGTERM)
    # /readyz turns 503 on whichever worker answers, before the port closes.
    while True:
        try:
            ready = fresh_get(f"{server.base}/readyz")
        except httpx.TransportError:
            pytest.fail("the port closed before /readyz answered 503")
        if ready.status_code == 503:
            assert ready.json()["checks"]["shutdown"]["ok"] is False
            break
    assert server.proc.wait(30) == 0, server.output()[-3000:]
    output = server.output()
    assert "Traceback" not in output, output[-3000:]
    assert output.count("Avstängning: tar inte emot nya frågor") == 2, output[-3000:]
    assert not any(Path(f"/proc/{pid}").exists() for pid in pids)
    assert not server.state.exists()  # the shared state goes with the server


def test_a_worker_that_cannot_start_stops_serve_with_the_error(
        sample_index: Settings, tmp_path: Path) -> None:
    empty = tmp_path / "no-index"
    empty.mkdir()
    env = {k: v for k, v in os.environ.items() if not k.startswith("ASSISTANT_")}
    env.update({"ASSISTANT_INDEX_DIR": str(empty), "ASSISTANT_CORPUS_DIR":
                str(sample_index.corpus_dir), "ASSISTANT_LLM": "extractive"})
    done = subprocess.run([sys.executable, "-m", "assistant.cli", "serve", "--workers", "2",
                           "--port", str(free_port())], env=env, cwd=tmp_path,
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 1, done.stderr[-3000:]
    assert "fel: Indexet saknas. Bygg det med: assistant ingest" in done.stderr
    assert "Traceback" not in done.stderr, done.stderr[-3000:]


def test_workers_out_of_range_name_the_fix(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("ASSISTANT_")}
    done = subprocess.run([sys.executable, "-m", "assistant.cli", "serve", "--workers", "0"],
                          env=env, cwd=tmp_path, capture_output=True, text=True, timeout=60)
    assert done.returncode == 1
    assert "ASSISTANT_WORKERS" in done.stderr and "--workers 2" in done.stderr


def test_the_admin_api_on_an_embedded_index_needs_one_worker(
        sample_index: Settings, tmp_path: Path) -> None:
    """Each worker would run its own admin jobs: two writers of one embedded store."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("ASSISTANT_")}
    env.update({"ASSISTANT_INDEX_DIR": str(sample_index.index_dir), "ASSISTANT_CORPUS_DIR":
                str(sample_index.corpus_dir), "ASSISTANT_LLM": "extractive",
                "ASSISTANT_ADMIN_KEYS": "admin-key-for-the-workers-test"})
    done = subprocess.run([sys.executable, "-m", "assistant.cli", "serve", "--workers", "2",
                           "--port", str(free_port())], env=env, cwd=tmp_path,
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 1, done.stderr[-3000:]
    assert "ASSISTANT_CHROMA_URL" in done.stderr and "--workers 1" in done.stderr
    assert "Traceback" not in done.stderr, done.stderr[-3000:]


def _ui_question(base: str, headers: dict[str, str], fn: int) -> list[object]:
    """One chat-UI question in Gradio's queue protocol, as the page asks it, but with the
    join and the event stream on separate fresh connections (a browser uses several)."""
    session = uuid.uuid4().hex[:12]
    with httpx.Client(base_url=base, headers=headers, timeout=60) as client:
        joined = client.post("/gradio_api/queue/join", json={
            "data": [QUESTION, "", None], "fn_index": fn, "session_hash": session,
            "event_data": None, "trigger_id": None})
    assert joined.status_code == 200, joined.text
    with httpx.Client(base_url=base, headers=headers, timeout=60) as client, \
            client.stream("GET", "/gradio_api/queue/data",
                          params={"session_hash": session}) as stream:
        assert stream.status_code == 200
        for line in stream.iter_lines():
            if line.startswith("data:"):
                message = json.loads(line[5:])
                if message.get("msg") == "process_completed":
                    assert message.get("success"), message
                    return list(message["output"]["data"])
    raise AssertionError("the event never completed")


def test_the_chat_ui_answers_whichever_worker_each_connection_reaches(
        workers: WorkersServer) -> None:
    """Only the first worker builds the UI; the other passes the UI's requests on to it, so
    a question joined through one worker and streamed through another still arrives."""
    key = {"authorization": f"Bearer {API_KEY}"}
    config = fresh_get(f"{workers.base}/config", headers=key)
    while config.status_code == 503:  # the UI worker still building it
        time.sleep(0.5)
        config = fresh_get(f"{workers.base}/config", headers=key)
    fn = next(d["id"] for d in config.json()["dependencies"] if d.get("api_name") == "respond")
    first = _ui_question(workers.base, key, fn)
    assert "Trollhättan" in json.dumps(first, ensure_ascii=False)  # answered, with sources
    for _ in range(MAX_TRIES):
        # Past the client's rate limit the UI says so in its answer: an event all the same.
        _ui_question(workers.base, key, fn)
        joins = workers.per_worker("/gradio_api/queue/join", "200")
        streams = workers.per_worker("/gradio_api/queue/data", "200")
        if len([n for n in joins.values() if n]) == 2 and \
                len([n for n in streams.values() if n]) == 2:
            break
    else:
        pytest.fail(f"one worker never got the UI's calls: {joins} {streams}")


def test_a_port_in_use_stops_serve_before_any_worker_starts(
        sample_index: Settings, tmp_path: Path) -> None:
    import socket

    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        env = {k: v for k, v in os.environ.items() if not k.startswith("ASSISTANT_")}
        env.update({"ASSISTANT_INDEX_DIR": str(sample_index.index_dir),
                    "ASSISTANT_STATE_DIR": str(tmp_path / "state")})
        done = subprocess.run([sys.executable, "-m", "assistant.cli", "serve", "--workers", "2",
                               "--port", str(port)], env=env, cwd=tmp_path,
                              capture_output=True, text=True, timeout=60)
    assert done.returncode == 1, done.stderr[-3000:]
    assert f"fel: Porten 127.0.0.1:{port} går inte att använda" in done.stderr
    assert "--port" in done.stderr and "Traceback" not in done.stderr
    assert not (tmp_path / "state").exists()
