"""Personal API tokens (``api_tokens``): a person's credential for one project, with scopes.

A token is ``cxp_`` + 32 random bytes, shown once; only its sha256 is stored (a 256-bit random
secret needs no slow hash), with its first characters for display. It is looked up by that
hash on every request, with no cache, so a revocation, an expiry or its person leaving the
project takes effect on the next request. What it may do is computed then too: its scopes,
but never more than its person's current role (``token_permissions``), so demoting a person
narrows their tokens at once. ``last_used_at`` is written at most once a minute per token.
"""

from __future__ import annotations

import hashlib
import secrets
from collections.abc import Iterable
from datetime import UTC, datetime
from typing import Any, Final

import msgspec

from cxloop.access.errors import AccessError
from cxloop.access.members import member_role
from cxloop.access.permissions import SCOPES, expand_scopes, role_permissions, token_permissions
from cxloop.access.principal import Principal
from cxloop.db import Connection

__all__ = [
    "MAX_TOKEN_NAME_CHARS",
    "TOKEN_PREFIX",
    "TOKEN_TOUCH_S",
    "TokenInfo",
    "check_scopes",
    "create_token",
    "get_token",
    "hash_token",
    "list_tokens",
    "revoke_token",
    "token_principal",
]

TOKEN_PREFIX: Final = "cxp_"  # noqa: S105 (a prefix, not a secret)
TOKEN_ID_PREFIX: Final = "tok_"  # noqa: S105
# Shown in listings so a token can be recognised: "cxp_" plus 8 of its 43 random characters.
TOKEN_DISPLAY_CHARS: Final = 12
# A token is "cxp_" + 43 characters; anything much longer is not one of ours.
MAX_TOKEN_CHARS: Final = 100
MAX_TOKEN_NAME_CHARS: Final = 100
TOKEN_TOUCH_S: Final = 60.0

TOKEN_COLUMNS: Final = """
t.id, t.name, t.prefix, t.scopes, t.user_id, u.email, t.created_at, t.expires_at,
t.last_used_at, t.revoked_at
"""  # noqa: S105 - SQL, not a secret
INSERT_TOKEN: Final = """
INSERT INTO api_tokens (id, token_hash, prefix, project_id, user_id, name, scopes, expires_at)
VALUES ($1, $2, $3, $4, $5, $6, $7, $8)
"""  # noqa: S105 - SQL, not a secret
SELECT_TOKEN: Final = f"""
SELECT {TOKEN_COLUMNS}
FROM api_tokens t JOIN console_users u ON u.id = t.user_id
WHERE t.project_id = $1 AND t.id = $2
"""  # noqa: S608 - fixed fragments
# Revoked tokens are left out; expired ones are listed (their expires_at says so).
SELECT_TOKENS: Final = f"""
SELECT {TOKEN_COLUMNS}
FROM api_tokens t JOIN console_users u ON u.id = t.user_id
WHERE t.project_id = $1 AND ($2::text IS NULL OR t.user_id = $2) AND t.revoked_at IS NULL
ORDER BY t.created_at DESC, t.id
"""  # noqa: S608 - fixed fragments
REVOKE_TOKEN: Final = """
UPDATE api_tokens SET revoked_at = now()
WHERE project_id = $1 AND id = $2 AND ($3::text IS NULL OR user_id = $3) AND revoked_at IS NULL
RETURNING id
"""  # noqa: S105 - SQL, not a secret
# A live token whose person is still a member, with that member's role now.
SELECT_TOKEN_PRINCIPAL: Final = """
SELECT t.id, t.project_id, t.user_id, t.name, t.scopes, u.email, m.role,
       t.last_used_at IS NULL OR t.last_used_at < now() - make_interval(secs => $2) AS stale
FROM api_tokens t
JOIN console_users u ON u.id = t.user_id
JOIN project_members m ON m.project_id = t.project_id AND m.user_id = t.user_id
WHERE t.token_hash = $1 AND t.revoked_at IS NULL AND (t.expires_at IS NULL OR t.expires_at > now())
"""  # noqa: S105 - SQL, not a secret
# Concurrent requests may all see the token stale; the condition keeps it one write a minute.
TOUCH_TOKEN: Final = """
UPDATE api_tokens SET last_used_at = now()
WHERE id = $1 AND (last_used_at IS NULL OR last_used_at < now() - make_interval(secs => $2))
"""  # noqa: S105 - SQL, not a secret


class TokenInfo(msgspec.Struct, frozen=True, kw_only=True):
    """A token as listed: never the token itself, only its prefix."""

    id: str
    name: str
    prefix: str
    scopes: list[str]
    user_id: str
    email: str
    created_at: datetime
    expires_at: datetime | None
    last_used_at: datetime | None
    revoked_at: datetime | None


def hash_token(token: str) -> str:
    """What the table stores of a token: its sha256, hex."""
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


def _token_of(row: Any) -> TokenInfo:
    return TokenInfo(
        id=row["id"],
        name=row["name"],
        prefix=row["prefix"],
        scopes=list(row["scopes"]),
        user_id=row["user_id"],
        email=row["email"],
        created_at=row["created_at"],
        expires_at=row["expires_at"],
        last_used_at=row["last_used_at"],
        revoked_at=row["revoked_at"],
    )


def check_scopes(scopes: Iterable[str], allowed: frozenset[str]) -> list[str]:
    """The scopes, checked: each one known (400 ``invalid_scope``) and granting nothing beyond
    ``allowed`` (403 ``forbidden`` naming the scope and what it would add)."""
    checked: list[str] = []
    for scope in scopes:
        try:
            granted = expand_scopes([scope])
        except ValueError as exc:
            raise AccessError("invalid_scope", str(exc), status=400) from exc
        beyond = sorted(granted - allowed)
        if beyond:
            raise AccessError(
                "forbidden",
                f"the scope '{scope}' would grant {', '.join(beyond)}, which your role does "
                "not have: a token never exceeds its person's permissions",
                status=403,
            )
        if scope not in checked:
            checked.append(scope)
    if not checked:
        raise AccessError(
            "invalid_scope", f"give a token at least one scope: one of {', '.join(SCOPES)}"
        )
    return checked


async def create_token(
    conn: Connection,
    project_id: str,
    user_id: str,
    *,
    name: str,
    scopes: Iterable[str],
    expires_at: datetime | None,
) -> tuple[str, TokenInfo]:
    """A new token of a member for the project: the token (shown once) and its info.

    Refused when the person is not a member (403 ``not_a_member``), for an empty or long name,
    an unknown scope, a scope beyond the person's role, or an expiry in the past.
    """
    name = name.strip()
    if not name or len(name) > MAX_TOKEN_NAME_CHARS:
        raise AccessError(
            "invalid_token",
            f"give the token a name of 1 to {MAX_TOKEN_NAME_CHARS} characters "
            "(what it is for, e.g. 'nightly export')",
        )
    if expires_at is not None:
        if expires_at.tzinfo is None:
            expires_at = expires_at.replace(tzinfo=UTC)
        if expires_at <= datetime.now(UTC):
            raise AccessError("invalid_token", "the expiry is in the past: give a later one")
    role = await member_role(conn, project_id, user_id)
    if role is None:
        raise AccessError(
            "not_a_member", "only a member of the project can hold a token for it", status=403
        )
    checked = check_scopes(scopes, role_permissions(role))
    token = TOKEN_PREFIX + secrets.token_urlsafe(32)
    token_id = TOKEN_ID_PREFIX + secrets.token_hex(8)
    await conn.execute(
        INSERT_TOKEN,
        token_id,
        hash_token(token),
        token[:TOKEN_DISPLAY_CHARS],
        project_id,
        user_id,
        name,
        checked,
        expires_at,
    )
    row = await conn.fetchrow(SELECT_TOKEN, project_id, token_id)
    return token, _token_of(row)


async def token_principal(conn: Connection, token: str) -> Principal | None:
    """The caller a token stands for, or None: unknown, revoked, expired, or its person is no
    longer a member. Permissions are its scopes within the person's current role."""
    if not token.startswith(TOKEN_PREFIX) or len(token) > MAX_TOKEN_CHARS:
        return None
    row = await conn.fetchrow(SELECT_TOKEN_PRINCIPAL, hash_token(token), TOKEN_TOUCH_S)
    if row is None:
        return None
    if row["stale"]:
        await conn.execute(TOUCH_TOKEN, row["id"], TOKEN_TOUCH_S)
    try:
        permissions = token_permissions(row["scopes"], row["role"])
    except ValueError:  # a scope retired since the token was made grants nothing
        known = [scope for scope in row["scopes"] if scope in SCOPES]
        permissions = token_permissions(known, row["role"])
    return Principal(
        project_id=row["project_id"],
        kind="token",
        label=f"token {row['name']} ({row['email']})",
        permissions=permissions,
        actor_id=row["id"],
        user_id=row["user_id"],
        role=row["role"],
    )


async def list_tokens(
    conn: Connection, project_id: str, *, user_id: str | None = None
) -> list[TokenInfo]:
    """The project's tokens not revoked, newest first: one person's, or everyone's (None)."""
    return [_token_of(row) for row in await conn.fetch(SELECT_TOKENS, project_id, user_id)]


async def get_token(conn: Connection, project_id: str, token_id: str) -> TokenInfo | None:
    row = await conn.fetchrow(SELECT_TOKEN, project_id, token_id)
    return _token_of(row) if row is not None else None


async def revoke_token(
    conn: Connection, project_id: str, token_id: str, *, user_id: str | None = None
) -> TokenInfo | None:
    """Revoke a token now (only ``user_id``'s, unless None); None when there is no such live
    token (or it is someone else's)."""
    if await conn.fetchval(REVOKE_TOKEN, project_id, token_id, user_id) is None:
        return None
    return await get_token(conn, project_id, token_id)
