"""The route declarations (assistant.web.routes) against the app that is served.

Every route the app serves, the chat UI's Gradio routes included, has a declaration of
its own (not only the fallback for unknown paths), and every declaration still names a
served route; what ``/openapi.json`` publishes (credentials, the history limit, the
body-size limit) is what the server enforces, a request at the limit accepted and one
over it refused.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from pydantic import SecretStr
from starlette.routing import BaseRoute, Mount

from assistant.answer import Assistant
from assistant.config import Settings
from assistant.history import count_turns
from assistant.web import create_app
from assistant.web.routes import (
    FALLBACKS,
    OTHER,
    ROUTES,
    RouteRule,
    example_path,
    rule_for,
)
from tests.web.conftest import QUESTION, configured

KEY = "sk-routes-0123456789"
TURNS = 2
BODY_BYTES = 4096
FEEDBACK = {"question": "Fråga?", "answer": "Svar [1].", "rating": 1}


def _walk(routes: Iterable[BaseRoute]) -> Iterator[tuple[str, str]]:
    """(method, path template) of every route, inside included routers too; mounts are
    left to the caller (the chat UI is mounted at ``/``)."""
    for route in routes:
        nested = getattr(route, "original_router", None)
        if nested is not None:
            yield from _walk(nested.routes)
        elif not isinstance(route, Mount):
            path = getattr(route, "path", "")
            for method in sorted(getattr(route, "methods", None) or ()):
                yield method, path


@pytest.fixture(scope="module")
def app_and_client(web_assistant: Assistant, sample_index: Settings,
                   tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Any, TestClient]]:
    """The app with keys (admin keys too) required, small limits, and the chat UI built."""
    settings = configured(sample_index, tmp_path_factory.mktemp("routes"),
                          api_keys=[SecretStr(KEY)], allowed_hosts=["testserver"],
                          admin_keys=[SecretStr("routes-admin-key-0123456789")],
                          admin_rate_limit="off",
                          max_history_turns=TURNS, max_body_bytes=BODY_BYTES)
    app = create_app(settings, web_assistant)
    with TestClient(app) as client:
        assert app.state.ui.wait(60) and app.state.ui.app is not None
        yield app, client


@pytest.fixture(scope="module")
def served(app_and_client: tuple[Any, TestClient]) -> list[tuple[str, str]]:
    app, _ = app_and_client
    routes = list(_walk(app.routes))
    routes += list(_walk(app.state.ui.app.routes))
    assert len(routes) > 50  # ours and Gradio's
    return routes


@pytest.fixture(scope="module")
def openapi(app_and_client: tuple[Any, TestClient]) -> dict[str, Any]:
    response = app_and_client[1].get("/openapi.json")
    assert response.status_code == 200
    schema: dict[str, Any] = response.json()
    return schema


def _declared(method: str, template: str) -> RouteRule | None:
    """The route's own declaration, or ``None`` when only a fallback matches it."""
    rule = rule_for(method, example_path(template))
    return None if rule in FALLBACKS else rule


def test_every_served_route_has_a_declaration(served: list[tuple[str, str]]) -> None:
    undeclared = sorted({f"{m} {p}" for m, p in served if _declared(m, p) is None})
    assert not undeclared, f"routes without a declaration in assistant.web.routes: {undeclared}"


def test_every_declaration_names_a_served_route(served: list[tuple[str, str]]) -> None:
    paths = [example_path(p) for _, p in served]
    stale = [r.path for r in ROUTES
             if not any(r.matches(m, example_path(p)) for m, p in served)
             and not any(p.startswith(r.path) if r.prefix else p == r.path for p in paths)]
    assert not stale, f"declarations without a served route: {stale}"


def test_credentials_are_enforced_as_declared(app_and_client: tuple[Any, TestClient],
                                              served: list[tuple[str, str]]) -> None:
    """Without a credential: 401 exactly on the routes whose declaration wants one, 404 on
    closed ones and the operator's (403 on those that take files; public routes are only
    asked with GET/HEAD: they may do work)."""
    client = app_and_client[1]
    checked = 0
    for method, template in sorted(set(served)):
        rule = rule_for(method, example_path(template))
        if rule.public and method not in ("GET", "HEAD"):
            continue
        client.cookies.clear()  # the pages hand out a session cookie
        status = client.request(method, example_path(template)).status_code
        expected = ((403 if rule.takes_files else 404) if rule.closed or rule.operator_only
                    else 401 if not rule.public else None)
        if expected is None:
            assert status not in (401, 403), (method, template, status)
        else:
            assert status == expected, (method, template, status)
        checked += 1
    assert checked > 50


def test_published_credentials_are_the_declared_ones(openapi: dict[str, Any]) -> None:
    for path, operations in openapi["paths"].items():
        for method, operation in operations.items():
            rule = rule_for(method.upper(), example_path(path))
            assert ("security" in operation) == (not rule.public), (method, path)
            ok = operation["responses"].get("200", {})
            streamed = "text/event-stream" in ok.get("content", {})
            assert streamed == rule.streams, (method, path)


def _history(messages: int) -> list[dict[str, str]]:
    """Questions and answers in turn: the longest history for its number of turns."""
    return [{"role": "user" if i % 2 == 0 else "assistant", "content": f"meddelande {i}"}
            for i in range(messages)]


def _history_operations(openapi: dict[str, Any]) -> list[tuple[str, dict[str, Any]]]:
    """(path, request body schema) of each operation that publishes a history limit."""
    schemas = openapi["components"]["schemas"]
    found = []
    for path, operations in openapi["paths"].items():
        for operation in operations.values():
            ref = (operation.get("requestBody", {}).get("content", {})
                   .get("application/json", {}).get("schema", {}).get("$ref", ""))
            schema = schemas.get(ref.rsplit("/", 1)[-1], {}) if ref else {}
            if "maxItems" in schema.get("properties", {}).get("history", {}):
                found.append((path, schema))
    return found


def test_published_history_limit_is_the_enforced_one(app_and_client: tuple[Any, TestClient],
                                                     openapi: dict[str, Any]) -> None:
    client = app_and_client[1]
    assert openapi["info"]["x-limits"]["max_history_turns"] == TURNS
    operations = _history_operations(openapi)
    assert {path for path, _ in operations} == {"/api/chat", "/api/feedback"}
    for path, schema in operations:
        most = schema["properties"]["history"]["maxItems"]
        assert count_turns(_history(most)) == TURNS
        body = {**FEEDBACK, "question": QUESTION}
        at_limit = client.post(path, json={**body, "history": _history(most)},
                               headers={"X-API-Key": KEY})
        assert at_limit.status_code in (200, 201), (path, at_limit.text)
        over = client.post(path, json={**body, "history": _history(most + 1)},
                           headers={"X-API-Key": KEY})
        assert over.status_code == 422, (path, over.text)
        assert "Historiken är för lång" in over.json()["error"]


def _padded(payload: dict[str, Any], size: int) -> bytes:
    """``payload`` as JSON, padded with whitespace to exactly ``size`` bytes."""
    raw = json.dumps(payload, ensure_ascii=False).encode()
    assert len(raw) <= size
    return raw + b" " * (size - len(raw))


@pytest.mark.parametrize("path, payload, accepted", [
    ("/api/feedback", FEEDBACK, 201),
    ("/api/chat", {"question": QUESTION}, 200),
    ("/v1/chat/completions", {"messages": [{"role": "user", "content": QUESTION}]}, 200),
])
def test_published_body_limit_is_the_enforced_one(app_and_client: tuple[Any, TestClient],
                                                  openapi: dict[str, Any], path: str,
                                                  payload: dict[str, Any],
                                                  accepted: int) -> None:
    client = app_and_client[1]
    limit = openapi["info"]["x-limits"]["max_body_bytes"]
    assert limit == BODY_BYTES
    headers = {"X-API-Key": KEY, "Content-Type": "application/json"}
    at_limit = client.post(path, content=_padded(payload, limit), headers=headers)
    assert at_limit.status_code == accepted, at_limit.text
    over = client.post(path, content=_padded(payload, limit + 1), headers=headers)
    assert over.status_code == 413


def test_history_limit_is_not_published_as_turns(tmp_path: Path, sample_index: Settings,
                                                 web_assistant: Assistant) -> None:
    """The old contract published the number of turns as the number of messages."""
    app = create_app(configured(sample_index, tmp_path, max_history_turns=5), web_assistant)
    history = app.openapi()["components"]["schemas"]["ChatRequest"]["properties"]["history"]
    assert history["maxItems"] == 10


# --- docs/security.md's table is the declaration (issue 16: "the table lists every route")

SECURITY_DOC = Path(__file__).resolve().parents[2] / "docs" / "security.md"
# The table's credential columns, by the credential kind (assistant.web.auth) they name.
DOC_COLUMNS = {"Secret key": "key", "Session cookie": "session", "Widget key": "widget",
               "Metrics key": "admin", "Admin key": "editor", "Admin session": "editor_session"}
_METHODS = ("GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS")


def _doc_table() -> tuple[list[str], list[list[str]]]:
    """The header and rows of the route table under "Who may call what"."""
    text = SECURITY_DOC.read_text(encoding="utf-8")
    section = text.split("## Who may call what", 1)[1].split("\n## ", 1)[0]
    lines = [line for line in section.splitlines() if line.startswith("| ")]
    cells = [[c.strip() for c in line.strip().strip("|").split(" | ")] for line in lines]
    return cells[0], cells[1:]


def _doc_rules(cell: str) -> set[RouteRule]:
    """The rules the routes named in a table cell (`` `GET /config` ``, `` `/assets/*` ``,
    `` `/pwa_icon*` ``, `` `/api/sources/{id}` ``) get: with every method where the cell
    names none."""
    rules = set()
    for name in re.findall(r"`([^`]+)`", cell):
        method, _, path = name.rpartition(" ")
        if not path.startswith("/"):
            continue  # `call`, `run`, … name parts of a path above
        path = example_path(path).replace("*", "x")
        rules |= {rule_for(m, path) for m in ((method,) if method else _METHODS)}
    return rules


def _doc_says(value: str, rule: RouteRule, kind: str) -> bool:
    """Whether a cell (``yes``, ``public``, ``no: 404``, ``closed: 403`` …) describes
    what the rule declares for a credential of ``kind``."""
    word = value.split(None, 1)[0].rstrip(":")
    return {"public": rule.public,
            "yes": not rule.public and rule.admits(kind),
            "no": not rule.public and not rule.admits(kind) and not rule.closed,
            "closed": rule.closed}.get(word, False)


def test_security_docs_table_lists_every_route_as_declared() -> None:
    """Every declared route (the fallbacks included) is in docs/security.md's table, and
    each row says for every credential what the declaration says; tests/web/
    test_hardening2.py checks that the server does what the declaration says."""
    header, rows = _doc_table()
    assert [c for c in header if c in DOC_COLUMNS] == list(DOC_COLUMNS), header
    columns = {header.index(name): kind for name, kind in DOC_COLUMNS.items()}
    listed: set[RouteRule] = set()
    wrong = []
    for row in rows:
        rules = _doc_rules(row[0])
        assert rules, f"a row without a route: {row[0]}"
        listed |= rules
        if "unknown paths" in row[0] and "/api/" not in row[0]:
            listed.add(OTHER)
        for index, kind in columns.items():
            wrong += [f"{rule.path} {sorted(rule.methods or ['*'])}, {header[index]}: "
                      f"{row[index]!r}, declared {sorted(rule.access)}"
                      for rule in rules if not _doc_says(row[index], rule, kind)]
    assert not wrong, wrong
    missing = [f"{r.path} {sorted(r.methods or ['*'])}" for r in (*ROUTES, *FALLBACKS)
               if r not in listed]
    assert not missing, f"declared routes missing from docs/security.md: {missing}"
