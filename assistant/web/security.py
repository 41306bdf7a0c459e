"""Who may talk to the assistant, how much, and with how large a request.

The app is closed by default: a browser page may only call the API from the
app's own origin or from an origin listed in ``ASSISTANT_ALLOWED_ORIGINS``.
CORS headers alone would only stop a browser from *reading* the answer, not the
server from doing the work, so a disallowed ``Origin`` is refused server-side
with 403 before any route runs. Server-to-server clients (no ``Origin``) may be
required to present an API key. Everything lives in one pure ASGI middleware so
it also covers the mounted Gradio app and never buffers streamed (SSE) answers.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import math
import threading
import time
from collections import deque
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Literal
from urllib.parse import urlsplit

from starlette.datastructures import Headers, MutableHeaders
from starlette.types import ASGIApp, Message, Receive, Scope, Send

__all__ = [
    "ApiKeys",
    "OriginPolicy",
    "RateLimiter",
    "SecurityMiddleware",
    "SecurityPolicy",
    "error_body",
    "normalise_origin",
    "question_problem",
    "route_path",
]

OriginVerdict = Literal["none", "same", "allowed", "denied"]
KeyVerdict = Literal["none", "valid", "invalid"]

CORS_ALLOW_HEADERS = "Content-Type, Accept, Authorization, X-API-Key"
CORS_METHODS = "GET, POST, OPTIONS"
CORS_EXPOSE = "Retry-After"
# Paths anyone may fetch from any page (a <script src> needs no permission).
PUBLIC_ASSETS = ("/widget.js", "/widget.css")
# Gradio's file upload: our UI has no upload control, so nobody may write files through it.
CLOSED_PATHS = ("/gradio_api/upload",)
# Body limit outside /api and /v1 (the Gradio UI's own requests), at least this large.
OTHER_BODY_BYTES = 2_000_000
_DEFAULT_PORTS = {"http": "80", "https": "443"}


def normalise_origin(origin: str) -> str:
    """``HTTPS://Intra.Kommun.se:443/`` → ``https://intra.kommun.se`` (as browsers send it)."""
    parts = urlsplit(origin.strip().rstrip("/"))
    scheme = parts.scheme.lower()
    host = (parts.hostname or "").lower()
    if ":" in host:  # IPv6 literal
        host = f"[{host}]"
    port = str(parts.port) if parts.port is not None else ""
    if not scheme or not host:
        return origin.strip().lower()
    if port and _DEFAULT_PORTS.get(scheme) != port:
        return f"{scheme}://{host}:{port}"
    return f"{scheme}://{host}"


def _netloc(value: str, scheme: str) -> str:
    """Host and non-default port, lower-cased, for comparing an Origin with a Host header."""
    value = value.strip().lower()
    default = _DEFAULT_PORTS.get(scheme)
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


class ApiKeys:
    """Optional API keys for server-to-server use, compared in constant time."""

    def __init__(self, keys: Iterable[str]) -> None:
        self._digests = [hashlib.sha256(k.encode()).digest() for k in keys if k]

    @property
    def enabled(self) -> bool:
        return bool(self._digests)

    @staticmethod
    def presented(headers: Headers) -> str | None:
        """The key from ``Authorization: Bearer KEY`` or ``X-API-Key: KEY``, if any."""
        key = headers.get("x-api-key")
        if key:
            return key.strip()
        auth = headers.get("authorization", "")
        scheme, _, value = auth.partition(" ")
        if scheme.lower() == "bearer" and value.strip():
            return value.strip()
        return None

    def check(self, key: str | None) -> KeyVerdict:
        if key is None:
            return "none"
        digest = hashlib.sha256(key.encode()).digest()
        ok = False
        for known in self._digests:  # no early exit: timing says nothing about which key
            ok |= hmac.compare_digest(digest, known)
        return "valid" if ok else "invalid"


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
    max_body_bytes: int
    max_other_body_bytes: int = OTHER_BODY_BYTES
    protected_prefixes: Sequence[str] = ("/api/", "/v1/")

    def is_api(self, path: str) -> bool:
        return path.startswith(tuple(self.protected_prefixes))

    def needs_guard(self, method: str, path: str) -> bool:
        """Requests that cost work or write data: key check and rate limit apply."""
        if path.startswith("/v1/"):
            return method not in ("OPTIONS", "HEAD")
        return self.is_api(path) and method == "POST"


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


def error_body(path: str, status: int, message: str, **extra: object) -> bytes:
    """``{"error": "..."}`` for our API and widget; OpenAI's error shape under ``/v1``.

    OpenAI-compatible clients show ``error.message`` to their users, so the
    readable text survives either way.
    """
    if path.startswith("/v1/"):
        kind = {401: "invalid_api_key", 403: "permission_denied", 413: "request_too_large",
                429: "rate_limit_exceeded"}.get(status, "invalid_request")
        payload: dict[str, object] = {
            "error": {"message": message, "type": "invalid_request_error", "code": kind,
                      "param": None}
        }
    else:
        payload = {"error": message, **extra}
    return json.dumps(payload, ensure_ascii=False).encode()


def route_path(scope: Scope) -> str:
    """The path without the proxy prefix (``root_path``), as the routes see it."""
    path: str = scope.get("path", "")
    root: str = scope.get("root_path", "")
    if root and path.startswith(root):
        path = path[len(root):] or "/"
    return path


class SecurityMiddleware:
    """Origin allowlist + CORS, API keys, rate limit and body-size limit in one place."""

    def __init__(self, app: ASGIApp, policy: SecurityPolicy) -> None:
        self.app = app
        self.policy = policy

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        policy = self.policy
        headers = Headers(scope=scope)
        path = route_path(scope)
        method: str = scope["method"]
        origin = headers.get("origin")
        verdict = policy.origins.classify(origin, headers.get("host"))

        if verdict == "denied" and path not in PUBLIC_ASSETS:
            await self._reply(scope, send, path, 403,
                              f"Webbplatsen {origin} har inte behörighet att använda assistenten. "
                              "Be administratören lägga till den i ASSISTANT_ALLOWED_ORIGINS.")
            return
        cors_origin = origin if verdict == "allowed" else None

        if path.startswith(CLOSED_PATHS):
            await self._reply(scope, send, path, 403, "Filuppladdning stöds inte.", cors_origin)
            return

        if method == "OPTIONS" and "access-control-request-method" in headers:
            await self._preflight(send, cors_origin)
            return

        if policy.needs_guard(method, path) and await self._refused(
                scope, send, path, headers, verdict, cors_origin):
            return

        await self._limit_body(scope, receive, send, path, headers, origin, cors_origin)

    async def _refused(self, scope: Scope, send: Send, path: str, headers: Headers,
                       verdict: str, cors_origin: str | None) -> bool:
        """API key and rate limit for requests that cost work; ``True`` when refused
        (the 401 or 429 is then sent)."""
        policy = self.policy
        presented = policy.keys.presented(headers)
        key_verdict = policy.keys.check(presented) if policy.keys.enabled else "none"
        if key_verdict == "invalid" or (
            policy.keys.enabled and key_verdict == "none" and verdict == "none"
        ):
            message = ("Ogiltig API-nyckel." if key_verdict == "invalid" else
                       "API-nyckel krävs: skicka 'Authorization: Bearer NYCKEL' "
                       "eller 'X-API-Key: NYCKEL'.")
            await self._reply(scope, send, path, 401, message, cors_origin,
                              {"www-authenticate": "Bearer"})
            return True
        client = self.client_id(scope, presented if key_verdict == "valid" else None)
        retry = policy.limiter.hit(client)
        if retry is not None:
            seconds = max(1, math.ceil(retry))
            await self._reply(
                scope, send, path, 429,
                f"För många förfrågningar. Försök igen om {seconds} sekunder.",
                cors_origin, {"retry-after": str(seconds)}, retry_after=seconds,
            )
            return True
        return False

    async def _limit_body(self, scope: Scope, receive: Receive, send: Send, path: str,
                          headers: Headers, origin: str | None,
                          cors_origin: str | None) -> None:
        """The body-size limit (declared length, then counted bytes), then the app."""
        policy = self.policy
        limit = policy.max_body_bytes if policy.is_api(path) else policy.max_other_body_bytes
        length = headers.get("content-length")
        if length is not None and length.isdigit() and int(length) > limit:
            await self._reply(scope, send, path, 413, _too_large(limit), cors_origin)
            return

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
                await self._reply(scope, send, path, 413, _too_large(limit), cors_origin)
                return
            if message["type"] == "http.response.start":
                _apply_cors(message, origin, cors_origin)
            await send(message)

        await self.app(scope, limited_receive, guarded_send)

    @staticmethod
    def client_id(scope: Scope, key: str | None) -> str:
        """Rate-limit bucket: the API key (hashed) if one was shown, else the client address.

        Behind a proxy, uvicorn's ``--forwarded-allow-ips`` (env
        ``FORWARDED_ALLOW_IPS``) decides whether ``X-Forwarded-For`` is
        believed; only then is the address the real client's.
        """
        if key:
            return "key:" + hashlib.sha256(key.encode()).hexdigest()[:16]
        client = scope.get("client")
        return "ip:" + (client[0] if client else "unknown")

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

    async def _reply(self, scope: Scope, send: Send, path: str, status: int, message: str,
                     cors_origin: str | None = None, extra: dict[str, str] | None = None,
                     **body_extra: object) -> None:
        body = error_body(path, status, message, **body_extra)
        start: Message = {
            "type": "http.response.start",
            "status": status,
            "headers": [
                (b"content-type", b"application/json; charset=utf-8"),
                (b"content-length", str(len(body)).encode()),
                (b"cache-control", b"no-store"),
                *[(k.encode(), v.encode("latin-1")) for k, v in (extra or {}).items()],
            ],
        }
        _apply_cors(start, Headers(scope=scope).get("origin"), cors_origin)
        await send(start)
        await send({"type": "http.response.body", "body": body})


def _too_large(limit: int) -> str:
    return f"Förfrågan är för stor (högst {limit} byte)."


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
