"""The API answers while the chat UI is still being built; the UI then takes over ``/``.

The UI build is held on an Event (the real build, only later), so the server is
observed in the state every ``assistant serve`` passes through at start-up.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from playwright.sync_api import Browser
from pydantic import SecretStr

import assistant.web.ui as ui_module
from assistant.answer import Assistant
from assistant.config import Settings
from assistant.web.loading import UiSlot
from tests.support.axe import assert_accessible
from tests.web.conftest import QUESTION, LiveServer, configured, start_server

KEY = "loading-test-key-0123456789"
HTML = {"Accept": "text/html,application/xhtml+xml"}


@pytest.fixture
def held_build(monkeypatch: pytest.MonkeyPatch) -> Iterator[threading.Event]:
    """The real UI build, started only once the test sets the event."""
    release = threading.Event()
    real = ui_module.build_ui

    def held(*args: Any, **kwargs: Any) -> Any:
        if not release.wait(120):
            raise RuntimeError("the test never released the UI build")
        return real(*args, **kwargs)

    monkeypatch.setattr(ui_module, "build_ui", held)
    yield release
    release.set()  # never leave a build thread waiting


@pytest.fixture(autouse=True)
def short_hold(monkeypatch: pytest.MonkeyPatch) -> None:
    """A page request is held a moment, not the ten seconds a visitor waits at most."""
    monkeypatch.setattr(UiSlot, "page_hold", 0.3)


@pytest.fixture
def held_server(held_build: threading.Event, web_assistant: Assistant, sample_index: Settings,
                tmp_path: Path) -> Iterator[LiveServer]:
    """Keys required, so the loading state is checked under the strictest rules."""
    server = start_server(configured(sample_index, tmp_path, api_keys=[SecretStr(KEY)]),
                          web_assistant, wait_for_ui=False)
    yield server
    server.stop()


def _ui_state(client: httpx.Client) -> str:
    ready = client.get("/readyz")
    assert ready.status_code == 200, ready.text
    state: str = ready.json()["checks"]["ui"]["state"]
    return state


def test_the_api_answers_before_the_ui_is_built(held_server: LiveServer) -> None:
    with httpx.Client(base_url=held_server.url, timeout=30) as client:
        assert _ui_state(client) == "loading"
        assert client.get("/healthz").status_code == 200
        answer = client.post("/api/chat", json={"question": QUESTION},
                             headers={"X-API-Key": KEY})
        assert answer.status_code == 200, answer.text
        assert answer.json()["sources"]
        # The security rules hold while loading: no credential, no answer; a foreign Host
        # is refused before the loading answer.
        assert client.post("/api/chat", json={"question": QUESTION}).status_code == 401
        assert client.get("/", headers={"Host": "evil.example"}).status_code == 400

        page = client.get("/", headers=HTML)
        assert page.status_code == 503
        assert page.headers["retry-after"].isdigit()
        assert page.headers["content-type"].startswith("text/html")
        assert "Startar" in page.text and 'lang="sv"' in page.text
        # No timed reload (WCAG 2.2.1, axe's meta-refresh): a link to try again.
        assert 'http-equiv="refresh"' not in page.text and "Försök igen</a>" in page.text
        assert "set-cookie" not in page.headers  # the session starts with the real page
        head = client.head("/")
        assert head.status_code == 503 and head.content == b""

        for path in ("/config", "/gradio_api/queue/data", "/theme.css"):
            api = client.get(path, headers={"X-API-Key": KEY})
            assert api.status_code == 503, path
            assert api.headers["retry-after"].isdigit(), path
            assert "startar" in api.json()["error"], path
        assert _ui_state(client) == "loading"  # still held


def test_the_ui_takes_over_without_an_error_in_between(held_server: LiveServer,
                                                       held_build: threading.Event) -> None:
    statuses: list[int] = []
    with httpx.Client(base_url=held_server.url, timeout=30) as client:
        statuses.append(client.get("/", headers=HTML).status_code)
        held_build.set()
        deadline = time.monotonic() + 90
        while statuses[-1] != 200 and time.monotonic() < deadline:
            statuses.append(client.get("/", headers=HTML).status_code)
            time.sleep(0.02)
        page = client.get("/", headers=HTML)
        assert set(statuses) == {503, 200}, statuses
        assert statuses.index(200) == len(statuses) - 1  # no flapping back once mounted
        assert "gradio" in page.text.lower()
        assert "set-cookie" in page.headers  # the UI's session, as before
        assert _ui_state(client) == "ready"
        # The chat UI's calls are under the API's rules: a credential (that session, from
        # the page itself) or nothing.
        own_page = {"Sec-Fetch-Site": "same-origin"}
        assert client.get("/config", headers=own_page).status_code == 200
        client.cookies.clear()
        assert client.get("/config", headers=own_page).status_code == 401
        assert client.get("/config", headers={"X-API-Key": KEY}).status_code == 200


def test_a_page_asked_for_during_the_build_waits_for_it(
        held_server: LiveServer, held_build: threading.Event,
        monkeypatch: pytest.MonkeyPatch) -> None:
    """A visitor arriving while the UI builds gets the chat page once it is ready, not
    "Startar…", when the build ends within the hold."""
    monkeypatch.setattr(UiSlot, "page_hold", 60)
    threading.Timer(0.5, held_build.set).start()
    with httpx.Client(base_url=held_server.url, timeout=90) as client:
        page = client.get("/", headers=HTML)
        assert page.status_code == 200, page.text[:200]
        assert "gradio" in page.text.lower()


def test_the_starting_page_passes_axe(held_server: LiveServer, browser: Browser) -> None:
    context = browser.new_context(locale="sv-SE")
    try:
        page = context.new_page()
        response = page.goto(held_server.url + "/")
        assert response is not None and response.status == 503
        assert_accessible(page, "the Startar… page")
    finally:
        context.close()


def test_a_failed_ui_build_leaves_the_api_up(
        monkeypatch: pytest.MonkeyPatch, web_assistant: Assistant, sample_index: Settings,
        tmp_path: Path) -> None:
    def broken(*args: Any, **kwargs: Any) -> Any:
        raise RuntimeError("trasig UI")

    monkeypatch.setattr(ui_module, "build_ui", broken)
    server = start_server(configured(sample_index, tmp_path), web_assistant)
    try:
        with httpx.Client(base_url=server.url, timeout=30) as client:
            ready = client.get("/readyz")
            assert ready.status_code == 200
            assert ready.json()["checks"]["ui"]["state"] == "failed"
            assert "trasig UI" in ready.json()["checks"]["ui"]["error"]
            page = client.get("/", headers=HTML)
            assert page.status_code == 503 and "starta om servern" in page.text
            assert client.get("/config").status_code == 503
            assert client.post("/api/chat", json={"question": QUESTION}).status_code == 200
    finally:
        server.stop()
