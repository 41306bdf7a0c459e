"""Issue 16, points 1, 4 and 5: what an attacker still got through, against a real server.

Each test sends what the attacker sent and asserts what must happen now; on the code
before the change each of them failed. Where the findings live:

1. Files through Gradio .................... test_no_upload_to_any_gradio_route_stays_on_disk,
   test_only_the_chat_uis_gradio_routes_are_reachable
4. A widget key opens too much ............. test_widget_key_on_every_route,
   test_widget_key_opens_only_what_widget_js_calls,
   test_widget_budget_counts_on_every_route_it_opens
5. A session cookie opens the API .......... test_session_cookie_on_every_route,
   test_session_cookie_from_a_script_opens_nothing,
   test_session_cookie_needs_its_own_page
Weaker spots ............................... test_ipv6_clients_count_per_network,
   test_forwarded_address_with_a_port, test_oversized_headers_are_431,
   test_slow_headers_are_cut_off, test_forwarded_host_only_from_a_trusted_proxy,
   test_host_port_must_be_a_port, test_source_pages_are_rate_limited,
   test_pages_carry_a_csp_with_frame_ancestors, test_another_scheme_is_another_origin
The threat model's other credentials ... test_secret_key_on_every_route,
   test_metrics_key_on_every_route, test_admin_key_on_every_route,
   test_admin_session_on_every_route (issue 21; docs/security.md's table against the
   declaration:
   tests/web/test_routes.py::test_security_docs_table_lists_every_route_as_declared)
"""

from __future__ import annotations

import os
import re
import socket
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from gradio.route_utils import DEFAULT_TEMP_DIR
from pydantic import SecretStr
from starlette.routing import BaseRoute, Mount

from assistant.answer import Assistant
from assistant.config import Settings
from assistant.web.pages import read_asset
from assistant.web.routes import FALLBACKS, ROUTES, RouteRule, example_path, rule_for
from tests.web.conftest import (
    QUESTION,
    TROLLHATTAN_DOC,
    LiveServer,
    configured,
    start_server,
)
from tests.web.test_admin import ADMIN_KEY, editable, page_headers, sign_in  # noqa: F401  (fixture)
from tests.web.test_admin import API_KEY as EDITABLE_API_KEY

KEY = "sk-hardening2-0123456789"
INTRANET = "https://intranat.kommun.se"
WIDGET_KEY = "pk_hardening2_intranet"
METRICS_KEY = "metrics-hardening2-0123456789"
CHAT = {"question": QUESTION}
V1 = {"model": "skolassistent", "messages": [{"role": "user", "content": QUESTION}]}
FEEDBACK = {"question": "Fråga?", "answer": "Svar [1].", "rating": 1}
RECORDING = b"\x00\x00\x00\x18ftypmp42" + os.urandom(63_000)  # 63 kB "video"


def _keys(*keys: str) -> list[SecretStr]:
    return [SecretStr(k) for k in keys]


@pytest.fixture(scope="module")
def keyed(web_assistant: Assistant, sample_index: Settings,
          tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    """Keys required, a widget key for INTRANET, no rate limits in the way."""
    settings = configured(sample_index, tmp_path_factory.mktemp("hardening2"),
                          api_keys=_keys(KEY), widget_keys=_keys(f"{INTRANET}={WIDGET_KEY}"),
                          widget_rate_limit="off", read_rate_limit="off",
                          admin_keys=_keys(ADMIN_KEY), admin_rate_limit="off")
    server = start_server(settings, web_assistant)
    yield server
    server.stop()


def _session(server: LiveServer) -> str:
    """The cookie an anonymous ``GET /`` hands out, as ``name=value``."""
    page = httpx.get(server.url + "/")
    assert page.status_code == 200
    return page.headers["set-cookie"].split(";", 1)[0]


def _page_headers(server: LiveServer, cookie: str) -> dict[str, str]:
    """What the chat page's own requests send (chromium: Origin on POST, Sec-Fetch-Site)."""
    return {"Cookie": cookie, "Origin": server.url, "Sec-Fetch-Site": "same-origin"}


def _widget_headers() -> dict[str, str]:
    return {"Origin": INTRANET, "X-Widget-Key": WIDGET_KEY}


def _status(server: LiveServer, method: str, path: str, headers: dict[str, str],
            **kwargs: Any) -> int:
    """The status only: some routes stream (Gradio's heartbeat never ends)."""
    with httpx.stream(method, server.url + path, headers=headers, timeout=30,
                      **kwargs) as response:
        return response.status_code


def _example(rule: RouteRule) -> tuple[str, str]:
    """A request the rule answers: one of its methods (POST first), a path it matches."""
    methods = sorted(rule.methods or {"GET"}, key=lambda m: (m != "POST", m))
    path = rule.path
    if rule.prefix:
        path += "x" if path.endswith("/") else "/x"
    assert rule_for(methods[0], path) is rule, (methods[0], path)
    return methods[0], path


# What each credential is for (issue 16): the widget asks questions; the chat page makes
# its Gradio calls, and the widget on our own pages asks with the page's cookie.
WIDGET_OPENS = {"/api/chat"}
SESSION_OPENS = {"/api/chat", "/config", "/config/", "/gradio_api/queue/join",
                 "/gradio_api/queue/data", "/gradio_api/heartbeat/", "/gradio_api/cancel"}


def _mismatches(server: LiveServer, kind: str, headers: dict[str, str],
                opens: set[str]) -> list[str]:
    """Every declared route, asked with one credential: open (anything but 401/403) where
    the rule is public or its path is in ``opens``, else 401 (closed routes and the
    operator's: 403/404).
    Both the declaration and the server's answer must agree."""
    wrong = []
    for rule in (*ROUTES, *FALLBACKS):
        method, path = _example(rule)
        should_open = rule.public or rule.path in opens
        if rule.admits(kind) != should_open:
            wrong.append(f"{method} {path}: declared {sorted(rule.access)}")
        body: dict[str, Any] = {"json": {}} if method == "POST" else {}
        status = _status(server, method, path, headers, **body)
        # Closed routes, and the operator's (/metrics) to anyone else, do not exist.
        refused = {403, 404} if rule.closed or rule.operator_only else {401}
        if (status in (401, 403)) if should_open else (status not in refused):
            wrong.append(f"{method} {path}: {status}, expected "
                         f"{'open' if should_open else sorted(refused)}")
    return wrong


# --- 1. files through Gradio ---------------------------------------------------------------


def _gradio_routes(server: LiveServer) -> list[tuple[str, str]]:
    """(method, path) of every route the mounted chat UI serves."""
    def walk(routes: list[BaseRoute]) -> Iterator[tuple[str, str]]:
        for route in routes:
            nested = getattr(route, "original_router", None)
            if nested is not None:
                yield from walk(nested.routes)
            elif not isinstance(route, Mount):
                for method in sorted(getattr(route, "methods", None) or ()):
                    yield method, example_path(getattr(route, "path", ""))

    ui = server.app.state.ui.app
    assert ui is not None
    found = sorted(set(walk(ui.routes)))
    assert len(found) > 50
    return found


def _files(*folders: Path) -> int:
    return sum(len(files) for folder in folders if folder.exists()
               for _, _, files in os.walk(folder))


def test_no_upload_to_any_gradio_route_stays_on_disk(
        keyed: LiveServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Every Gradio route, with every credential, gets a 63 kB file: none of it stays in
    the temp folders, and every route that takes files is closed."""
    private_tmp = tmp_path / "tmp"
    private_tmp.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(private_tmp))  # the server's too: in-process
    folders = (private_tmp, Path(DEFAULT_TEMP_DIR))
    before = _files(*folders)
    credentials = {"session": _page_headers(keyed, _session(keyed)),
                   "widget": _widget_headers(), "key": {"X-API-Key": KEY}}
    answers = []
    for method, path in _gradio_routes(keyed):
        for kind, headers in credentials.items():
            for field in ("files", "video"):
                status = _status(keyed, method if method != "HEAD" else "POST", path, headers,
                                 files={field: ("clip.mp4", RECORDING, "video/mp4")})
                answers.append((kind, method, path, status))
    assert _files(*folders) == before
    accepted = [a for a in answers if rule_for(a[1], a[2]).takes_files and a[3] != 403]
    assert not accepted, accepted


def test_only_the_chat_uis_gradio_routes_are_reachable(keyed: LiveServer) -> None:
    """With the page's own cookie, only the calls the chat UI makes answer; the rest of
    what Gradio serves is 404 (403: files)."""
    headers = _page_headers(keyed, _session(keyed))
    used = {("POST", "/gradio_api/queue/join"), ("GET", "/gradio_api/queue/data"),
            ("GET", "/gradio_api/heartbeat/x"), ("POST", "/gradio_api/cancel"),
            ("GET", "/config"), ("GET", "/config/")}
    wrong = []
    for method, path in _gradio_routes(keyed):
        rule = rule_for(method, path)
        if rule.public:
            continue
        status = _status(keyed, method, path, headers,
                         **({"json": {}} if method == "POST" else {}))
        reachable = status not in (401, 403, 404)
        if reachable != ((method, path) in used):
            wrong.append(f"{method} {path}: {status}")
    assert not wrong, wrong


# --- 4. the widget key ------------------------------------------------------------------------


def test_widget_key_on_every_route(keyed: LiveServer) -> None:
    """Over the route table: the widget key (from its origin) opens /api/chat and the
    public routes, nothing else (not /v1, the feedback API or Gradio)."""
    wrong = _mismatches(keyed, "widget", _widget_headers(), WIDGET_OPENS)
    assert not wrong, wrong


def test_widget_key_opens_only_what_widget_js_calls() -> None:
    """The routes widget.js calls (``base + '/…'``) are public or admit the widget key; every
    other route that takes a credential refuses it."""
    script = read_asset("widget.js")
    called = {m.group(1) for m in re.finditer(r"base \+ '(/[^']*)'", script)}
    assert "/api/chat" in called and "/api/sources/" in called
    calls = {rule_for("POST" if p == "/api/chat" else "GET", p + ("x" if p.endswith("/")
                                                                   else "")) for p in called}
    assert all(r.public or r.admits("widget") for r in calls)
    opened = {r for r in ROUTES + FALLBACKS if not r.public and r.admits("widget")}
    assert opened <= calls


def test_widget_budget_counts_on_every_route_it_opens(server_factory: Any) -> None:
    """After the key's budget answered 429 on /api/chat, no route answers with it."""
    server = server_factory(api_keys=_keys(KEY), widget_keys=_keys(f"{INTRANET}={WIDGET_KEY}"),
                            widget_rate_limit="2/minute", rate_limit="100/minute")
    headers = _widget_headers()
    statuses = [httpx.post(server.url + "/api/chat", json=CHAT, headers=headers).status_code
                for _ in range(3)]
    assert statuses == [200, 200, 429]
    attempts = (("/gradio_api/call/respond", {"data": [QUESTION, "", None]}),
                ("/gradio_api/run/respond", {"data": [QUESTION, "", None]}),
                ("/gradio_api/queue/join", {"data": [QUESTION, "", None], "fn_index": 0,
                                            "session_hash": "x"}),
                ("/v1/chat/completions", V1), ("/api/feedback", FEEDBACK), ("/api/chat", CHAT))
    for path, body in attempts:
        response = httpx.post(server.url + path, json=body, headers=headers, timeout=60)
        assert response.status_code >= 400, (path, response.status_code)
    for rule in ROUTES + FALLBACKS:
        if not rule.public and rule.admits("widget"):
            assert rule.limits.rate == "client", rule.path  # the key's budget counts there
            method, path = _example(rule)
            assert _status(server, method, path, headers, json=CHAT) == 429, path


# --- 5. the session cookie --------------------------------------------------------------------


def test_session_cookie_on_every_route(keyed: LiveServer) -> None:
    """Over the route table: the page's cookie, sent as the page sends it, opens the chat
    UI's calls and /api/chat (the widget on our own pages), never /v1, the feedback API
    or Gradio's other routes."""
    wrong = _mismatches(keyed, "session", _page_headers(keyed, _session(keyed)),
                        SESSION_OPENS)
    assert not wrong, wrong


def test_session_cookie_from_a_script_opens_nothing(keyed: LiveServer) -> None:
    """The cookie of an anonymous GET /, sent by a script (no Origin, no Sec-Fetch-Site)."""
    cookie = {"Cookie": _session(keyed)}
    wrong = []
    for rule in (*ROUTES, *FALLBACKS):
        if rule.public or rule.closed:
            continue
        method, path = _example(rule)
        status = _status(keyed, method, path, cookie, json={})
        if status != (404 if rule.operator_only else 401):
            wrong.append(f"{method} {path}: {status}")
    assert not wrong, wrong


def test_session_cookie_needs_its_own_page(keyed: LiveServer) -> None:
    cookie = _session(keyed)

    def config(headers: dict[str, str]) -> int:
        return httpx.get(keyed.url + "/config", headers={"Cookie": cookie, **headers}
                         ).status_code

    assert config({"Sec-Fetch-Site": "same-origin"}) == 200  # the page's GET: no Origin
    assert config({"Origin": keyed.url}) == 200
    assert config({}) == 401
    assert config({"Sec-Fetch-Site": "cross-site"}) == 401
    assert config({"Sec-Fetch-Site": "same-site"}) == 401
    assert config({"Origin": keyed.url, "Sec-Fetch-Site": "cross-site"}) == 401
    assert config({"Origin": keyed.url.replace("http://", "https://")}) == 403


# --- the other credentials (docs/security.md's threat model) -----------------------------


def test_secret_key_on_every_route(keyed: LiveServer) -> None:
    """Over the route table: a secret key opens every route that is not closed, except
    the operator's (/metrics: 404)."""
    opens = {r.path for r in (*ROUTES, *FALLBACKS)
             if not r.public and not r.closed and not r.operator_only and not r.editor_only}
    wrong = _mismatches(keyed, "key", {"X-API-Key": KEY}, opens)
    assert not wrong, wrong


# The knowledge base's admin routes (issue 21): an editor's credential opens them and
# nothing else; every other credential is refused there (the tests above).
EDITOR_OPENS = {r.path for r in (*ROUTES, *FALLBACKS) if r.editor_only}


def test_admin_key_on_every_route(editable: LiveServer) -> None:  # noqa: F811
    """Over the route table, on a server with a corpus of its own (the admin routes
    write): an admin key opens the admin routes and the public ones, nothing else."""
    wrong = _mismatches(editable, "editor", {"Authorization": f"Bearer {ADMIN_KEY}"},
                        EDITOR_OPENS)
    assert not wrong, wrong


def test_admin_session_on_every_route(editable: LiveServer) -> None:  # noqa: F811
    """The admin page's session (with its CSRF token, as the page sends it) opens the
    admin routes and the public ones, never the chat's, /v1 or the feedback API."""
    cookie, csrf = sign_in(editable)
    wrong = _mismatches(editable, "editor_session", page_headers(editable, cookie, csrf),
                        EDITOR_OPENS)
    assert not wrong, wrong
    # And the API key of that server opens none of them.
    assert _status(editable, "GET", "/api/admin/documents",
                   {"X-API-Key": EDITABLE_API_KEY}) == 401


def test_metrics_key_on_every_route(server_factory: Any) -> None:
    """Over the route table: the operator's metrics key opens /metrics and the public
    routes, nothing that wants another credential."""
    server = server_factory(api_keys=_keys(KEY), metrics_key=SecretStr(METRICS_KEY),
                            read_rate_limit="off", admin_keys=_keys(ADMIN_KEY),
                            admin_rate_limit="off")
    wrong = _mismatches(server, "admin", {"Authorization": f"Bearer {METRICS_KEY}"},
                        {"/metrics"})
    assert not wrong, wrong


# --- weaker spots -----------------------------------------------------------------------------


def _feedback(server: LiveServer, forwarded: str) -> int:
    return httpx.post(server.url + "/api/feedback", json=FEEDBACK,
                      headers={"X-Forwarded-For": forwarded}).status_code


def test_ipv6_clients_count_per_network(server_factory: Any) -> None:
    server = server_factory(rate_limit="3/minute", trusted_proxies=["127.0.0.1"])
    statuses = [_feedback(server, f"2001:db8:1:2::{i:x}") for i in range(1, 7)]
    assert statuses == [201, 201, 201, 429, 429, 429]  # one /64, six addresses
    assert _feedback(server, "2001:db8:1:3::1") == 201  # the next /64 is another client
    per_address = server_factory(rate_limit="1/minute", trusted_proxies=["127.0.0.1"],
                                 ipv6_prefix=128)
    assert [_feedback(per_address, f"2001:db8::{i}") for i in (1, 2)] == [201, 201]


def test_forwarded_address_with_a_port(server_factory: Any) -> None:
    server = server_factory(rate_limit="2/minute", trusted_proxies=["127.0.0.1"])
    statuses = [_feedback(server, f"203.0.113.5:{port}") for port in (1111, 2222, 3333)]
    assert statuses == [201, 201, 429]
    assert _feedback(server, "203.0.113.5") == 429  # the same client without a port
    v6 = [_feedback(server, f"[2001:db8::5]:{port}") for port in (1, 2, 3)]
    assert v6 == [201, 201, 429]


def test_oversized_headers_are_431(server_factory: Any) -> None:
    server = server_factory()
    assert httpx.get(server.url + "/healthz", headers={"X-Pad": "x" * 4000}).status_code == 200
    one = httpx.get(server.url + "/healthz", headers={"X-Pad": "x" * 9000})
    assert one.status_code == 431 and "huvuden" in one.json()["error"]
    many = {f"X-Pad-{i}": "x" * 6000 for i in range(3)}
    assert httpx.get(server.url + "/healthz", headers=many).status_code == 431
    try:  # 16 MiB: refused before it is read whole (the connection may close mid-send)
        huge = httpx.get(server.url + "/healthz", headers={"X-Pad": "x" * (16 << 20)},
                         timeout=30).status_code
    except httpx.TransportError:
        huge = None
    assert huge in (400, 431, None)
    assert httpx.get(server.url + "/healthz").status_code == 200


def test_slow_headers_are_cut_off(server_factory: Any) -> None:
    """Connections that trickle their headers are closed once ASSISTANT_HEADER_TIMEOUT
    has passed, however steadily they trickle."""
    server = server_factory(header_timeout=1.0)
    port = int(server.url.rsplit(":", 1)[1])
    slow = [socket.create_connection(("127.0.0.1", port)) for _ in range(20)]
    silent = socket.create_connection(("127.0.0.1", port))  # opens and sends nothing
    try:
        for sock in slow:
            sock.sendall(b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\n")
        closed: set[int] = set()
        deadline = time.monotonic() + 4
        while time.monotonic() < deadline and len(closed) < len(slow):
            for i, sock in enumerate(slow):
                if i in closed:
                    continue
                try:
                    sock.sendall(b"X-Slow: 1\r\n")
                    sock.settimeout(0.01)
                    if sock.recv(1) == b"":
                        closed.add(i)
                except TimeoutError:
                    pass
                except OSError:
                    closed.add(i)
            time.sleep(0.2)
        assert len(closed) == len(slow)
        silent.settimeout(3)
        assert silent.recv(1) == b""
    finally:
        for sock in (*slow, silent):
            sock.close()
    assert httpx.get(server.url + "/healthz").status_code == 200  # others are served


def test_forwarded_host_only_from_a_trusted_proxy(server_factory: Any) -> None:
    """Gradio writes X-Forwarded-Host into the page's config root (the URLs the page loads
    its files from and sends its calls to)."""
    server = server_factory()
    forged = {"X-Forwarded-Host": "evil.example", "X-Forwarded-Proto": "https"}
    for path in ("/", "/config"):
        response = httpx.get(server.url + path, headers=forged)
        assert response.status_code == 200, path
        assert "evil.example" not in response.text, path
    proxied = server_factory(trusted_proxies=["127.0.0.1"], allowed_hosts=["assistent.se"])
    for host in ("evil.example", "assistent.se"):
        page = httpx.get(proxied.url + "/config", headers={"X-Forwarded-Host": host}).text
        assert (host in page) == (host == "assistent.se"), host


def test_host_port_must_be_a_port(server_factory: Any) -> None:
    server = server_factory()
    for host in ("[::1]:junk", "[::1]x", "localhost:junk", "localhost:99999", "[::1]:-1"):
        response = httpx.get(server.url + "/healthz", headers={"Host": host})
        assert response.status_code == 400, host
    for host in ("[::1]:8080", "localhost:8080", "[::1]", "localhost"):
        assert httpx.get(server.url + "/healthz", headers={"Host": host}).status_code == 200


def test_source_pages_are_rate_limited(server_factory: Any) -> None:
    server = server_factory(read_rate_limit="3/minute", rate_limit="1/minute")
    statuses = [httpx.get(f"{server.url}/api/sources/{TROLLHATTAN_DOC}").status_code
                for _ in range(4)]
    assert statuses == [200, 200, 200, 429]
    # A bucket of its own: reading sources does not use up the questions.
    assert httpx.post(server.url + "/api/chat", json=CHAT).status_code == 200


def test_pages_carry_a_csp_with_frame_ancestors(server_factory: Any) -> None:
    server = server_factory()
    for path in ("/", "/docs", "/widget-demo", f"/api/sources/{TROLLHATTAN_DOC}"):
        response = httpx.get(server.url + path, headers={"Accept": "text/html"})
        assert response.status_code == 200, path
        policy = response.headers.get("content-security-policy", "")
        assert policy.endswith("frame-ancestors 'self'"), (path, policy)
        assert "default-src" in policy and "script-src *" not in policy, path
    ui = httpx.get(server.url + "/").headers["content-security-policy"]
    assert "connect-src 'self'" in ui and "object-src 'none'" in ui
    framed = server_factory(frame_ancestors=["'self'", "https://intranat.kommun.se"])
    policy = httpx.get(framed.url + "/").headers["content-security-policy"]
    assert policy.endswith("frame-ancestors 'self' https://intranat.kommun.se")


def test_another_scheme_is_another_origin(server_factory: Any) -> None:
    server = server_factory()
    https = server.url.replace("http://", "https://")
    response = httpx.post(server.url + "/api/chat", json=CHAT, headers={"Origin": https})
    assert response.status_code == 403
    assert "access-control-allow-origin" not in response.headers
    assert httpx.post(server.url + "/api/chat", json=CHAT,
                      headers={"Origin": server.url}).status_code == 200
