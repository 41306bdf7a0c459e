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
    "CLOSED",
    "CREDENTIALS",
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
# (no route takes one yet). No access at all closes a route.
Access = Literal["public", "session", "widget", "key", "admin"]
# Which body-size limit applies: "api" = ASSISTANT_MAX_BODY_BYTES, "page" = what else the
# UI loads (at least OTHER_BODY_BYTES).
BodyLimit = Literal["api", "page"]
# Which rate-limit bucket counts a request: "client" = the client's (or its secret key's)
# ASSISTANT_RATE_LIMIT bucket plus a widget key's own budget, counted by the middleware;
# "handler" = the same client bucket, counted by the chat UI's event handlers, where the
# event is known; None = not counted.
RateBucket = Literal["client", "handler"]

PUBLIC: frozenset[Access] = frozenset({"public"})
CREDENTIALS: frozenset[Access] = frozenset({"key", "session", "widget"})
ADMIN: frozenset[Access] = frozenset({"admin"})  # for operator routes; none yet
CLOSED: frozenset[Access] = frozenset()

GRADIO_API = "/gradio_api/"
# Body limit outside /api, /v1 and /gradio_api (the UI's other requests), at least this large.
OTHER_BODY_BYTES = 2_000_000
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
_PAGE = Limits(body="page")


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
    summary: str = ""

    @property
    def public(self) -> bool:
        return "public" in self.access

    @property
    def closed(self) -> bool:
        return not self.access

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


OTHER = RouteRule("/", None, CREDENTIALS, _PAGE, prefix=True,
                  summary="Allt annat (övriga Gradio-vägar, okända sökvägar)")

ROUTES: tuple[RouteRule, ...] = (
    # --- the JSON API and the OpenAI-compatible API
    RouteRule("/api/chat", _methods("POST"), CREDENTIALS, _ASKS, streams=True,
              summary="Ställ en fråga"),
    RouteRule("/api/feedback", _methods("POST"), CREDENTIALS, _ASKS,
              summary="Återkoppling"),
    # Published articles, readable like the pages that link to them (also from the
    # widget, whose "open the article" link is a plain navigation without a credential).
    RouteRule("/api/sources/", _READ, PUBLIC, _READ_API, prefix=True, summary="En källa"),
    RouteRule("/v1/chat/completions", _methods("POST"), CREDENTIALS, _ASKS, streams=True,
              summary="OpenAI-kompatibla svar"),
    RouteRule("/v1/models", _methods("GET"), CREDENTIALS, _API, summary="Modellista"),
    # --- operations, the API reference and the widget
    RouteRule("/healthz", None, PUBLIC, _PAGE, summary="Liveness"),
    RouteRule("/readyz", None, PUBLIC, _PAGE, summary="Readiness"),
    RouteRule("/openapi.json", None, PUBLIC, _PAGE, summary="API-beskrivningen"),
    RouteRule("/docs", None, PUBLIC, _PAGE, issues_session=True, summary="API-referensen"),
    RouteRule("/widget-demo", None, PUBLIC, _PAGE, issues_session=True,
              summary="Widgetens demosida"),
    RouteRule("/widget.js", None, PUBLIC, _PAGE, any_origin=True, summary="Widgeten"),
    RouteRule("/widget.css", None, PUBLIC, _PAGE, any_origin=True, summary="Widgeten"),
    # --- the chat UI (Gradio, mounted at /)
    RouteRule("/", None, PUBLIC, _PAGE, issues_session=True, summary="Chattsidan"),
    *_public_files(("/favicon.ico", "/robots.txt", "/theme.css", "/manifest.json")),
    *_public_files(("/assets/", "/static/", "/svelte/", "/pwa_icon"), prefix=True),
    RouteRule("/config", _READ, CREDENTIALS, _PAGE, summary="Chattsidans uppbyggnad"),
    RouteRule("/config/", _READ, CREDENTIALS, _PAGE, summary="Chattsidans uppbyggnad"),
    # Gradio's file upload: our UI has no upload control, so nobody may write files.
    RouteRule(GRADIO_API + "upload", None, CLOSED, prefix=True, summary="Filuppladdning"),
    RouteRule(GRADIO_API + "queue/data", _READ, CREDENTIALS,
              Limits(body="api", rate="handler"), streams=True, summary="Chattens svar"),
    RouteRule(GRADIO_API, None, CREDENTIALS, Limits(body="api", rate="handler"),
              prefix=True, summary="Chattsidans anrop"),
    # Gradio serves these too; the chat UI does not use them.
    RouteRule("/login", None, CREDENTIALS, _PAGE, prefix=True, summary="Gradio (oanvänd)"),
    RouteRule("/logout", None, CREDENTIALS, _PAGE, summary="Gradio (oanvänd)"),
    RouteRule("/monitoring", None, CREDENTIALS, _PAGE, prefix=True,
              summary="Gradio (oanvänd)"),
)
# What a wrong method or an unknown path under /v1 and /api gets, and then anything else.
FALLBACKS: tuple[RouteRule, ...] = (
    RouteRule("/v1/", _methods("OPTIONS", "HEAD"), CREDENTIALS, _READ_API, prefix=True),
    RouteRule("/v1/", None, CREDENTIALS, _API, prefix=True),
    RouteRule("/api/", _methods("POST"), CREDENTIALS, _API, prefix=True),
    RouteRule("/api/", None, CREDENTIALS, _READ_API, prefix=True),
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
            "page": max(settings.max_body_bytes, OTHER_BODY_BYTES)}
