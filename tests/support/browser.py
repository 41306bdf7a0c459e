"""Chromium for the browser tests and the screenshot script: one set of switches, and a
check, from Chromium's own network log, that it contacted nothing but 127.0.0.1.

Headless Chromium talks to Google on its own: autofill (``content-autofill.googleapis.com``)
as soon as a page has a form, the sign-in cookie check (``accounts.google.com``), the
on-device model manifest (``update.googleapis.com``), each after a DNS lookup; a
``make test`` once made about 500 of them. :data:`CHROMIUM_ARGS` turns each off or points
it at a closed local port, and maps every other host name to "not found" so that no lookup
can leave the machine. That the switches work is measured, not assumed: every browser is
launched with ``--log-net-log`` and :func:`outside_hosts` reads the log (the fixture
:func:`browser` fails the module's last test when it finds one).
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

import pytest

if TYPE_CHECKING:
    from playwright.sync_api import Browser, ConsoleMessage, Page, Playwright, ViewportSize

CHROMIUM = Path("/usr/bin/chromium")  # Debian's; scripts/install-chromium.sh installs it

# Where the services that ignore --disable-background-networking are sent: the discard
# port on loopback, where nothing listens, so they fail at once without leaving the host.
NOWHERE = "http://127.0.0.1:9"
LOOPBACK = frozenset({"127.0.0.1", "localhost", "::1"})  # localhost: Chromium answers itself

# Playwright passes --disable-features itself, and a second one replaces the first: ours
# repeats Playwright 1.65's list (tests/support/test_chromium.py checks it still does).
PLAYWRIGHT_DISABLED_FEATURES = (
    "AvoidUnnecessaryBeforeUnloadCheckSync", "DestroyProfileOnBrowserClose", "HttpsUpgrades",
    "HttpsFirstBalancedModeAutoEnable", "LensOverlay", "MediaRouter", "PaintHolding",
    "ThirdPartyStoragePartitioning", "AvoidCorsURLLoaderRestartOnRedirect",
    "TcpPortRandomizationWin", "OptimizationHints", "NetworkTimeServiceQuerying", "AimEnabled",
    "PreconnectToSearch", "msForceBrowserSignIn", "msEdgeUpdateLaunchServicesPreferredVersion",
)
QUIET_FEATURES = ("AutofillServerCommunication", "Translate")

CHROMIUM_ARGS = (
    "--no-sandbox", "--disable-gpu", "--disable-background-networking",
    "--disable-component-update", "--no-first-run", "--disable-sync",
    "--disable-default-apps", "--disable-domain-reliability", "--no-pings",
    "--disable-client-side-phishing-detection",
    "--disable-features=" + ",".join(PLAYWRIGHT_DISABLED_FEATURES + QUIET_FEATURES),
    f"--gaia-url={NOWHERE}",                          # the sign-in cookie check
    f"--component-updater=url-source={NOWHERE}",      # on-demand component installs
    "--host-resolver-rules=MAP * ~NOTFOUND, EXCLUDE 127.0.0.1, EXCLUDE localhost",
)


def launch_chromium(playwright: Playwright, netlog: Path | None = None) -> Browser:
    """Debian's Chromium, headless, with :data:`CHROMIUM_ARGS` (and a network log)."""
    if not CHROMIUM.exists():
        pytest.fail("Debian's chromium is missing: run `make chromium` (or "
                    "`apt-get install chromium`); the browser tests never download a browser")
    args = [*CHROMIUM_ARGS, *([f"--log-net-log={netlog}"] if netlog else [])]
    return playwright.chromium.launch(executable_path=str(CHROMIUM), args=args)


# --- reading the network log -------------------------------------------------------------


def read_netlog(path: Path) -> dict[str, Any]:
    """The NetLog JSON; a log cut short (a browser that died) is closed before parsing."""
    text = Path(path).read_text(encoding="utf-8")
    try:
        return dict(json.loads(text))
    except json.JSONDecodeError:
        return dict(json.loads(text.rstrip().rstrip(",") + "]}"))


def _host(value: str) -> str:
    """``https://a.b:443``, ``a.b:443``, ``[::1]:80``, ``1.2.3.4:53`` or ``a.b`` → the host."""
    parts = urlsplit(value if "://" in value else f"//{value}")
    return (parts.hostname or "").lower()


def outside_hosts(path: Path) -> list[str]:
    """Every host other than loopback the browser asked for, looked up or reached.

    Counted: URL requests (``URL_REQUEST_START_JOB``), host resolutions
    (``HOST_RESOLVER_*``), TCP connection attempts, and UDP sockets that sent or received
    data (a DNS query is one). A UDP ``connect`` that sends nothing (Chromium's IPv6
    reachability probe) reaches nobody and is not counted.
    """
    log = read_netlog(path)
    names = {number: name for name, number in log["constants"]["logEventTypes"].items()}
    events = [(names.get(e["type"], ""), e.get("source", {}).get("id"), e.get("params") or {})
              for e in log["events"]]
    talking = {source for kind, source, _ in events
               if kind in ("UDP_BYTES_SENT", "UDP_BYTES_RECEIVED")}
    found: set[str] = set()
    for kind, source, params in events:
        if kind == "URL_REQUEST_START_JOB" and urlsplit(params.get("url", "")).scheme in (
                "http", "https", "ws", "wss"):
            found.add(_host(params["url"]))
        elif kind.startswith("HOST_RESOLVER") and isinstance(params.get("host"), str):
            found.add(_host(params["host"]))
        elif kind == "TCP_CONNECT_ATTEMPT" or (kind == "UDP_CONNECT" and source in talking):
            found.add(_host(str(params.get("address", ""))))
    # "~notfound" is what the resolver rules turn an outside name into; the name itself
    # is already counted from its request.
    return sorted(found - LOOPBACK - {"", "~notfound"})


# --- the tests' browser -------------------------------------------------------------------


@pytest.fixture(scope="module")
def browser(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Browser]:
    """One Chromium per test module; when the module is done its network log must name no
    host but 127.0.0.1 (the run fails otherwise, naming the hosts). Module scope: a sync
    Playwright left open for the whole session would sit under every other test's event
    loop."""
    from playwright.sync_api import sync_playwright

    netlog = tmp_path_factory.mktemp("chromium") / "netlog.json"
    with sync_playwright() as playwright:
        browser = launch_chromium(playwright, netlog)
        yield browser
        browser.close()
    outside = outside_hosts(netlog)
    assert not outside, (f"chromium contacted hosts other than 127.0.0.1 during the browser "
                         f"tests: {', '.join(outside)} (network log: {netlog})")


@dataclass
class Recorder:
    """Every request URL and uncaught page error, to check the pages stay on their origins."""

    urls: list[str] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    console: list[str] = field(default_factory=list)

    def attach(self, page: Page) -> None:
        page.on("request", lambda request: self.urls.append(request.url))
        page.on("pageerror", lambda exc: self.errors.append(str(exc)))

        def log(message: ConsoleMessage) -> None:
            if message.type == "error":
                self.console.append(message.text)

        page.on("console", log)

    def assert_only(self, *origins: str) -> None:
        foreign = [u for u in self.urls
                   if not any(u == o or u.startswith(o + "/") for o in origins)]
        assert self.urls and not foreign, f"requests to other hosts: {foreign}"
        # The pages' Content-Security-Policy must not block anything they need.
        blocked = [c for c in self.console if "Content Security Policy" in c]
        assert not blocked, blocked


NewPage = Callable[..., tuple["Page", Recorder]]


@pytest.fixture
def new_page(browser: Browser) -> Iterator[NewPage]:
    """A page in a context of its own (Swedish locale, 1280×900 unless a viewport is
    given) with a :class:`Recorder` attached; every context is closed after the test."""
    contexts = []

    def make(viewport: ViewportSize | None = None) -> tuple[Page, Recorder]:
        context = browser.new_context(viewport=viewport or {"width": 1280, "height": 900},
                                      locale="sv-SE")
        contexts.append(context)
        page = context.new_page()
        page.set_default_timeout(30_000)
        recorder = Recorder()
        recorder.attach(page)
        return page, recorder

    yield make
    for context in contexts:
        context.close()
