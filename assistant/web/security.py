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
"""

from __future__ import annotations

import hashlib
import math
import threading
import time
from collections import deque
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Literal
from urllib.parse import urlsplit

from starlette.datastructures import Headers, MutableHeaders
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from assistant.web.auth import (
    DEFAULT_PORTS,
    LOOPBACK_NAMES,
    WIDGET_KEY_HEADER,
    ApiKeys,
    ClientIdentity,
    Credential,
    HostPolicy,
    SessionCookies,
    WidgetKeys,
    normalise_origin,
    session_from_cookie,
)
from assistant.web.error_payload import ErrorPayload
from assistant.web.routes import BodyLimit, RouteRule, rule_for

__all__ = [
    "ApiKeys",
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


def _netloc(value: str, scheme: str) -> str:
    """Host and non-default port, lower-cased, for comparing an Origin with a Host header."""
    value = value.strip().lower()
    default = DEFAULT_PORTS.get(scheme)
    if default and value.endswith(f":{default}"):
        value = value[: -len(default) - 1]
    return value


class OriginPolicy:
    """Classifies the ``Origin`` header of a request.

    Same-origin is decided against the request's own ``Host`` header, so the
    app works unchanged behind a proxy that preserves ``Host``; the scheme is
    not compared because a TLS-terminating proxy often hides it.
    """

    def __init__(self, allowed: Iterable[str]) -> None:
        self.allowed = frozenset(normalise_origin(o) for o in allowed if o.strip())

    def classify(self, origin: str | None, host: str | None) -> OriginVerdict:
        if origin is None:
            return "none"
        if origin == "null" or not origin.strip():
            return "denied"  # sandboxed iframes and file:// pages are never trusted
        norm = normalise_origin(origin)
        scheme = urlsplit(norm).scheme
        if host and _netloc(urlsplit(norm).netloc, scheme) == _netloc(host, scheme):
            return "same"
        return "allowed" if norm in self.allowed else "denied"


class RateLimiter:
    """Sliding-window limit per client: at most ``limit`` hits per ``window`` seconds.

    In memory on purpose: per-replica limits are enough to stop one runaway
    client, and nothing has to be shared between replicas. ``limit == 0``
    disables it.
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
    limiter: RateLimiter
    # Bytes per body limit a route declares (assistant.web.routes.body_limits).
    body_limits: Mapping[BodyLimit, int]
    hosts: HostPolicy = field(default_factory=lambda: HostPolicy(LOOPBACK_NAMES))
    identity: ClientIdentity = field(default_factory=lambda: ClientIdentity(()))
    widget_keys: WidgetKeys = field(default_factory=lambda: WidgetKeys(()))
    widget_limiter: RateLimiter = field(default_factory=lambda: RateLimiter(0, 60.0))
    sessions: SessionCookies = field(default_factory=lambda: SessionCookies(None, 7200))

    @property
    def auth_required(self) -> bool:
        """With secret keys configured, every non-public route wants a credential."""
        return self.keys.enabled

    def refuses(self, rule: RouteRule, credential: Credential) -> bool:
        """Whether the credential does not open the route: an invalid one never does, a
        missing one only without configured keys (then origins and limits protect)."""
        if rule.public:
            return False
        if credential.kind == "invalid":
            return True
        return self.auth_required and not rule.admits(credential.kind)

    def client_key(self, peer: str | None, forwarded_for: str | None) -> str:
        """Rate-limit bucket of a client address (see :class:`ClientIdentity`)."""
        return "ip:" + self.identity.resolve(peer, forwarded_for)

    def credential(self, headers: Headers, verdict: OriginVerdict) -> Credential:
        """The credential a request shows; ``invalid`` is refused on every guarded route."""
        key = self.keys.presented(headers)
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
        token = session_from_cookie(headers)
        # SameSite=Strict already keeps other sites from sending it; checked here again.
        if token and verdict in ("none", "same"):
            state = self.sessions.check(token)
            if state in ("valid", "stale"):
                return Credential("session", renew_session=state == "stale")
        return Credential("none")


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
        headers = Headers(scope=scope)
        path = route_path(scope)
        method: str = scope["method"]
        if not self.policy.hosts.allows(headers.get("host")):
            await self._reply(scope, send, path, ErrorPayload(400, BAD_HOST))
            return
        origin = headers.get("origin")
        verdict = self.policy.origins.classify(origin, headers.get("host"))
        cors_origin = origin if verdict == "allowed" else None
        if method == "OPTIONS" and "access-control-request-method" in headers \
                and verdict != "denied":
            await self._preflight(send, cors_origin)
            return
        credential = self.policy.credential(headers, verdict)
        rule = rule_for(method, path)
        refusal = self._refusal(scope, headers, rule, verdict, credential)
        if refusal is not None:
            payload, extra = refusal
            await self._reply(scope, send, path, payload, cors_origin, extra)
            return
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
        if rule.closed:
            return ErrorPayload(403, CLOSED_MESSAGE), {}
        if self.policy.refuses(rule, credential):
            return ErrorPayload(401, credential.message or MISSING_CREDENTIAL), \
                {"www-authenticate": "Bearer"}
        if rule.limits.rate == "client":
            retry = self._limited(scope, headers, credential)
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
                if cookie and message.get("status", 500) < 400:
                    MutableHeaders(scope=message).append("set-cookie", cookie)
            await send(message)

        await self.app(scope, limited_receive, guarded_send)

    def _limited(self, scope: Scope, headers: Headers, credential: Credential) -> float | None:
        """Count the request against its client (or secret key), and a widget key's own
        budget; seconds to wait if over either, else ``None``."""
        client = credential.key_bucket or self.client_id(scope, headers)
        retry = self.policy.limiter.hit(client)
        if retry is None and credential.kind == "widget":
            retry = self.policy.widget_limiter.hit(f"widget:{credential.widget_origin}")
        return retry

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
        body = payload.body(path)
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
