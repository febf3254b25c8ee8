"""People who sign in to the console (``console_users``): emails, passwords, reset links.

Passwords are argon2id (argon2-cffi's RFC 9106 low-memory profile: 64 MiB, 3 passes, 4 lanes,
16-byte salt, 32-byte hash), NFKC-normalised first so a password typed on another keyboard
still matches. Hashing and verifying take ~50-150 ms of CPU: the async functions here run them
in a thread, so the event loop keeps serving. Reset tokens are shown once and stored as sha256.
"""

from __future__ import annotations

import asyncio
import hashlib
import re
import secrets
import unicodedata
from datetime import datetime
from typing import Any, Final

import asyncpg
import msgspec
from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError

from cxloop.access.errors import AccessError
from cxloop.db import Connection

__all__ = [
    "MAX_PASSWORD_CHARS",
    "MIN_PASSWORD_CHARS",
    "ConsoleUser",
    "check_password_rules",
    "create_password_reset",
    "create_user",
    "find_user",
    "get_user",
    "hash_password",
    "list_users",
    "needs_rehash",
    "normalise_email",
    "set_password",
    "use_password_reset",
    "verify_password",
]

MIN_PASSWORD_CHARS: Final = 10
MAX_PASSWORD_CHARS: Final = 1024
USER_ID_PREFIX: Final = "usr_"
_MAX_EMAIL_CHARS: Final = 254
_EMAIL = re.compile(r"[^@\s]+@[^@\s]+")

# One hasher: its parameters are argon2-cffi's default profile (RFC 9106, low memory). When a
# later version changes them, a stored hash is rehashed at the next successful sign-in.
_HASHER: Final = PasswordHasher()

INSERT_USER = """
INSERT INTO console_users (id, email, email_key, name, password_hash, password_changed_at)
VALUES ($1, $2, $3, $4, $5, CASE WHEN $5::text IS NULL THEN NULL ELSE now() END)
RETURNING id, email, name, created_at, password_hash IS NOT NULL AS has_password,
       CASE WHEN locked_until > now() THEN locked_until END AS locked_until
"""
SELECT_USER_BY_EMAIL = """
SELECT id, email, name, created_at, password_hash IS NOT NULL AS has_password,
       CASE WHEN locked_until > now() THEN locked_until END AS locked_until
FROM console_users WHERE email_key = $1
"""
SELECT_USER_BY_ID = """
SELECT id, email, name, created_at, password_hash IS NOT NULL AS has_password,
       CASE WHEN locked_until > now() THEN locked_until END AS locked_until
FROM console_users WHERE id = $1
"""
SELECT_USERS = """
SELECT id, email, name, created_at, password_hash IS NOT NULL AS has_password,
       CASE WHEN locked_until > now() THEN locked_until END AS locked_until
FROM console_users ORDER BY created_at, id
"""
STORE_HASH = """
UPDATE console_users
SET password_hash = $2, password_changed_at = now(), failed_logins = 0, locked_until = NULL
WHERE id = $1
"""
DELETE_USER_SESSIONS = "DELETE FROM console_sessions WHERE user_id = $1"
# A new link voids the person's earlier unused ones: only the last one printed works.
VOID_RESETS = "UPDATE password_resets SET used_at = now() WHERE user_id = $1 AND used_at IS NULL"
INSERT_RESET = """
INSERT INTO password_resets (token_hash, user_id, expires_at)
VALUES ($1, $2, now() + make_interval(secs => $3))
"""
CLAIM_RESET = """
SELECT r.user_id, u.email
FROM password_resets r JOIN console_users u ON u.id = r.user_id
WHERE r.token_hash = $1 AND r.used_at IS NULL AND r.expires_at > now()
FOR UPDATE OF r
"""
USE_RESET = "UPDATE password_resets SET used_at = now() WHERE token_hash = $1"


class ConsoleUser(msgspec.Struct, frozen=True, kw_only=True):
    """A person who signs in (never an end user of the vendor's product)."""

    id: str
    email: str
    name: str
    created_at: datetime
    has_password: bool
    locked_until: datetime | None  # set only while a lockout is in force


def user_from_row(row: Any) -> ConsoleUser:
    return ConsoleUser(
        id=row["id"],
        email=row["email"],
        name=row["name"],
        created_at=row["created_at"],
        has_password=row["has_password"],
        locked_until=row["locked_until"],
    )


def normalise_email(email: str) -> str:
    """The login name of ``email``: NFKC, trimmed, case-folded; AccessError if not an address."""
    key = unicodedata.normalize("NFKC", email).strip().casefold()
    if len(key) > _MAX_EMAIL_CHARS or not _EMAIL.fullmatch(key):
        raise AccessError(
            "invalid_email",
            f"{email[:80]!r} is not an email address: give one like name@example.com",
        )
    return key


def _normalise_password(password: str) -> str:
    return unicodedata.normalize("NFKC", password)


def check_password_rules(password: str, email: str | None = None) -> None:
    """Raise AccessError (``weak_password``) naming the first rule ``password`` breaks."""
    password = _normalise_password(password)
    problem = None
    if len(password) < MIN_PASSWORD_CHARS:
        problem = f"is {len(password)} characters long; use at least {MIN_PASSWORD_CHARS}"
    elif len(password) > MAX_PASSWORD_CHARS:
        problem = f"is longer than {MAX_PASSWORD_CHARS} characters; use a shorter one"
    elif len(set(password)) == 1:
        problem = "is one character repeated; use a passphrase of several words"
    elif email is not None:
        key = password.strip().casefold()
        address = unicodedata.normalize("NFKC", email).strip().casefold()
        if key in (address, address.partition("@")[0]):
            problem = "is your email address; choose something else"
    if problem is not None:
        raise AccessError("weak_password", f"the password {problem}")


def hash_password(password: str) -> str:
    """An argon2id PHC string (``$argon2id$v=19$m=…``); CPU-bound: call it in a thread."""
    return _HASHER.hash(_normalise_password(password))


def verify_password(stored: str, password: str) -> bool:
    """True when ``password`` matches the stored hash; False for a mismatch or a bad hash."""
    try:
        return _HASHER.verify(stored, _normalise_password(password))
    except (VerifyMismatchError, VerificationError, InvalidHashError):
        return False


def needs_rehash(stored: str) -> bool:
    """True when ``stored`` was made with other parameters than today's."""
    try:
        return _HASHER.check_needs_rehash(stored)
    except InvalidHashError:
        return True


def _digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


async def create_user(
    conn: Connection, email: str, *, name: str = "", password: str | None = None
) -> ConsoleUser:
    """A new person; 409 ``email_taken`` when the address (in any case) already signs in."""
    key = normalise_email(email)
    password_hash = None
    if password is not None:
        check_password_rules(password, key)
        password_hash = await asyncio.to_thread(hash_password, password)
    try:
        row = await conn.fetchrow(
            INSERT_USER,
            USER_ID_PREFIX + secrets.token_hex(8),
            email.strip(),
            key,
            name.strip(),
            password_hash,
        )
    except asyncpg.UniqueViolationError as exc:
        raise AccessError(
            "email_taken",
            f"{email.strip()} already has an account: use `cxloop users reset-password` instead",
            status=409,
        ) from exc
    return user_from_row(row)


async def find_user(conn: Connection, email: str) -> ConsoleUser | None:
    """The person signing in as ``email`` (any case), or None (also for a non-address)."""
    try:
        key = normalise_email(email)
    except AccessError:
        return None
    row = await conn.fetchrow(SELECT_USER_BY_EMAIL, key)
    return user_from_row(row) if row is not None else None


async def get_user(conn: Connection, user_id: str) -> ConsoleUser | None:
    row = await conn.fetchrow(SELECT_USER_BY_ID, user_id)
    return user_from_row(row) if row is not None else None


async def list_users(conn: Connection) -> list[ConsoleUser]:
    return [user_from_row(row) for row in await conn.fetch(SELECT_USERS)]


async def set_password(conn: Connection, user_id: str, password: str) -> None:
    """Check the rules, store the new hash, lift any lockout and end every session."""
    user = await get_user(conn, user_id)
    if user is None:
        raise AccessError("user_not_found", f"no console user {user_id}", status=404)
    check_password_rules(password, user.email)
    password_hash = await asyncio.to_thread(hash_password, password)
    async with conn.transaction():
        await conn.execute(STORE_HASH, user_id, password_hash)
        await conn.execute(DELETE_USER_SESSIONS, user_id)


async def create_password_reset(conn: Connection, user_id: str, *, ttl_s: float = 3600.0) -> str:
    """A one-time reset token (shown once, stored as sha256); earlier unused ones stop working."""
    token = secrets.token_urlsafe(32)
    async with conn.transaction():
        await conn.execute(VOID_RESETS, user_id)
        await conn.execute(INSERT_RESET, _digest(token), user_id, float(ttl_s))
    return token


async def use_password_reset(conn: Connection, token: str, password: str) -> str:
    """Set the password of the link's person and use the link up; returns their id.

    A password that breaks a rule leaves the link usable, so the person can try another.
    """
    async with conn.transaction():
        row = await conn.fetchrow(CLAIM_RESET, _digest(token))
        if row is None:
            raise AccessError(
                "invalid_reset_link",
                "this reset link is unknown, used or expired (links last an hour and work "
                "once): ask an owner for a new one (cxloop users reset-password EMAIL)",
                status=404,
            )
        await set_password(conn, row["user_id"], password)
        await conn.execute(USE_RESET, _digest(token))
    user_id: str = row["user_id"]
    return user_id
