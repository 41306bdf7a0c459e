"""Units of :mod:`assistant.web.auth`: host names, client identity, session tokens."""

from __future__ import annotations

from assistant.web.auth import (
    ClientIdentity,
    HostPolicy,
    SessionCookies,
    WidgetKeys,
    allowed_hosts,
)


def test_host_and_client_policies() -> None:
    hosts = HostPolicy(allowed_hosts(["assistent.kommun.se", ".intra.se"], "0.0.0.0"))
    assert hosts.allows("assistent.kommun.se:443") and hosts.allows("ASSISTENT.kommun.se.")
    assert hosts.allows("a.intra.se") and hosts.allows("[::1]:7860")
    assert not hosts.allows("evil.example") and not hosts.allows(None)
    assert not hosts.allows("intra.se.evil.example") and not hosts.allows("assistent:x")
    identity = ClientIdentity(["10.0.0.0/8"])
    assert identity.resolve("192.0.2.1", "1.1.1.1") == "192.0.2.1"  # untrusted peer
    assert identity.resolve("10.0.0.2", "1.1.1.1, 203.0.113.9") == "203.0.113.9"
    assert identity.resolve("10.0.0.2", "203.0.113.9, 10.0.0.7") == "203.0.113.9"
    assert identity.resolve("10.0.0.2", None) == "10.0.0.2"


def test_session_tokens_expire_and_renew() -> None:
    sessions = SessionCookies(b"s" * 32, ttl=600)
    token = sessions.issue(now=1000)
    assert sessions.check(token, now=1100) == "valid"
    assert sessions.check(token, now=1400) == "stale"  # past half-life: renewed on use
    assert sessions.check(token, now=1601) == "invalid"
    assert SessionCookies(b"t" * 32, ttl=600).check(token, now=1100) == "invalid"
    assert sessions.check("v1.1000.x.y", now=1100) == "invalid"


def test_widget_keys_belong_to_one_origin() -> None:
    keys = WidgetKeys(["HTTPS://Intra.Kommun.se:443/=pk_a", "https://b.se=pk_b"])
    assert keys.check("pk_a", "https://intra.kommun.se") == "valid"
    assert keys.check("pk_a", "https://b.se") == "invalid"
    assert keys.check("pk_b", None) == "invalid"
    assert keys.check(None, "https://b.se") == "none"
    assert keys.origins == {"https://intra.kommun.se", "https://b.se"}


def test_admin_sessions_are_their_own_and_expire() -> None:
    """Issue 21: an admin session verifies only with its own secret, expires, ends when
    its key is removed, and its CSRF token is bound to that one session."""
    from assistant.web.auth import AdminKeys, AdminSessions, SessionCookies, admin_key_id

    keys = AdminKeys(["redaktor-nyckel-0123456789"])
    key_id = admin_key_id("redaktor-nyckel-0123456789")
    assert keys.check("redaktor-nyckel-0123456789") == key_id and keys.check("x") is None
    secret = b"s" * 32
    sessions = AdminSessions(secret, ttl=600)
    token = sessions.issue(key_id, now=1_000_000)
    assert sessions.check(token, keys.ids, now=1_000_100) == key_id
    assert sessions.check(token, keys.ids, now=1_000_601) is None  # expired
    assert sessions.check(token, frozenset(), now=1_000_100) is None  # key removed
    assert AdminSessions(b"t" * 32, 600).check(token, keys.ids, now=1_000_100) is None
    chat = SessionCookies(secret, 600).issue(now=1_000_000)
    assert sessions.check(chat, keys.ids, now=1_000_100) is None
    other = sessions.issue(key_id, now=1_000_000)
    assert sessions.csrf_ok(token, sessions.csrf(token))
    assert not sessions.csrf_ok(token, sessions.csrf(other))
    assert not sessions.csrf_ok(token, None) and not sessions.csrf_ok(None, "x")
    assert "redaktor" not in token and key_id.startswith("ak_") and len(key_id) == 15
