"""Sign-in: a password checked against the person's argon2id hash, with a lockout per person
and a limit per client address, both kept in PostgreSQL so every worker agrees.

Timing does not tell which emails have an account: an unknown email (or a person without a
password yet) is still verified, against a dummy hash, and gets the same 401. A locked account
answers 429 without checking the password, so guessing stops being worth it; that answer does
tell that the account exists, which is the price of a per-person lockout (documented).
"""

from __future__ import annotations

import asyncio
import hashlib
import time
from typing import Final

import msgspec

from cxloop.access.errors import AccessError
from cxloop.access.people import (
    ConsoleUser,
    get_user,
    hash_password,
    needs_rehash,
    normalise_email,
    verify_password,
)
from cxloop.db import Connection

__all__ = [
    "ATTEMPTS_KEPT_S",
    "LoginPolicy",
    "address_key",
    "check_password",
    "confirm_password",
    "sign_in",
    "unlock_user",
]

ATTEMPTS_KEPT_S: Final = 86_400.0
_PRUNE_EVERY_S: Final = 60.0

SELECT_CREDENTIALS = """
SELECT id, password_hash,
       ceil(extract(epoch FROM locked_until - now()))::int AS locked_for
FROM console_users WHERE email_key = $1
"""
SELECT_ADDRESS_FAILURES = """
SELECT count(*) AS failures,
       ceil(extract(epoch FROM min(at) + make_interval(secs => $2) - now()))::int AS frees_in
FROM login_attempts
WHERE address = $1 AND NOT succeeded AND at > now() - make_interval(secs => $2)
"""
INSERT_ATTEMPT = "INSERT INTO login_attempts (address, email_key, succeeded) VALUES ($1, $2, $3)"
PRUNE_ATTEMPTS = "DELETE FROM login_attempts WHERE at < now() - make_interval(secs => $1)"
# The N-th consecutive failure locks the account and starts the count again, so after the
# lockout the person has N more tries before the next one.
RECORD_FAILURE = """
UPDATE console_users
SET failed_logins = CASE WHEN failed_logins + 1 >= $2 THEN 0 ELSE failed_logins + 1 END,
    locked_until = CASE WHEN failed_logins + 1 >= $2 THEN now() + make_interval(secs => $3)
                        ELSE locked_until END
WHERE id = $1
"""
RECORD_SUCCESS = "UPDATE console_users SET failed_logins = 0, locked_until = NULL WHERE id = $1"
REHASH = "UPDATE console_users SET password_hash = $3 WHERE id = $1 AND password_hash = $2"
UNLOCK = """
UPDATE console_users SET failed_logins = 0, locked_until = NULL
WHERE id = $1 AND (failed_logins > 0 OR locked_until > now())
"""
SELECT_LOCK = """
SELECT password_hash, ceil(extract(epoch FROM locked_until - now()))::int AS locked_for
FROM console_users WHERE id = $1
"""


class LoginPolicy(msgspec.Struct, frozen=True, kw_only=True):
    """How many wrong passwords a person and an address get (from the settings)."""

    max_failures: int = 5
    lockout_s: float = 900.0
    address_limit: int = 20
    address_window_s: float = 900.0


_dummy_hash: str | None = None
_last_prune = 0.0


def address_key(address: str | None) -> str:
    """What ``login_attempts`` keeps of a client address: its sha256, hex."""
    return hashlib.sha256((address or "unknown").encode()).hexdigest()


async def check_password(stored: str | None, password: str) -> bool:
    """Verify in a thread; with no stored hash, verify against a dummy one (same cost) and
    answer False, so an unknown email takes as long as a wrong password."""
    global _dummy_hash
    if stored is None:
        if _dummy_hash is None:
            _dummy_hash = await asyncio.to_thread(hash_password, "cxloop dummy password")
        await asyncio.to_thread(verify_password, _dummy_hash, password)
        return False
    return await asyncio.to_thread(verify_password, stored, password)


def _locked(seconds: int) -> AccessError:
    minutes = max(1, round(seconds / 60))
    return AccessError(
        "locked",
        f"too many wrong passwords: this account is locked for about {minutes} min; wait, "
        "or ask an owner to run `cxloop users unlock EMAIL` (or reset the password)",
        status=429,
        retry_after=max(1, seconds),
    )


async def _prune(conn: Connection) -> None:
    global _last_prune
    now = time.monotonic()
    if now - _last_prune >= _PRUNE_EVERY_S:
        _last_prune = now
        await conn.execute(PRUNE_ATTEMPTS, ATTEMPTS_KEPT_S)


async def sign_in(
    conn: Connection,
    email: str,
    password: str,
    *,
    address: str | None,
    policy: LoginPolicy,
) -> ConsoleUser:
    """The person whose email and password these are; AccessError otherwise.

    401 ``invalid_credentials`` (wrong email or password, the same either way), 429 ``locked``
    (the person's lockout, even for the right password) or 429 ``too_many_attempts`` (this
    address's limit), the last two with ``retry_after``. Run it outside a transaction: the
    failures it records must stay.
    """
    await _prune(conn)
    where = address_key(address)
    limit = await conn.fetchrow(SELECT_ADDRESS_FAILURES, where, float(policy.address_window_s))
    assert limit is not None  # an aggregate always answers one row
    if limit["failures"] >= policy.address_limit > 0:
        raise AccessError(
            "too_many_attempts",
            f"too many failed sign-ins from this address ({limit['failures']} in "
            f"{round(policy.address_window_s / 60)} min): wait and try again",
            status=429,
            retry_after=max(1, limit["frees_in"] or 1),
        )
    try:
        email_key = normalise_email(email)
    except AccessError:
        email_key = email.strip()[:254]
        row = None
    else:
        row = await conn.fetchrow(SELECT_CREDENTIALS, email_key)
    if row is not None and (row["locked_for"] or 0) > 0:
        await conn.execute(INSERT_ATTEMPT, where, email_key, False)
        raise _locked(row["locked_for"])
    stored = row["password_hash"] if row is not None else None
    if not await check_password(stored, password):
        await conn.execute(INSERT_ATTEMPT, where, email_key, False)
        if row is not None:
            await conn.execute(
                RECORD_FAILURE, row["id"], policy.max_failures, float(policy.lockout_s)
            )
        raise AccessError(
            "invalid_credentials",
            "wrong email or password; after several wrong passwords the account is locked "
            "for a while (an owner can set a new one: cxloop users reset-password EMAIL)",
            status=401,
        )
    assert row is not None and stored is not None  # check_password is False without both
    await conn.execute(INSERT_ATTEMPT, where, email_key, True)
    await conn.execute(RECORD_SUCCESS, row["id"])
    if needs_rehash(stored):
        await conn.execute(
            REHASH, row["id"], stored, await asyncio.to_thread(hash_password, password)
        )
    user = await get_user(conn, row["id"])
    assert user is not None
    return user


async def confirm_password(
    conn: Connection, user_id: str, password: str, *, policy: LoginPolicy
) -> None:
    """For a signed-in person changing their password: the current one must match; a wrong one
    counts towards the lockout like a failed sign-in (403 ``wrong_password``, 429 ``locked``)."""
    row = await conn.fetchrow(SELECT_LOCK, user_id)
    if row is not None and (row["locked_for"] or 0) > 0:
        raise _locked(row["locked_for"])
    if not await check_password(row["password_hash"] if row is not None else None, password):
        if row is not None:
            await conn.execute(
                RECORD_FAILURE, user_id, policy.max_failures, float(policy.lockout_s)
            )
        raise AccessError(
            "wrong_password", "the current password is wrong; type it again", status=403
        )


async def unlock_user(conn: Connection, user_id: str) -> bool:
    """Lift a lockout and forget the failures; False when there was nothing to lift."""
    return await conn.execute(UNLOCK, user_id) != "UPDATE 0"
