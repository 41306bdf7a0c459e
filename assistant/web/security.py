"""Who may talk to the assistant, how much, and with how large a request.

The app is closed by default. Every request must name a host the server is
known by (``ASSISTANT_ALLOWED_HOSTS``). A browser page may only call the API
from the app's own origin or from an origin listed in
``ASSISTANT_ALLOWED_ORIGINS``; CORS headers alone would only stop a browser
from *reading* the answer, not the server from doing the work, so a disallowed
``Origin`` is refused server-side with 403 before any route runs. Those are
browser-safety checks: when ``ASSISTANT_API_KEYS`` is set, every ``/api``,
``/v1`` and Gradio API call also needs a credential (see
:mod:`assistant.web.auth`), whatever headers it sends. Everything lives in one
pure ASGI middleware so it also covers the mounted Gradio app and never
buffers streamed (SSE) answers.

What each path needs (which credential opens it, its body limit, whether it counts
against the rate limit) is not decided here but read from its declaration in
:mod:`assistant.web.routes`.

The same middleware also refuses oversized request headers (431), removes the
forwarding headers (``X-Forwarded-Host`` …) that an untrusted peer sent, and gives every
HTML page a Content-Security-Policy with ``frame-ancestors``. How long a client may take
to send its headers is the server's business (:mod:`assistant.web.transport`).
"""

from __future__ import annotations

import hashlib
import math
import threading
import time
from collections import deque
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Literal, Protocol
from urllib.parse import urlsplit

from starlette.datastructures import Headers, MutableHeaders
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from assistant.web.auth import (
    ADMIN_COOKIE,
    CSRF_HEADER,
    DEFAULT_PORTS,
    LOOPBACK_NAMES,
    WIDGET_KEY_HEADER,
    AdminKeys,
    AdminSessions,
    ApiKeys,
    ClientIdentity,
    Credential,
    HostPolicy,
    SessionCookies,
    WidgetKeys,
    normalise_origin,
    session_from_cookie,
)
from assistant.web.error_payload import ErrorPayload, request_id_of
from assistant.web.routes import BodyLimit, RouteRule, rule_for

__all__ = [
    "ApiKeys",
    "Limiter",
    "OriginPolicy",
    "RateLimiter",
    "SecurityMiddleware",
    "SecurityPolicy",
    "normalise_origin",
    "question_problem",
    "route_path",
]

OriginVerdict = Literal["none", "same", "allowed", "denied"]

CORS_ALLOW_HEADERS = "Content-Type, Accept, Authorization, X-API-Key, X-Widget-Key"
CORS_METHODS = "GET, POST, OPTIONS"
CORS_EXPOSE = "Retry-After"
CLOSED_MESSAGE = "Filuppladdning stöds inte."
NOT_FOUND = "Sidan finns inte."
HEADERS_TOO_LARGE = ("Förfrågans huvuden är för stora (högst {total} byte sammanlagt, "
                     "{one} byte i ett huvud).")
# Headers a proxy writes to tell the app how the browser reached it; Gradio builds the
# page's URLs from them. Believed only from a trusted proxy (and X-Forwarded-Host only
# naming a host we answer to); from anyone else they are removed before any app sees them.
FORWARDING_HEADERS = (b"x-forwarded-host", b"x-forwarded-proto", b"x-forwarded-port",
                      b"x-forwarded-prefix", b"forwarded")
# The pages we serve without a policy of their own (the chat UI, the widget demo, the
# loading page): scripts, styles, images and connections only from the app itself, no
# plugins, no <base> or form target elsewhere. Gradio's page needs its inline
# configuration script, inline styles and eval (its HTML components run their code with
# new Function), so the policy's worth is in where the page may load from and connect
# to: an image in an answer cannot be fetched from (and carry data to) another host, a
# script cannot send anything elsewhere. frame-ancestors is added to every page.
PAGE_POLICY = ("default-src 'self'; script-src 'self' 'unsafe-inline' 'unsafe-eval'; "
               "style-src 'self' 'unsafe-inline'; img-src 'self' data: blob:; "
               "font-src 'self' data:; media-src 'self' data: blob:; connect-src 'self'; "
               "worker-src 'self' blob:; object-src 'none'; base-uri 'self'; "
               "form-action 'self'")


def _netloc(value: str, scheme: str) -> str:
    """Host and non-default port, lower-cased, for comparing an Origin with a Host header."""
    value = value.strip().lower()
    default = DEFAULT_PORTS.get(scheme)
    if default and value.endswith(f":{default}"):
        value = value[: -len(default) - 1]
    return value


class OriginPolicy:
    """Classifies the ``Origin`` header of a request.

    Same-origin is decided against the request's own ``Host`` header and scheme, so
    the app works unchanged behind a proxy that preserves ``Host``. The scheme is
    part of an origin: ``https://host:port`` is another origin than the app's own
    ``http://host:port``. Behind a TLS-terminating proxy the request's scheme is what
    a trusted proxy says in ``X-Forwarded-Proto``.
    """

    def __init__(self, allowed: Iterable[str]) -> None:
        self.allowed = frozenset(normalise_origin(o) for o in allowed if o.strip())

    def classify(self, origin: str | None, host: str | None,
                 scheme: str = "http") -> OriginVerdict:
        if origin is None:
            return "none"
        if origin == "null" or not origin.strip():
            return "denied"  # sandboxed iframes and file:// pages are never trusted
        norm = normalise_origin(origin)
        parts = urlsplit(norm)
        if host and parts.scheme == scheme \
                and _netloc(parts.netloc, scheme) == _netloc(host, scheme):
            return "same"
        return "allowed" if norm in self.allowed else "denied"


class Limiter(Protocol):
    """A per-client rate limit: this process's :class:`RateLimiter`, or the one the
    workers of ``serve --workers N`` share (:class:`~assistant.web.state.SharedRateLimiter`)."""

    limit: int
    window: float

    @property
    def enabled(self) -> bool: ...

    def hit(self, client: str, now: float | None = None) -> float | None: ...


class RateLimiter:
    """Sliding-window limit per client: at most ``limit`` hits per ``window`` seconds.

    In this process's memory: one server process needs nothing else (the workers of
    ``serve --workers N`` share theirs, :mod:`assistant.web.state`), and replicas on
    several machines count each their own. ``limit == 0`` disables it.
    """

    def __init__(self, limit: int, window: float, max_clients: int = 10_000) -> None:
        self.limit = limit
        self.window = window
        self.max_clients = max_clients
        self._hits: dict[str, deque[float]] = {}
        self._lock = threading.Lock()

    @property
    def enabled(self) -> bool:
        return self.limit > 0

    def hit(self, client: str, now: float | None = None) -> float | None:
        """Count one request; ``None`` if allowed, else seconds until the next one may go."""
        if not self.enabled:
            return None
        now = time.monotonic() if now is None else now
        with self._lock:
            hits = self._hits.get(client)
            if hits is None:
                if len(self._hits) >= self.max_clients:
                    self._prune(now)
                hits = self._hits[client] = deque()
            while hits and hits[0] <= now - self.window:
                hits.popleft()
            if len(hits) >= self.limit:
                return max(hits[0] + self.window - now, 0.001)
            hits.append(now)
            return None

    def _prune(self, now: float) -> None:
        """Forget idle clients so a scan of many addresses cannot grow memory forever."""
        for key in [k for k, v in self._hits.items() if not v or v[-1] <= now - self.window]:
            del self._hits[key]
        while len(self._hits) >= self.max_clients:
            self._hits.pop(next(iter(self._hits)))


@dataclass
class SecurityPolicy:
    """Everything the middleware needs, built once from Settings."""

    origins: OriginPolicy
    keys: ApiKeys
    limiter: Limiter
    # Bytes per body limit a route declares (assistant.web.routes.body_limits).
    body_limits: Mapping[BodyLimit, int]
    hosts: HostPolicy = field(default_factory=lambda: HostPolicy(LOOPBACK_NAMES))
    identity: ClientIdentity = field(default_factory=lambda: ClientIdentity(()))
    widget_keys: WidgetKeys = field(default_factory=lambda: WidgetKeys(()))
    widget_limiter: Limiter = field(default_factory=lambda: RateLimiter(0, 60.0))
    sessions: SessionCookies = field(default_factory=lambda: SessionCookies(None, 7200))
    # GET /api/sources/* per client (routes whose rate bucket is "reads").
    read_limiter: Limiter = field(default_factory=lambda: RateLimiter(0, 60.0))
    # Request headers: bytes together; one header may have half (else 431).
    max_header_bytes: int = 16_384
    # CSP frame-ancestors sources of every page we serve.
    frame_ancestors: tuple[str, ...] = ("'self'",)
    # The operator's key (ASSISTANT_METRICS_KEY): opens the operator's routes, nothing else.
    operator_keys: ApiKeys = field(default_factory=lambda: ApiKeys(()))
    # The editors' keys (ASSISTANT_ADMIN_KEYS), the admin page's sign-ins and the admin
    # routes' own rate limit (ASSISTANT_ADMIN_RATE_LIMIT).
    admin_keys: AdminKeys = field(default_factory=lambda: AdminKeys(()))
    admin_sessions: AdminSessions = field(
        default_factory=lambda: AdminSessions(None, 1800))
    admin_limiter: RateLimiter = field(default_factory=lambda: RateLimiter(0, 60.0))

    @property
    def auth_required(self) -> bool:
        """With secret keys configured, every non-public route wants a credential."""
        return self.keys.enabled

    def refuses(self, rule: RouteRule, credential: Credential) -> bool:
        """Whether the credential does not open the route: an invalid one never does, a
        missing one only without configured keys (then origins and limits protect), and
        a valid one only the routes whose declaration names its kind
        (:attr:`RouteRule.access`: a widget key only what the widget calls, the session
        cookie only the chat UI's calls)."""
        if rule.public:
            return False
        if credential.kind == "invalid":
            return True
        if rule.editor_only:  # the knowledge base: an editor's credential, always
            return credential.kind not in rule.access
        return self.auth_required and not rule.admits(credential.kind)

    def scheme(self, scope: Scope, headers: Headers) -> str:
        """The scheme the browser used: the connection's, or a trusted proxy's word."""
        client = scope.get("client")
        if self.identity.forwarded_https(client[0] if client else None, headers):
            return "https"
        return str(scope.get("scheme", "http"))

    def client_key(self, peer: str | None, forwarded_for: str | None) -> str:
        """Rate-limit bucket of a client address (see :class:`ClientIdentity`)."""
        return "ip:" + self.identity.resolve(peer, forwarded_for)

    def credential(self, headers: Headers, verdict: OriginVerdict,
                   rule: RouteRule | None = None) -> Credential:
        """The credential a request shows; ``invalid`` is refused on every guarded route.
        The admin page's cookie is read only on the admin routes (``rule``), so it never
        stands in for the chat page's, nor the other way round."""
        key = self.keys.presented(headers)
        key_id = self.admin_keys.check(key)
        if key_id is not None:
            return Credential("editor", admin_key_id=key_id)
        if key is not None and self.operator_keys.enabled \
                and self.operator_keys.check(key) == "valid":
            return Credential("admin")
        # Without configured keys a presented one is ignored: OpenAI clients always send one.
        if key is not None and self.keys.enabled:
            if self.keys.check(key) == "valid":
                return Credential("key", key_bucket="key:" + hashlib.sha256(
                    key.encode("utf-8", "surrogatepass")).hexdigest()[:16])
            return Credential("invalid", "Ogiltig API-nyckel.")
        widget = headers.get(WIDGET_KEY_HEADER)
        if widget:
            origin = headers.get("origin")
            norm = normalise_origin(origin) if origin and verdict == "allowed" else None
            if self.widget_keys.check(widget.strip(), norm) == "valid":
                return Credential("widget", widget_origin=norm)
            return Credential("invalid", "Widgetnyckeln gäller inte för den här webbplatsen "
                                         "(eller har återkallats).")
        if rule is not None and rule.admin_area and self.admin_keys.enabled:
            admin_token = session_from_cookie(headers, ADMIN_COOKIE)
            if admin_token and from_own_page(headers, verdict):
                key_id = self.admin_sessions.check(admin_token, self.admin_keys.ids)
                if key_id is not None:
                    return Credential("editor_session", admin_key_id=key_id,
                                      admin_token=admin_token)
        token = session_from_cookie(headers)
        # SameSite=Strict already keeps other sites from sending it; checked here again,
        # and a request must say it comes from the page itself: a script that fetched a
        # cookie from GET / sends neither header (and forging them buys only the chat
        # UI's calls, under the client's rate limit).
        if token and from_own_page(headers, verdict):
            state = self.sessions.check(token)
            if state in ("valid", "stale"):
                return Credential("session", renew_session=state == "stale")
        return Credential("none")


def from_own_page(headers: Headers, verdict: OriginVerdict) -> bool:
    """Whether a request says it comes from one of our own pages: an ``Origin`` of our
    own (browsers send it on POST), or none with ``Sec-Fetch-Site: same-origin``
    (browsers send that on every request, GET included); a ``Sec-Fetch-Site`` of another
    site is never our page, whatever ``Origin`` says."""
    site = headers.get("sec-fetch-site")
    if site is not None and site.strip().lower() != "same-origin":
        return False
    return verdict == "same" or (verdict == "none" and site is not None)


def question_problem(text: str, max_chars: int) -> str | None:
    """Why a (stripped) question cannot be asked, in Swedish, or ``None``.

    The API and the chat UI both call this, so ASSISTANT_MAX_QUESTION_CHARS is
    enforced once and reads the same wherever it is hit.
    """
    if not text:
        return "Frågan är tom."
    if len(text) > max_chars:
        return f"Frågan är för lång ({len(text)} tecken, högst {max_chars})."
    return None


def route_path(scope: Scope) -> str:
    """The path without the proxy prefix (``root_path``), as the routes see it."""
    path: str = scope.get("path", "")
    root: str = scope.get("root_path", "")
    if root and path.startswith(root):
        path = path[len(root):] or "/"
    return path


MISSING_CREDENTIAL = (
    "API-nyckel krävs: servrar skickar 'Authorization: Bearer NYCKEL' eller 'X-API-Key: "
    "NYCKEL'. I webbläsaren: ladda om sidan (sessionen har gått ut). Widgeten behöver "
    "webbplatsens widgetnyckel (data-key)."
)
MISSING_ADMIN = ("Administratörsnyckel krävs: logga in på /admin, eller skicka "
                 "'Authorization: Bearer NYCKEL' med en nyckel ur ASSISTANT_ADMIN_KEYS.")
BAD_CSRF = ("CSRF-token saknas eller stämmer inte (X-CSRF-Token). Ladda om "
            "administrationssidan och försök igen.")
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
BAD_HOST = ("Okänd värd i Host-huvudet. Servern svarar bara på sina egna namn; "
            "administratören kan lägga till namnet i ASSISTANT_ALLOWED_HOSTS.")


class SecurityMiddleware:
    """Host allowlist, Origin allowlist + CORS, credentials, rate limit and body-size limit
    in one place."""

    def __init__(self, app: ASGIApp, policy: SecurityPolicy) -> None:
        self.app = app
        self.policy = policy

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "websocket":  # no route of ours or Gradio's uses one
            await send({"type": "websocket.close", "code": 1008})
            return
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        path = route_path(scope)
        too_large = self._headers_too_large(scope)
        if too_large is not None:
            await self._reply(scope, send, path, too_large)
            return
        headers = Headers(scope=scope)
        method: str = scope["method"]
        if not self.policy.hosts.allows(headers.get("host")):
            await self._reply(scope, send, path, ErrorPayload(400, BAD_HOST))
            return
        scope = self._without_untrusted_forwarding(scope, headers)
        origin = headers.get("origin")
        verdict = self.policy.origins.classify(origin, headers.get("host"),
                                               self.policy.scheme(scope, headers))
        cors_origin = origin if verdict == "allowed" else None
        if method == "OPTIONS" and "access-control-request-method" in headers \
                and verdict != "denied":
            await self._preflight(send, cors_origin)
            return
        rule = rule_for(method, path)
        credential = self.policy.credential(headers, verdict, rule)
        refusal = self._refusal(scope, headers, rule, verdict, credential)
        if refusal is not None:
            payload, extra = refusal
            await self._reply(scope, send, path, payload, cors_origin, extra)
            return
        if credential.admin_key_id is not None:
            # Who made a change, for the audit log (assistant.web.admin): the key's id.
            scope.setdefault("state", {})["admin_key_id"] = credential.admin_key_id
        cookie = self._session_cookie(scope, headers, method, rule, credential)
        await self._limit_body(scope, receive, send, path, rule, cors_origin, cookie)

    def _refusal(self, scope: Scope, headers: Headers, rule: RouteRule,
                 verdict: OriginVerdict,
                 credential: Credential) -> tuple[ErrorPayload, dict[str, str]] | None:
        """Why the request is refused (the error and extra headers), or ``None``: a foreign
        origin, a closed route, a credential that does not open it, the rate limit."""
        if verdict == "denied" and not rule.any_origin:
            return ErrorPayload(403, (
                f"Webbplatsen {headers.get('origin')} har inte behörighet att använda "
                "assistenten. Be administratören lägga till den i "
                "ASSISTANT_ALLOWED_ORIGINS.")), {}
        if rule.closed or (rule.operator_only and credential.kind != "admin") \
                or (rule.admin_area and not self.policy.admin_keys.enabled):
            return (ErrorPayload(403, CLOSED_MESSAGE) if rule.takes_files
                    else ErrorPayload(404, NOT_FOUND)), {}
        if rule.limits.rate == "admin":  # before the credential: sign-in guesses count
            retry = self.policy.admin_limiter.hit(self.client_id(scope, headers))
            if retry is not None:
                seconds = max(1, math.ceil(retry))
                return ErrorPayload(
                    429, f"För många förfrågningar. Försök igen om {seconds} sekunder.",
                    seconds), {}
        if self.policy.refuses(rule, credential):
            message = MISSING_ADMIN if rule.editor_only else MISSING_CREDENTIAL
            return ErrorPayload(401, credential.message or message), \
                {"www-authenticate": "Bearer"}
        if credential.kind == "editor_session" and scope["method"] not in SAFE_METHODS \
                and not self.policy.admin_sessions.csrf_ok(credential.admin_token,
                                                           headers.get(CSRF_HEADER)):
            return ErrorPayload(403, BAD_CSRF), {}
        if rule.limits.rate in ("client", "reads"):
            retry = self._limited(scope, headers, credential, rule.limits.rate == "reads")
            if retry is not None:
                seconds = max(1, math.ceil(retry))
                return ErrorPayload(
                    429, f"För många förfrågningar. Försök igen om {seconds} sekunder.",
                    seconds), {}
        return None

    async def _limit_body(self, scope: Scope, receive: Receive, send: Send, path: str,
                          rule: RouteRule, cors_origin: str | None,
                          cookie: str | None) -> None:
        """The body-size limit (declared length, then counted bytes), then the app; CORS
        headers and a new session cookie go on the app's response."""
        headers = Headers(scope=scope)
        limit = self.policy.body_limits[rule.limits.body]
        too_large = ErrorPayload(413, f"Förfrågan är för stor (högst {limit} byte).")
        length = headers.get("content-length")
        if length is not None and length.isdigit() and int(length) > limit:
            await self._reply(scope, send, path, too_large, cors_origin)
            return
        origin = headers.get("origin")
        overflow = False
        replaced = False
        received = 0

        async def limited_receive() -> Message:
            # Past the limit the app gets an empty end-of-body; whatever it answers is
            # then replaced by 413 below (frameworks turn exceptions here into 400).
            nonlocal received, overflow
            if overflow:
                return {"type": "http.request", "body": b"", "more_body": False}
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > limit:
                    overflow = True
                    return {"type": "http.request", "body": b"", "more_body": False}
            return message

        async def guarded_send(message: Message) -> None:
            nonlocal replaced
            if replaced:
                return
            if overflow and message["type"] == "http.response.start":
                replaced = True
                await self._reply(scope, send, path, too_large, cors_origin)
                return
            if message["type"] == "http.response.start":
                _apply_cors(message, origin, cors_origin)
                self._apply_page_policy(message)
                if cookie and message.get("status", 500) < 400:
                    MutableHeaders(scope=message).append("set-cookie", cookie)
            await send(message)

        await self.app(scope, limited_receive, guarded_send)

    def _limited(self, scope: Scope, headers: Headers, credential: Credential,
                 reads: bool = False) -> float | None:
        """Count the request against its client (or secret key), and a widget key's own
        budget; seconds to wait if over either, else ``None``. ``reads``: the client's
        bucket for pages it reads (ASSISTANT_READ_RATE_LIMIT) instead."""
        client = credential.key_bucket or self.client_id(scope, headers)
        if reads:
            return self.policy.read_limiter.hit(client)
        retry = self.policy.limiter.hit(client)
        if retry is None and credential.kind == "widget":
            retry = self.policy.widget_limiter.hit(f"widget:{credential.widget_origin}")
        return retry

    def _headers_too_large(self, scope: Scope) -> ErrorPayload | None:
        """431 when the request's headers together, or one of them, are too large. (The
        server's own read limit, :func:`assistant.web.server.uvicorn_config`, stops
        far larger ones before they are buffered.)"""
        total_limit = self.policy.max_header_bytes
        one_limit = total_limit // 2
        total = 0
        for name, value in scope.get("headers", ()):
            size = len(name) + len(value) + 4  # "name: value\r\n"
            total += size
            if size > one_limit or total > total_limit:
                return ErrorPayload(431, HEADERS_TOO_LARGE.format(total=total_limit,
                                                                  one=one_limit))
        return None

    def _without_untrusted_forwarding(self, scope: Scope, headers: Headers) -> Scope:
        """The scope without the proxy's forwarding headers unless a trusted proxy sent
        them; ``X-Forwarded-Host`` also only when it names a host we answer to."""
        client = scope.get("client")
        trusted = self.policy.identity.is_trusted(client[0] if client else None)
        forwarded_host = headers.get("x-forwarded-host")
        host_ok = forwarded_host is None or all(
            self.policy.hosts.allows(h) for h in forwarded_host.split(","))
        if trusted and host_ok:
            return scope
        drop = FORWARDING_HEADERS if not trusted else (b"x-forwarded-host",)
        kept = [(k, v) for k, v in scope["headers"] if k.lower() not in drop]
        if len(kept) == len(scope["headers"]):
            return scope
        return {**scope, "headers": kept}

    def _apply_page_policy(self, message: Message) -> None:
        """Every HTML page we serve gets a Content-Security-Policy (its own, or
        :data:`PAGE_POLICY`) ending in ``frame-ancestors`` (ASSISTANT_FRAME_ANCESTORS)."""
        headers = MutableHeaders(scope=message)
        if not headers.get("content-type", "").lower().startswith("text/html"):
            return
        policy = headers.get("content-security-policy") or PAGE_POLICY
        ancestors = " ".join(self.policy.frame_ancestors)
        headers["content-security-policy"] = f"{policy}; frame-ancestors {ancestors}"
        if self.policy.frame_ancestors == ("'self'",):
            headers["x-frame-options"] = "SAMEORIGIN"  # browsers without CSP level 2
        elif self.policy.frame_ancestors == ("'none'",):
            headers["x-frame-options"] = "DENY"

    def client_id(self, scope: Scope, headers: Headers) -> str:
        """Rate-limit bucket of the client: the socket peer, or what a trusted proxy says.

        uvicorn must not rewrite the peer itself (``proxy_headers=False``, see
        :func:`assistant.web.server.uvicorn_config`), or a forged
        ``X-Forwarded-For`` would pick the bucket.
        """
        client = scope.get("client")
        return self.policy.client_key(client[0] if client else None,
                                      headers.get("x-forwarded-for"))

    def _session_cookie(self, scope: Scope, headers: Headers, method: str, rule: RouteRule,
                        credential: Credential) -> str | None:
        """A fresh session cookie when the UI page loads (or an old one is due renewal)."""
        policy = self.policy
        if not policy.auth_required:
            return None
        if not (credential.renew_session
                or (method in ("GET", "HEAD") and rule.issues_session)):
            return None
        client = scope.get("client")
        secure = scope.get("scheme") == "https" or policy.identity.forwarded_https(
            client[0] if client else None, headers)
        root: str = scope.get("root_path", "") or "/"
        return policy.sessions.set_cookie(root, secure)

    async def _preflight(self, send: Send, cors_origin: str | None) -> None:
        headers = [(b"vary", b"Origin")]
        if cors_origin:
            headers += [
                (b"access-control-allow-origin", cors_origin.encode("latin-1")),
                (b"access-control-allow-methods", CORS_METHODS.encode()),
                (b"access-control-allow-headers", CORS_ALLOW_HEADERS.encode()),
                (b"access-control-max-age", b"600"),
            ]
        await send({"type": "http.response.start", "status": 204, "headers": headers})
        await send({"type": "http.response.body", "body": b""})

    async def _reply(self, scope: Scope, send: Send, path: str, payload: ErrorPayload,
                     cors_origin: str | None = None,
                     extra: dict[str, str] | None = None) -> None:
        body = payload.body(path, request_id=request_id_of(scope))
        extra = {**(payload.headers() or {}), **(extra or {})}
        start: Message = {
            "type": "http.response.start",
            "status": payload.status,
            "headers": [
                (b"content-type", b"application/json; charset=utf-8"),
                (b"content-length", str(len(body)).encode()),
                (b"cache-control", b"no-store"),
                *[(k.encode(), v.encode("latin-1")) for k, v in extra.items()],
            ],
        }
        _apply_cors(start, Headers(scope=scope).get("origin"), cors_origin)
        await send(start)
        await send({"type": "http.response.body", "body": body})


def _apply_cors(message: Message, origin: str | None, cors_origin: str | None) -> None:
    """Replace whatever CORS headers an inner app set (Gradio allows any non-local
    origin) with ours: only an allowed origin ever gets ``Access-Control-*``."""
    raw = [(k, v) for k, v in message.get("headers", [])
           if not k.lower().startswith(b"access-control-")]
    message["headers"] = raw
    headers = MutableHeaders(scope=message)
    if origin is not None:
        headers.add_vary_header("Origin")
    if cors_origin:
        headers["access-control-allow-origin"] = cors_origin
        headers["access-control-expose-headers"] = CORS_EXPOSE
