"""Who is calling: the Host a request was sent to, the client behind it, its credential.

``Origin`` and ``Host`` are browser-safety checks, not authentication: any
program can send any value. So the server

* answers only to the host names it is known by (``ASSISTANT_ALLOWED_HOSTS``),
  which closes the DNS-rebinding path where an attacker's name resolves to us;
* takes the client address for rate limits from the socket, and believes
  ``X-Forwarded-For`` only from proxies the operator listed
  (``ASSISTANT_TRUSTED_PROXIES``), reading it from the right so a client cannot
  prepend addresses of its choosing;
* when ``ASSISTANT_API_KEYS`` is set, wants one of three credentials: a secret
  key (servers), a signed short-lived session cookie that the UI page receives
  when it loads (the same-origin UI), or a publishable widget key that is only
  valid together with its own origin (the widget on an intranet page).
"""

from __future__ import annotations

import hashlib
import hmac
import ipaddress
import secrets
import socket
import time
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Literal
from urllib.parse import urlsplit

from starlette.datastructures import Headers

__all__ = [
    "ApiKeys",
    "ClientIdentity",
    "Credential",
    "HostPolicy",
    "SESSION_COOKIE",
    "SessionCookies",
    "WIDGET_KEY_HEADER",
    "WidgetKeys",
    "ADMIN_COOKIE",
    "AdminKeys",
    "AdminSessions",
    "CSRF_HEADER",
    "admin_key_id",
    "allowed_hosts",
    "forwarded_address",
    "host_name",
    "normalise_origin",
    "session_from_cookie",
]

KeyVerdict = Literal["none", "valid", "invalid"]
CredentialKind = Literal["none", "key", "session", "widget", "admin", "editor",
                         "editor_session", "invalid"]

SESSION_COOKIE = "sa_session"
# The admin page's sign-in: a cookie of its own, so the chat page's cookie (which anyone
# who loads / gets) can never stand in for it.
ADMIN_COOKIE = "sa_admin"
CSRF_HEADER = "x-csrf-token"
WIDGET_KEY_HEADER = "x-widget-key"
LOOPBACK_NAMES = ("localhost", "127.0.0.1", "::1")
_ANY_ADDRESS = ("0.0.0.0", "::", "")
DEFAULT_PORTS = {"http": "80", "https": "443"}


def _digest(value: str) -> bytes:
    return hashlib.sha256(value.encode("utf-8", "surrogatepass")).digest()


def normalise_origin(origin: str) -> str:
    """``HTTPS://Intra.Kommun.se:443/`` → ``https://intra.kommun.se`` (as browsers send it)."""
    parts = urlsplit(origin.strip().rstrip("/"))
    scheme = parts.scheme.lower()
    try:
        host = (parts.hostname or "").lower()
        port = str(parts.port) if parts.port is not None else ""
    except ValueError:  # a port that is not a number
        return origin.strip().lower()
    if ":" in host:  # IPv6 literal
        host = f"[{host}]"
    if not scheme or not host:
        return origin.strip().lower()
    if port and DEFAULT_PORTS.get(scheme) != port:
        return f"{scheme}://{host}:{port}"
    return f"{scheme}://{host}"


def _valid_port(port: str) -> bool:
    """A ``Host`` port: digits (at most 5, so ``int`` never sees a huge number) up to
    65535; empty is allowed (RFC 9110: ``host:`` means the default port)."""
    return not port or (port.isascii() and port.isdigit() and len(port) <= 5
                        and int(port) <= 65535)


def host_name(host: str | None) -> str | None:
    """``Intra.Kommun.se:8443`` → ``intra.kommun.se``; ``[::1]:80`` → ``::1``; bad → None
    (``[::1]:junk``, ``localhost:99999``)."""
    if host is None:
        return None
    value = host.strip().lower().rstrip(".")
    if value.startswith("["):
        end = value.find("]")
        rest = value[end + 1:] if end >= 0 else ""
        if end < 0 or (rest and not (rest.startswith(":") and _valid_port(rest[1:]))):
            return None
        return value[1:end] or None
    name, _, port = value.partition(":")
    if not _valid_port(port):
        return None
    return name or None


def allowed_hosts(configured: Iterable[str], bind_host: str) -> list[str]:
    """The host names the server answers to: loopback always (a rebinding attacker cannot
    make a browser send ``Host: localhost``), plus the configured names, or without
    configuration the bind address (unless it binds every interface) and machine name."""
    names = [*LOOPBACK_NAMES, *configured]
    if names == list(LOOPBACK_NAMES):
        names.append(socket.gethostname().lower())
        if bind_host.strip().lower() not in _ANY_ADDRESS:
            names.append(bind_host)
    return names


class HostPolicy:
    """The host names this server answers to. ``.kommun.se`` also allows subdomains."""

    def __init__(self, allowed: Iterable[str]) -> None:
        names = [n.strip().lower().rstrip(".") for n in allowed if n.strip()]
        self.exact = frozenset(host_name(n) or n for n in names if not n.startswith("."))
        self.suffixes = tuple(n for n in names if n.startswith("."))

    def allows(self, host: str | None) -> bool:
        name = host_name(host)
        if name is None:
            return False
        return name in self.exact or name.endswith(self.suffixes) and bool(self.suffixes)


def forwarded_address(hop: str) -> str:
    """One ``X-Forwarded-For`` entry without a port: ``203.0.113.5:4711`` →
    ``203.0.113.5``, ``[2001:db8::1]:443`` → ``2001:db8::1`` (some proxies add the
    client's source port, which would otherwise give every connection its own bucket)."""
    hop = hop.strip()
    if hop.startswith("["):
        end = hop.find("]")
        return hop[1:end] if end > 0 else hop
    if hop.count(":") == 1:  # IPv4 with a port; a bare IPv6 address has several colons
        return hop.partition(":")[0]
    return hop


class ClientIdentity:
    """The client address a rate limit counts against.

    The socket peer, unless the peer is a trusted proxy: then the right-most
    ``X-Forwarded-For`` address that is not itself a trusted proxy. Addresses
    further left were written by whoever sent the request and prove nothing.

    An IPv6 client counts as its network of ``ipv6_prefix`` bits (``/64`` by default):
    one home or office gets a whole /64 and can pick a new address for every request.
    """

    def __init__(self, trusted: Iterable[str], ipv6_prefix: int = 64) -> None:
        self.trusted = tuple(ipaddress.ip_network(t.strip(), strict=False)
                             for t in trusted if t.strip())
        self.ipv6_prefix = ipv6_prefix

    def bucket(self, address: str) -> str:
        """The rate-limit name of a client address: IPv4 as it is, IPv6 as its network."""
        try:
            ip = ipaddress.ip_address(address)
        except ValueError:
            return address
        if isinstance(ip, ipaddress.IPv6Address):
            if ip.ipv4_mapped is not None:  # ::ffff:192.0.2.1 is an IPv4 client
                return str(ip.ipv4_mapped)
            return str(ipaddress.ip_network(f"{ip}/{self.ipv6_prefix}", strict=False))
        return str(ip)

    def is_trusted(self, address: str | None) -> bool:
        if not address or not self.trusted:
            return False
        try:
            ip = ipaddress.ip_address(address.strip())
        except ValueError:
            return False
        return any(ip in net for net in self.trusted)

    def resolve(self, peer: str | None, forwarded_for: str | None) -> str:
        """The client's bucket (see :meth:`bucket`)."""
        if not self.is_trusted(peer) or not forwarded_for:
            return self.bucket(peer) if peer else "unknown"
        hops = [forwarded_address(h) for h in forwarded_for.split(",") if h.strip()]
        for hop in reversed(hops):
            if not self.is_trusted(hop):
                try:
                    return self.bucket(str(ipaddress.ip_address(hop)))
                except ValueError:
                    return "invalid:" + hop[:64]  # garbage from the client: its own bucket
        return self.bucket(peer) if peer else "unknown"

    def forwarded_https(self, peer: str | None, headers: Headers) -> bool:
        """Whether a trusted proxy says the browser used HTTPS (for the cookie's Secure)."""
        proto = headers.get("x-forwarded-proto", "").split(",")[-1].strip().lower()
        return self.is_trusted(peer) and proto == "https"


class ApiKeys:
    """Secret keys for server-to-server use, compared in constant time."""

    def __init__(self, keys: Iterable[str]) -> None:
        self._digests = [_digest(k) for k in keys if k]

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
        digest = _digest(key)
        ok = False
        for known in self._digests:  # no early exit: timing says nothing about which key
            ok |= hmac.compare_digest(digest, known)
        return "valid" if ok else "invalid"


class WidgetKeys:
    """Publishable keys, one per intranet origin (``ORIGIN=KEY``).

    Publishable means it sits in the page for anyone to copy; it is therefore
    accepted only in a request whose ``Origin`` is the one it was issued for,
    has its own rate limit, and is revoked by removing it from the setting.
    """

    def __init__(self, entries: Iterable[str]) -> None:
        self._by_origin: dict[str, bytes] = {}
        for entry in entries:
            origin, _, key = entry.rpartition("=")
            if origin and key:
                self._by_origin[normalise_origin(origin)] = _digest(key.strip())

    @property
    def origins(self) -> frozenset[str]:
        return frozenset(self._by_origin)

    def check(self, key: str | None, origin: str | None) -> KeyVerdict:
        """``valid`` only if ``key`` is the key of exactly this (normalised) origin."""
        if key is None:
            return "none"
        expected = self._by_origin.get(origin or "")
        if expected is None:
            hmac.compare_digest(_digest(key), _digest(""))  # same work either way
            return "invalid"
        return "valid" if hmac.compare_digest(_digest(key), expected) else "invalid"


class SessionCookies:
    """Signed, short-lived session tokens for the same-origin UI.

    ``v1.<issued>.<nonce>.<mac>``: nothing secret inside, the MAC makes it
    unforgeable, the issue time makes it expire. Stateless, so any replica that
    shares ``ASSISTANT_SESSION_SECRET`` accepts it. Older than half its life, it
    is renewed on use, so an open tab keeps working while it is used.
    """

    def __init__(self, secret: bytes | None, ttl: int) -> None:
        self._secret = secret or secrets.token_bytes(32)
        self.ttl = ttl

    def _mac(self, payload: str) -> str:
        return hmac.new(self._secret, payload.encode(), hashlib.sha256).hexdigest()

    def issue(self, now: float | None = None) -> str:
        issued = int(time.time() if now is None else now)
        payload = f"v1.{issued}.{secrets.token_hex(8)}"
        return f"{payload}.{self._mac(payload)}"

    def check(self, token: str | None,
              now: float | None = None) -> Literal["none", "valid", "stale", "invalid"]:
        """``stale`` = valid but due for renewal."""
        if not token:
            return "none"
        payload, _, mac = token.rpartition(".")
        parts = payload.split(".")
        if len(parts) != 3 or parts[0] != "v1" or not parts[1].isdigit():
            return "invalid"
        if not hmac.compare_digest(self._mac(payload), mac):
            return "invalid"
        age = (time.time() if now is None else now) - int(parts[1])
        if age < -60 or age > self.ttl:
            return "invalid"
        return "stale" if age > self.ttl / 2 else "valid"

    def set_cookie(self, path: str, secure: bool) -> str:
        """The ``Set-Cookie`` value: HttpOnly (no script reads it), SameSite=Strict (no
        other site's page can make the browser send it), expiring with the token."""
        cookie = (f"{SESSION_COOKIE}={self.issue()}; Path={path or '/'}; Max-Age={self.ttl}; "
                  "HttpOnly; SameSite=Strict")
        return cookie + ("; Secure" if secure else "")


def admin_key_id(key: str) -> str:
    """What the audit log and the admin session name a key by: a short prefix of its
    SHA-256, never the key (12 hex digits tell a handful of editors' keys apart)."""
    return "ak_" + hashlib.sha256(key.encode("utf-8", "surrogatepass")).hexdigest()[:12]


class AdminKeys:
    """The editors' keys (``ASSISTANT_ADMIN_KEYS``), each known by its id."""

    def __init__(self, keys: Iterable[str]) -> None:
        self._by_digest = {_digest(k): admin_key_id(k) for k in keys if k}

    @property
    def enabled(self) -> bool:
        return bool(self._by_digest)

    @property
    def ids(self) -> frozenset[str]:
        return frozenset(self._by_digest.values())

    def check(self, key: str | None) -> str | None:
        """The key's id when ``key`` is an admin key, else ``None`` (constant time over
        the keys: no early exit)."""
        if key is None or not self._by_digest:
            return None
        digest = _digest(key)
        found: str | None = None
        for known, key_id in self._by_digest.items():
            if hmac.compare_digest(digest, known):
                found = key_id
        return found


class AdminSessions:
    """The admin page's signed sign-in: ``a1.<issued>.<key id>.<nonce>.<mac>``.

    Why its own format and secret (derived from the session secret with a label): a chat
    session token can then never verify as an admin one, even though both are signed by
    the same configured secret. It expires after ``ttl`` and is not renewed: an editor
    signs in again. The key id inside lets a removed admin key end its sessions at once.
    The CSRF token is a MAC of the session token, so it is bound to that one sign-in and
    needs no server-side state (any replica with the same secret checks it).
    """

    def __init__(self, secret: bytes | None, ttl: int) -> None:
        base = secret or secrets.token_bytes(32)
        self._secret = hmac.new(base, b"assistant-admin-session", hashlib.sha256).digest()
        self.ttl = ttl

    def _mac(self, label: str, payload: str) -> str:
        return hmac.new(self._secret, f"{label}:{payload}".encode(),
                        hashlib.sha256).hexdigest()

    def issue(self, key_id: str, now: float | None = None) -> str:
        issued = int(time.time() if now is None else now)
        payload = f"a1.{issued}.{key_id}.{secrets.token_hex(8)}"
        return f"{payload}.{self._mac('session', payload)}"

    def check(self, token: str | None, key_ids: frozenset[str],
              now: float | None = None) -> str | None:
        """The key id of a valid, unexpired token whose key is still configured."""
        if not token:
            return None
        payload, _, mac = token.rpartition(".")
        parts = payload.split(".")
        if len(parts) != 4 or parts[0] != "a1" or not parts[1].isdigit():
            return None
        if not hmac.compare_digest(self._mac("session", payload), mac):
            return None
        age = (time.time() if now is None else now) - int(parts[1])
        if age < -60 or age > self.ttl or parts[2] not in key_ids:
            return None
        return parts[2]

    def csrf(self, token: str) -> str:
        """The CSRF token of a session: the page sends it in ``X-CSRF-Token``."""
        return self._mac("csrf", token)

    def csrf_ok(self, token: str | None, presented: str | None) -> bool:
        if not token or not presented:
            return False
        return hmac.compare_digest(self.csrf(token), presented.strip())

    def set_cookie(self, token: str, secure: bool) -> str:
        """HttpOnly, SameSite=Strict, Path=/ (the page and its API), expiring with it."""
        cookie = (f"{ADMIN_COOKIE}={token}; Path=/; Max-Age={self.ttl}; HttpOnly; "
                  "SameSite=Strict")
        return cookie + ("; Secure" if secure else "")

    @staticmethod
    def clear_cookie(secure: bool) -> str:
        cookie = f"{ADMIN_COOKIE}=; Path=/; Max-Age=0; HttpOnly; SameSite=Strict"
        return cookie + ("; Secure" if secure else "")


@dataclass(frozen=True)
class Credential:
    """What a request showed. ``bucket`` names the key for per-key limits."""

    kind: CredentialKind
    message: str = ""
    key_bucket: str | None = None
    widget_origin: str | None = None
    renew_session: bool = False
    # An editor's key id (admin key or admin session): what the audit log records.
    admin_key_id: str | None = None
    # The admin session's token (for the CSRF check of a write from the page).
    admin_token: str | None = None

    @property
    def authenticated(self) -> bool:
        return self.kind in ("key", "session", "widget")


def session_from_cookie(headers: Headers, cookie: str = SESSION_COOKIE) -> str | None:
    """Our session token (or, with ``cookie``, another of ours) from the ``Cookie``
    header, if present."""
    for part in headers.get("cookie", "").split(";"):
        name, _, value = part.strip().partition("=")
        if name == cookie:
            return value.strip()
    return None
