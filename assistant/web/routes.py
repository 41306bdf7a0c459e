"""Every route's rules, declared once: who may call it, its limits, whether it streams.

Why a table: the public paths, the body limits, which requests count against the rate
limit and which answers are Server-Sent Events used to be written into the security
middleware, again into the OpenAPI contract (with different methods) and a third time
into the tests. Now :data:`ROUTES` says it, and

* :class:`~assistant.web.security.SecurityMiddleware` enforces it (access, origin,
  body size, rate limit, the session cookie of the pages),
* :func:`~assistant.web.contract.document_contract` publishes it (credentials per
  operation, the history limit, the SSE media type),
* ``tests/web/test_routes.py`` checks that every route the app serves, the mounted
  chat UI's included, has a declaration and that what is published is what is enforced.

A request gets the first rule whose path (exact, or a prefix) and method match: the
routes' own declarations (:data:`ROUTES`) first, then :data:`FALLBACKS`, what a wrong
method or an unknown path gets in its area, and :data:`OTHER` last: anything else is
closed like the API.

Limits name the setting they come from (:class:`Limits`); the values are in
:class:`~assistant.config.Settings`, and :func:`body_limits` turns them into bytes.

Each credential opens only what its holder needs (issue 16), and :attr:`RouteRule.access`
is the one place that says so: a secret key every route that takes a credential, the
chat page's session cookie only the chat UI's own calls (its Gradio queue, and
``/api/chat`` for the widget on our own pages), a widget key only what ``widget.js``
calls. The chat UI's Gradio routes are an allowlist: every other route the mounted
Gradio app serves is declared closed (404; 403 for the ones that take files), so a new
Gradio version's routes stay closed until declared here.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Literal

if TYPE_CHECKING:
    from assistant.config import Settings

__all__ = [
    "ADMIN",
    "EDITOR",
    "ASKS",
    "CLOSED",
    "SERVERS",
    "UI",
    "FALLBACKS",
    "GRADIO_API",
    "OTHER",
    "PUBLIC",
    "ROUTES",
    "Access",
    "BodyLimit",
    "Limits",
    "RouteRule",
    "body_limits",
    "example_path",
    "rule_for",
]

# Who may call a route. "public": anyone, no credential (only checked for its origin);
# the others name a credential (assistant.web.auth) that opens it when
# ASSISTANT_API_KEYS is set: "key" a secret key, "session" the chat page's session
# cookie, "widget" a widget key from its own origin, "admin" an operator's credential
# (ASSISTANT_METRICS_KEY). No access at all closes a route; a route only an operator may
# call is closed (404) to everyone else, keys or not (RouteRule.operator_only).
# "editor" is an editor's admin key (ASSISTANT_ADMIN_KEYS) and "editor_session" the admin
# page's own signed sign-in cookie: the knowledge base's admin routes take only those.
Access = Literal["public", "session", "widget", "key", "admin", "editor", "editor_session"]
# Which body-size limit applies: "api" = ASSISTANT_MAX_BODY_BYTES, "page" = what else the
# UI loads (at least OTHER_BODY_BYTES).
# "upload" = what an admin upload may carry (ASSISTANT_MAX_UPLOAD_BYTES per file).
BodyLimit = Literal["api", "page", "upload"]
# Which rate-limit bucket counts a request: "client" = the client's (or its secret key's)
# ASSISTANT_RATE_LIMIT bucket plus a widget key's own budget, counted by the middleware;
# "handler" = the same client bucket, counted by the chat UI's event handlers, where the
# event is known; "reads" = the client's ASSISTANT_READ_RATE_LIMIT bucket (pages a person
# opens, not questions); "admin" = the client's ASSISTANT_ADMIN_RATE_LIMIT bucket (every
# admin route, the sign-in included); None = not counted.
RateBucket = Literal["client", "handler", "reads", "admin"]

PUBLIC: frozenset[Access] = frozenset({"public"})
# Asking a question: servers, the widget (a widget key, or the session cookie of our own
# pages that embed it), the chat page.
ASKS: frozenset[Access] = frozenset({"key", "session", "widget"})
# The chat UI's own calls (its Gradio queue): the page's session cookie, and servers.
UI: frozenset[Access] = frozenset({"key", "session"})
# Only servers: /v1 and the JSON feedback route (the UI's feedback goes through its queue).
SERVERS: frozenset[Access] = frozenset({"key"})
ADMIN: frozenset[Access] = frozenset({"admin"})  # operator routes: /metrics
# The knowledge base's editors: an admin key (scripts) or the admin page's session.
EDITOR: frozenset[Access] = frozenset({"editor", "editor_session"})
CLOSED: frozenset[Access] = frozenset()

GRADIO_API = "/gradio_api/"
# Body limit outside /api, /v1 and /gradio_api (the UI's other requests), at least this large.
OTHER_BODY_BYTES = 2_000_000
# Files one admin upload may carry; the upload body limit is this many largest files.
MAX_UPLOAD_FILES = 10
# Room for the multipart framing and the metadata fields beside the files.
UPLOAD_OVERHEAD_BYTES = 256_000
_READ = frozenset({"GET", "HEAD"})
_PARAM = re.compile(r"\{[^}]*\}")


@dataclass(frozen=True)
class Limits:
    """What bounds a request, by the setting the bound comes from."""

    body: BodyLimit = "api"
    rate: RateBucket | None = None
    # The request carries a conversation history, at most ASSISTANT_MAX_HISTORY_TURNS
    # turns (assistant.history.check_turns).
    history_turns: bool = False


_API = Limits(body="api", rate="client")
_ASKS = Limits(body="api", rate="client", history_turns=True)
_READ_API = Limits(body="api")
_READS = Limits(body="api", rate="reads")
_PAGE = Limits(body="page")
_QUEUE = Limits(body="api", rate="handler")
_ADMIN = Limits(body="api", rate="admin")
_ADMIN_PAGE = Limits(body="page", rate="admin")
_UPLOAD = Limits(body="upload", rate="admin")


@dataclass(frozen=True)
class RouteRule:
    """One route (or, with ``prefix``, every path that starts with ``path``)."""

    path: str
    methods: frozenset[str] | None  # None: any method
    access: frozenset[Access]
    limits: Limits = field(default_factory=Limits)
    streams: bool = False  # answers as Server-Sent Events
    prefix: bool = False
    # Served to any origin, even one that is refused elsewhere: a <script src> on any
    # page needs no permission.
    any_origin: bool = False
    # A GET or HEAD hands the browser a fresh session cookie (the pages the UI runs in).
    issues_session: bool = False
    # Closed because it takes files (Gradio's uploads): 403 with a message, not 404.
    takes_files: bool = False
    # Served while the server drains before it stops (assistant.web.shutdown); every
    # other route then answers 503.
    while_draining: bool = False
    # Held open for as long as a page is shown, carrying no answer: a shutdown does not
    # wait for it.
    lingers: bool = False
    # The knowledge base's admin area: it does not exist (404) unless ASSISTANT_ADMIN_KEYS
    # is set, whatever the request shows.
    admin_area: bool = False
    summary: str = ""

    @property
    def public(self) -> bool:
        return "public" in self.access

    @property
    def closed(self) -> bool:
        return not self.access

    @property
    def operator_only(self) -> bool:
        """Only the operator's credential opens it; to anyone else it does not exist
        (404), whether or not ``ASSISTANT_API_KEYS`` is set, so a scan learns nothing."""
        return self.access == ADMIN

    @property
    def editor_only(self) -> bool:
        """Only an editor's credential opens it, with or without ``ASSISTANT_API_KEYS``:
        the knowledge base is never open to anonymous callers."""
        return bool(self.access) and self.access <= EDITOR

    def matches(self, method: str, path: str) -> bool:
        if self.methods is not None and method not in self.methods:
            return False
        return path.startswith(self.path) if self.prefix else path == self.path

    def admits(self, kind: str) -> bool:
        """Whether a credential of ``kind`` (assistant.web.auth) opens this route."""
        return self.public or kind in self.access


def _methods(*names: str) -> frozenset[str]:
    return frozenset(names)


def _public_files(paths: Iterable[str], prefix: bool = False) -> tuple[RouteRule, ...]:
    return tuple(RouteRule(p, None, PUBLIC, _PAGE, prefix=prefix,
                           summary="Chattsidans filer") for p in paths)


def _closed(path: str, summary: str, prefix: bool = False,
            takes_files: bool = False) -> RouteRule:
    return RouteRule(path, None, CLOSED, _PAGE, prefix=prefix, takes_files=takes_files,
                     summary=summary)


OTHER = _closed("/", "Allt annat (okända sökvägar)", prefix=True)

ROUTES: tuple[RouteRule, ...] = (
    # --- the JSON API and the OpenAI-compatible API
    RouteRule("/api/chat", _methods("POST"), ASKS, _ASKS, streams=True,
              summary="Ställ en fråga"),
    RouteRule("/api/feedback", _methods("POST"), SERVERS, _ASKS, summary="Återkoppling"),
    # Published articles, readable like the pages that link to them (also from the
    # widget, whose "open the article" link is a plain navigation without a credential).
    RouteRule("/api/sources/", _READ, PUBLIC, _READS, prefix=True, summary="En källa"),
    RouteRule("/v1/chat/completions", _methods("POST"), SERVERS, _ASKS, streams=True,
              summary="OpenAI-kompatibla svar"),
    RouteRule("/v1/models", _methods("GET"), SERVERS, _API, summary="Modellista"),
    # --- operations, the API reference and the widget
    RouteRule("/healthz", None, PUBLIC, _PAGE, while_draining=True, summary="Liveness"),
    RouteRule("/readyz", None, PUBLIC, _PAGE, while_draining=True, summary="Readiness"),
    RouteRule("/openapi.json", None, PUBLIC, _PAGE, summary="API-beskrivningen"),
    RouteRule("/metrics", _READ, ADMIN, _PAGE, while_draining=True,
              summary="Mätvärden (Prometheus)"),
    RouteRule("/docs", None, PUBLIC, _PAGE, issues_session=True, summary="API-referensen"),
    RouteRule("/widget-demo", None, PUBLIC, _PAGE, issues_session=True,
              summary="Widgetens demosida"),
    RouteRule("/widget.js", None, PUBLIC, _PAGE, any_origin=True, summary="Widgeten"),
    RouteRule("/widget.css", None, PUBLIC, _PAGE, any_origin=True, summary="Widgeten"),
    # --- the knowledge base's admin page and API (issue 21): editors only, and only when
    # ASSISTANT_ADMIN_KEYS is set (else 404); every request counts against the admin limit
    RouteRule("/admin", _READ, PUBLIC, _ADMIN_PAGE, admin_area=True,
              summary="Kunskapsbankens administration"),
    *(RouteRule(f"/admin/{name}", _READ, PUBLIC, _ADMIN_PAGE, admin_area=True,
                summary="Administrationssidans filer") for name in ("admin.js", "admin.css")),
    RouteRule("/api/admin/session", _methods("POST"), PUBLIC, _ADMIN, admin_area=True,
              summary="Logga in med en administratörsnyckel"),
    RouteRule("/api/admin/session", _methods("GET", "HEAD", "DELETE"), EDITOR, _ADMIN,
              admin_area=True, summary="Inloggningen: visa eller logga ut"),
    RouteRule("/api/admin/documents", _methods("GET", "HEAD"), EDITOR, _ADMIN,
              admin_area=True, summary="Dokumenten i kunskapsbanken"),
    RouteRule("/api/admin/documents", _methods("POST"), EDITOR, _UPLOAD, admin_area=True,
              summary="Ladda upp dokument"),
    RouteRule("/api/admin/documents/", _methods("PUT"), EDITOR, _UPLOAD, prefix=True,
              admin_area=True, summary="Ersätt ett dokument"),
    RouteRule("/api/admin/documents/", _methods("GET", "HEAD", "PATCH", "DELETE"), EDITOR,
              _ADMIN, prefix=True, admin_area=True,
              summary="Ett dokument: visa, ändra metadata, ta bort"),
    RouteRule("/api/admin/analyse", _methods("POST"), EDITOR, _UPLOAD, admin_area=True,
              summary="Läs titel och datum ur en fil (ingenting sparas)"),
    RouteRule("/api/admin/reindex", _methods("POST"), EDITOR, _ADMIN, admin_area=True,
              summary="Indexera om allt"),
    RouteRule("/api/admin/jobs/", _READ, EDITOR, _ADMIN, prefix=True, admin_area=True,
              summary="Ett indexeringsjobb"),
    RouteRule("/api/admin/audit", _READ, EDITOR, _ADMIN, admin_area=True,
              summary="Ändringsloggen"),
    # --- the chat UI (Gradio, mounted at /): the page, its files, and the calls it makes
    RouteRule("/", None, PUBLIC, _PAGE, issues_session=True, summary="Chattsidan"),
    *_public_files(("/favicon.ico", "/robots.txt", "/theme.css", "/manifest.json")),
    *_public_files(("/assets/", "/static/", "/svelte/", "/pwa_icon"), prefix=True),
    RouteRule("/config", _READ, UI, _PAGE, summary="Chattsidans uppbyggnad"),
    RouteRule("/config/", _READ, UI, _PAGE, summary="Chattsidans uppbyggnad"),
    RouteRule(GRADIO_API + "queue/join", _methods("POST"), UI, _QUEUE,
              summary="Chattsidans anrop"),
    RouteRule(GRADIO_API + "queue/data", _READ, UI, _QUEUE, streams=True,
              summary="Chattens svar"),
    RouteRule(GRADIO_API + "heartbeat/", _READ, UI, _QUEUE, prefix=True, streams=True,
              lingers=True, summary="Chattsidans anslutning"),
    RouteRule(GRADIO_API + "cancel", _methods("POST"), UI, _QUEUE,
              summary="Avbryt ett svar"),
    # Everything else Gradio serves is closed: the routes that take files (our UI has no
    # upload control) with a message, the rest as if it did not exist.
    *(_closed(GRADIO_API + p, "Filuppladdning (stängd)", prefix=True, takes_files=True)
      for p in ("upload", "process_recording", "stream/")),
    _closed(GRADIO_API, "Övriga Gradio-anrop (stängda)", prefix=True),
    _closed("/login", "Gradio (oanvänd, stängd)", prefix=True),
    _closed("/logout", "Gradio (oanvänd, stängd)"),
    _closed("/monitoring", "Gradio (oanvänd, stängd)", prefix=True),
)
# What a wrong method or an unknown path under /v1 and /api gets, and then anything else.
FALLBACKS: tuple[RouteRule, ...] = (
    RouteRule("/api/admin/", None, EDITOR, _ADMIN, prefix=True, admin_area=True),
    RouteRule("/v1/", _methods("OPTIONS", "HEAD"), SERVERS, _READ_API, prefix=True),
    RouteRule("/v1/", None, SERVERS, _API, prefix=True),
    RouteRule("/api/", _methods("POST"), SERVERS, _API, prefix=True),
    RouteRule("/api/", None, SERVERS, _READ_API, prefix=True),
    OTHER,
)
_IN_ORDER = (*ROUTES, *FALLBACKS)


def rule_for(method: str, path: str) -> RouteRule:
    """The rule of a request (``path`` as the routes see it, without ``root_path``)."""
    for rule in _IN_ORDER:
        if rule.matches(method, path):
            return rule
    return OTHER


def example_path(template: str) -> str:
    """``/api/sources/{doc_id:path}`` → ``/api/sources/x``: a path the template serves, to
    look up its rule."""
    return _PARAM.sub("x", template)


def body_limits(settings: Settings) -> dict[BodyLimit, int]:
    """Each body-size limit in bytes, from its setting."""
    return {"api": settings.max_body_bytes,
            "page": max(settings.max_body_bytes, OTHER_BODY_BYTES),
            "upload": settings.max_upload_bytes * MAX_UPLOAD_FILES + UPLOAD_OVERHEAD_BYTES}
