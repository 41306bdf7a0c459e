"""The browser's own network, measured: the check that guards every browser test catches
a page that loads an outside URL, passes a page that stays on 127.0.0.1, and the switches
keep Playwright's own. Nothing leaves the machine: the outside name is never looked up
(the resolver rules answer "not found"), yet the attempt is in the log."""

from __future__ import annotations

import http.server
import json
import re
import threading
from collections.abc import Iterator
from pathlib import Path

import playwright
import pytest
from playwright.sync_api import sync_playwright

from tests.support.browser import (
    CHROMIUM_ARGS,
    PLAYWRIGHT_DISABLED_FEATURES,
    launch_chromium,
    outside_hosts,
)

pytestmark = [pytest.mark.browser]


class _Page(http.server.BaseHTTPRequestHandler):
    body = b""

    def do_GET(self) -> None:
        self.send_response(200)
        self.send_header("Content-Type", "text/html; charset=utf-8")
        self.send_header("Content-Length", str(len(self.body)))
        self.end_headers()
        self.wfile.write(self.body)

    def log_message(self, format: str, *args: object) -> None:
        pass


@pytest.fixture
def serve() -> Iterator[object]:
    """``serve(html)`` → a 127.0.0.1 URL answering every path with ``html``."""
    servers: list[http.server.ThreadingHTTPServer] = []

    def start(html: str) -> str:
        handler = type("Page", (_Page,), {"body": html.encode()})
        server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
        threading.Thread(target=server.serve_forever, daemon=True).start()
        servers.append(server)
        return f"http://127.0.0.1:{server.server_address[1]}/"

    yield start
    for server in servers:
        server.shutdown()
        server.server_close()


def _visit(url: str, netlog: Path) -> list[str]:
    with sync_playwright() as pw:
        browser = launch_chromium(pw, netlog)
        page = browser.new_page()
        page.goto(url)
        page.wait_for_load_state("networkidle")
        # a form: the kind of page that made Chromium ask Google's autofill servers
        page.fill("input[name=email]", "lärare@skola.se")
        page.wait_for_timeout(1500)
        browser.close()
    return outside_hosts(netlog)


FORM = '<form><input name="email" autocomplete="email"><input type="password"></form>'


def test_a_page_that_loads_an_outside_url_is_caught(serve, tmp_path: Path) -> None:
    url = serve(f'<!doctype html><title>ut</title>{FORM}'
                '<img src="https://bilder.example.com/x.png"><script '
                'src="http://cdn.example.org/a.js"></script>')
    assert _visit(url, tmp_path / "netlog.json") == ["bilder.example.com", "cdn.example.org"]


def test_a_local_page_with_a_form_contacts_nothing_else(serve, tmp_path: Path) -> None:
    url = serve(f'<!doctype html><title>hemma</title>{FORM}<img src="/bild.png">')
    netlog = tmp_path / "netlog.json"
    assert _visit(url, netlog) == []
    assert "127.0.0.1" in netlog.read_text(encoding="utf-8")  # the log saw the page itself


def test_outside_hosts_reads_requests_lookups_and_sockets(tmp_path: Path) -> None:
    """A DNS query that sent bytes counts; a UDP connect that sent nothing does not."""
    types = {"URL_REQUEST_START_JOB": 1, "HOST_RESOLVER_MANAGER_REQUEST": 2,
             "TCP_CONNECT_ATTEMPT": 3, "UDP_CONNECT": 4, "UDP_BYTES_SENT": 5}
    events = [
        {"type": 1, "source": {"id": 1}, "params": {"url": "http://127.0.0.1:5/x"}},
        {"type": 1, "source": {"id": 1}, "params": {"url": "data:text/plain,hej"}},
        {"type": 2, "source": {"id": 2}, "params": {"host": "https://accounts.google.com"}},
        {"type": 2, "source": {"id": 2}, "params": {"host": "https://~notfound"}},
        {"type": 3, "source": {"id": 3}, "params": {"address": "93.184.216.34:443"}},
        {"type": 4, "source": {"id": 4}, "params": {"address": "10.0.0.53:53"}},
        {"type": 5, "source": {"id": 4}, "params": {"byte_count": 40}},
        {"type": 4, "source": {"id": 6}, "params": {"address": "[2001:4860:4860::8888]:443"}},
    ]
    path = tmp_path / "netlog.json"
    text = json.dumps({"constants": {"logEventTypes": types}, "events": events})
    path.write_text(text[:-2] + ",", encoding="utf-8")  # cut short, as by a crash
    assert outside_hosts(path) == ["10.0.0.53", "93.184.216.34", "accounts.google.com"]


def test_our_disabled_features_keep_playwrights() -> None:
    """A second --disable-features replaces Playwright's; ours must still hold its list."""
    bundle = Path(playwright.__file__).parent / "driver/package/lib/coreBundle.js"
    match = re.search(r"disabledFeatures = \[(.*?)\]\.filter", bundle.read_text("utf-8"),
                      re.DOTALL)
    assert match, f"Playwright's list of disabled features not found in {bundle}"
    theirs = set(re.findall(r'^\s*"(\w+)"', match.group(1), re.MULTILINE))
    assert theirs and theirs <= set(PLAYWRIGHT_DISABLED_FEATURES)
    assert sum(a.startswith("--disable-features=") for a in CHROMIUM_ARGS) == 1
