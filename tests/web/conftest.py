"""Live servers for the web tests.

Loading the assistant (embedding model, BM25) and building a Gradio app both take
seconds, so one :class:`Assistant` is shared by every app in the session and the
main live server is session-scoped; tests that need other settings (API keys, a
tight rate limit) start their own small server with the same assistant.
"""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
import uvicorn

from assistant.answer import Assistant
from assistant.config import Settings
from assistant.web import create_app
from assistant.web.server import uvicorn_config

ROOT = Path(__file__).resolve().parents[2]
ARTIFACTS = ROOT / "artifacts" / "screenshots"
QUESTION = "Vad gjorde Trollhättan mot segregation?"
TROLLHATTAN_DOC = "004_02e4e99ec918efc6.txt"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


@dataclass
class LiveServer:
    """A uvicorn server in a background thread; ``url`` has no trailing slash."""

    settings: Settings
    url: str
    server: uvicorn.Server
    thread: threading.Thread
    app: Any = None  # the FastAPI app it serves (its routes, state)

    def stop(self) -> None:
        self.server.should_exit = True
        self.thread.join(timeout=10)


def start_server(settings: Settings, assistant: Assistant, wait_for_ui: bool = True) -> LiveServer:
    """Served exactly as ``assistant serve`` serves it (same uvicorn options)."""
    app = create_app(settings, assistant)
    port = free_port()
    config = uvicorn_config(app, settings, host="127.0.0.1", port=port, log_level="warning",
                            timeout_graceful_shutdown=1)
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while not server.started:
        if not thread.is_alive() or time.monotonic() > deadline:
            raise RuntimeError("the test server did not start")
        time.sleep(0.05)
    # The API answers at once, the chat UI a few seconds later (assistant.web.loading);
    # these tests are about the finished server.
    if wait_for_ui and not app.state.ui.wait(60):
        raise RuntimeError("the test server's UI was not built")
    return LiveServer(settings, f"http://127.0.0.1:{port}", server, thread, app)


def configured(base: Settings, tmp: Path, **changes: Any) -> Settings:
    """A copy of ``base`` with changes; feedback goes to a private file per server."""
    changes.setdefault("feedback_db", tmp / "feedback.sqlite3")
    changes.setdefault("rate_limit", "off")
    return base.model_copy(update=changes)


@pytest.fixture(scope="session")
def web_assistant(sample_index: Settings) -> Assistant:
    return Assistant.from_settings(sample_index)


def unsure_assistant(settings: Settings, p: float = 0.3, hedge_below: float = 0.5
                     ) -> Assistant:
    """An assistant whose confidence model gives every question ``p``: with the default
    ``hedge_below`` every answer is a hedge."""
    import math

    from assistant.answer.confidence import FEATURES, ConfidenceModel

    names = tuple(FEATURES)
    assistant = Assistant.from_settings(settings)
    assistant.confidence = ConfidenceModel(names, (0.0,) * len(names), (1.0,) * len(names),
                                           (0.0,) * len(names), math.log(p / (1 - p)),
                                           hedge_below)
    return assistant


class _HostPages(ThreadingHTTPServer):
    daemon_threads = True
    pages: dict[str, Callable[[], str]]


class _HostHandler(BaseHTTPRequestHandler):
    server: _HostPages

    def log_message(self, format: str, *args: Any) -> None:
        pass

    def do_GET(self) -> None:
        page = self.server.pages.get(self.path.split("?", 1)[0])
        if page is None:
            self.send_error(404)
            return
        body = page().encode("utf-8")
        self.send_response(200)
        self.send_header("Content-Type", "text/html; charset=utf-8")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)


@dataclass
class HostSite:
    """An "intranet" on a second loopback origin; ``pages`` maps paths to HTML makers.

    The same server is reachable as ``http://127.0.0.1:PORT`` (listed in
    ASSISTANT_ALLOWED_ORIGINS) and ``http://localhost:PORT`` (not listed), which
    gives an allowed and a disallowed origin without a third server.
    """

    port: int
    pages: dict[str, Callable[[], str]]

    @property
    def allowed_origin(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def other_origin(self) -> str:
        return f"http://localhost:{self.port}"


@pytest.fixture(scope="session")
def host_site() -> Iterator[HostSite]:
    httpd = _HostPages(("127.0.0.1", 0), _HostHandler)
    httpd.pages = {}
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield HostSite(httpd.server_address[1], httpd.pages)
    httpd.shutdown()
    httpd.server_close()


@pytest.fixture(scope="session")
def live_server(sample_index: Settings, web_assistant: Assistant, host_site: HostSite,
                tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    """The app on the sample index; the host site's 127.0.0.1 origin is allowed."""
    tmp = tmp_path_factory.mktemp("web")
    settings = configured(sample_index, tmp, allowed_origins=[host_site.allowed_origin])
    server = start_server(settings, web_assistant)
    yield server
    server.stop()


@pytest.fixture
def server_factory(web_assistant: Assistant, sample_index: Settings,
                   tmp_path: Path) -> Iterator[Callable[..., LiveServer]]:
    """Start extra servers with changed settings (stopped after the test)."""
    started: list[LiveServer] = []

    def make(**changes: Any) -> LiveServer:
        server = start_server(configured(sample_index, tmp_path, **changes), web_assistant)
        started.append(server)
        return server

    yield make
    for server in started:
        server.stop()


def sse_events(text: str) -> list[tuple[str, str]]:
    """A server-sent-event body as (event name, data) pairs, as a client reads it."""
    events, name = [], "message"
    for line in text.splitlines():
        if line.startswith("event:"):
            name = line[6:].strip()
        elif line.startswith("data:"):
            events.append((name, line[5:].strip()))
            name = "message"
    return events
