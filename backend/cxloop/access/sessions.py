"""Console sessions (``console_sessions``): the cookie holds 32 random bytes, the table only
their sha256, so a copy of the table cannot be replayed as a cookie.

A session ends at its absolute expiry (``ttl_s`` from sign-in), after ``idle_s`` without a
request, at sign-out, or when its person's password changes. The CSRF token of a session is
derived from its cookie (a browser script on another site can read neither).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets
from datetime import datetime
from typing import Final

from cxloop.access.address import anonymize_ip
from cxloop.access.people import ConsoleUser, user_from_row
from cxloop.db import Connection

__all__ = [
    "SESSION_TOUCH_S",
    "create_session",
    "csrf_matches",
    "csrf_token",
    "end_all_sessions",
    "end_session",
    "session_expires_at",
    "session_hash",
    "session_user",
]

# last_seen_at is written at most this often per session, not on every request.
SESSION_TOUCH_S: Final = 60.0
_CSRF_LABEL: Final = b"cxloop csrf token\x00"
_MAX_USER_AGENT: Final = 512

INSERT_SESSION = """
INSERT INTO console_sessions (id_hash, user_id, expires_at, address, user_agent)
VALUES ($1, $2, now() + make_interval(secs => $3), $4, $5)
"""
DELETE_EXPIRED_OF_USER = "DELETE FROM console_sessions WHERE user_id = $1 AND expires_at <= now()"
# The session and its person, with whether it is still alive and due a touch.
SELECT_SESSION = """
SELECT u.id, u.email, u.name, u.created_at, u.password_hash IS NOT NULL AS has_password,
       CASE WHEN u.locked_until > now() THEN u.locked_until END AS locked_until,
       s.expires_at > now() AND s.last_seen_at > now() - make_interval(secs => $2) AS alive,
       s.last_seen_at < now() - make_interval(secs => $3) AS stale
FROM console_sessions s JOIN console_users u ON u.id = s.user_id
WHERE s.id_hash = $1
"""
TOUCH_SESSION = "UPDATE console_sessions SET last_seen_at = now() WHERE id_hash = $1"
DELETE_SESSION = "DELETE FROM console_sessions WHERE id_hash = $1"
SELECT_EXPIRY = "SELECT expires_at FROM console_sessions WHERE id_hash = $1"
DELETE_USER_SESSIONS = """
DELETE FROM console_sessions WHERE user_id = $1 AND ($2::text IS NULL OR id_hash <> $2)
"""


def session_hash(cookie_value: str) -> str:
    """What the table stores of a cookie: its sha256, hex."""
    return hashlib.sha256(cookie_value.encode()).hexdigest()


def csrf_token(cookie_value: str) -> str:
    """The ``X-CSRF-Token`` a session's unsafe requests carry: sha256 of a label and the
    cookie, URL-safe base64. Only someone who holds the cookie can compute it."""
    digest = hashlib.sha256(_CSRF_LABEL + cookie_value.encode()).digest()
    return base64.urlsafe_b64encode(digest).rstrip(b"=").decode()


def csrf_matches(cookie_value: str, sent: str | None) -> bool:
    """True when ``sent`` is the session's CSRF token (compared in constant time)."""
    return sent is not None and hmac.compare_digest(csrf_token(cookie_value), sent.strip())


async def create_session(
    conn: Connection,
    user_id: str,
    *,
    address: str | None,
    user_agent: str | None,
    ttl_s: float,
) -> str:
    """A new session for ``user_id``; returns the cookie value (shown only to the browser).

    ``address`` is the client address as seen; only its anonymised form is stored.
    """
    cookie_value = secrets.token_urlsafe(32)
    await conn.execute(DELETE_EXPIRED_OF_USER, user_id)
    await conn.execute(
        INSERT_SESSION,
        session_hash(cookie_value),
        user_id,
        float(ttl_s),
        anonymize_ip(address) if address else None,
        (user_agent or "")[:_MAX_USER_AGENT] or None,
    )
    return cookie_value


async def session_user(conn: Connection, cookie_value: str, *, idle_s: float) -> ConsoleUser | None:
    """The person of a live session, or None (unknown, expired or idle: then it is deleted)."""
    if not cookie_value or len(cookie_value) > 128:
        return None
    digest = session_hash(cookie_value)
    # Touched at most once a minute, and often enough that a short idle timeout still works.
    touch_s = min(SESSION_TOUCH_S, idle_s / 4)
    row = await conn.fetchrow(SELECT_SESSION, digest, float(idle_s), touch_s)
    if row is None:
        return None
    if not row["alive"]:
        await conn.execute(DELETE_SESSION, digest)
        return None
    if row["stale"]:
        await conn.execute(TOUCH_SESSION, digest)
    return user_from_row(row)


async def session_expires_at(conn: Connection, cookie_value: str) -> datetime | None:
    """When a session ends at the latest (its absolute lifetime); None if there is none."""
    expires_at: datetime | None = await conn.fetchval(SELECT_EXPIRY, session_hash(cookie_value))
    return expires_at


async def end_session(conn: Connection, cookie_value: str) -> bool:
    """Sign one session out; False when there was none."""
    status = await conn.execute(DELETE_SESSION, session_hash(cookie_value))
    return status != "DELETE 0"


async def end_all_sessions(
    conn: Connection, user_id: str, *, keep_cookie: str | None = None
) -> int:
    """End every session of ``user_id`` (but ``keep_cookie``'s); returns how many ended."""
    keep = session_hash(keep_cookie) if keep_cookie else None
    status = await conn.execute(DELETE_USER_SESSIONS, user_id, keep)
    return int(status.rsplit(" ", 1)[-1])
