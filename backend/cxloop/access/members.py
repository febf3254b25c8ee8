"""Who belongs to which project, in which role (``project_members``).

A person may belong to several projects, one role in each. A project always keeps an owner:
removing or demoting the last one is refused (409 ``last_owner``), under a lock on the
project's owner rows so two admins demoting the last two owners at once cannot both succeed.
Who may grant or take away the owner role is the caller's business (``owners:write``, checked
by the routes); these functions only keep the rules that hold whoever asks.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, Final

import asyncpg
import msgspec

from cxloop.access.errors import AccessError
from cxloop.access.permissions import ROLES
from cxloop.db import Connection

__all__ = [
    "Member",
    "MemberChange",
    "add_member",
    "check_role",
    "get_member",
    "list_members",
    "member_role",
    "projects_of",
    "remove_member",
    "set_role",
]

# Last sign-in: the newest session the person opened (sessions are kept until they end).
MEMBER_COLUMNS: Final = """
m.user_id, u.email, u.name, m.role, m.created_at, u.password_hash IS NOT NULL AS has_password,
(SELECT max(s.created_at) FROM console_sessions s WHERE s.user_id = m.user_id) AS last_sign_in_at
"""
SELECT_MEMBERS: Final = f"""
SELECT {MEMBER_COLUMNS}
FROM project_members m JOIN console_users u ON u.id = m.user_id
WHERE m.project_id = $1
ORDER BY m.created_at, m.user_id
"""  # noqa: S608 - fixed fragments
SELECT_MEMBER: Final = f"""
SELECT {MEMBER_COLUMNS}
FROM project_members m JOIN console_users u ON u.id = m.user_id
WHERE m.project_id = $1 AND m.user_id = $2
"""  # noqa: S608 - fixed fragments
SELECT_ROLE: Final = "SELECT role FROM project_members WHERE project_id = $1 AND user_id = $2"
SELECT_PROJECTS_OF: Final = """
SELECT project_id, role FROM project_members WHERE user_id = $1 ORDER BY created_at, project_id
"""
INSERT_MEMBER: Final = """
INSERT INTO project_members (project_id, user_id, role) VALUES ($1, $2, $3)
ON CONFLICT (project_id, user_id) DO NOTHING
RETURNING user_id
"""
# Locks the member's row and every owner row of the project, so the last-owner check holds.
LOCK_MEMBER: Final = """
SELECT role FROM project_members WHERE project_id = $1 AND user_id = $2 FOR UPDATE
"""
LOCK_OWNERS: Final = """
SELECT user_id FROM project_members WHERE project_id = $1 AND role = 'owner'
ORDER BY user_id
FOR UPDATE
"""
UPDATE_ROLE: Final = "UPDATE project_members SET role = $3 WHERE project_id = $1 AND user_id = $2"
DELETE_MEMBER: Final = "DELETE FROM project_members WHERE project_id = $1 AND user_id = $2"
# Their tokens for this project stop at once; their sessions stay (they may have other projects).
REVOKE_MEMBER_TOKENS: Final = """
UPDATE api_tokens SET revoked_at = now()
WHERE project_id = $1 AND user_id = $2 AND revoked_at IS NULL
"""


class Member(msgspec.Struct, frozen=True, kw_only=True):
    """A person in a project: who, which role, since when, last seen signing in."""

    user_id: str
    email: str
    name: str
    role: str
    created_at: datetime  # when they joined the project
    has_password: bool
    last_sign_in_at: datetime | None


class MemberChange(msgspec.Struct, frozen=True, kw_only=True):
    """What a role change or a removal did: the member before it, and the role after it."""

    member: Member
    old_role: str
    new_role: str | None  # None: removed
    tokens_revoked: int = 0


def _member_of(row: Any) -> Member:
    return Member(
        user_id=row["user_id"],
        email=row["email"],
        name=row["name"],
        role=row["role"],
        created_at=row["created_at"],
        has_password=row["has_password"],
        last_sign_in_at=row["last_sign_in_at"],
    )


def check_role(role: str) -> str:
    """``role`` if it is one; AccessError ``invalid_role`` listing the roles otherwise."""
    if role not in ROLES:
        raise AccessError(
            "invalid_role", f"{role[:40]!r} is not a role: use one of {', '.join(ROLES)}"
        )
    return role


def _not_a_member(user_id: str) -> AccessError:
    return AccessError(
        "member_not_found", f"{user_id[:40]!r} is not a member of this project", status=404
    )


def _last_owner(email: str) -> AccessError:
    return AccessError(
        "last_owner",
        f"{email} is the project's last owner: make someone else an owner first",
        status=409,
    )


async def add_member(conn: Connection, project_id: str, user_id: str, role: str) -> Member:
    """Make the person a member in ``role``; 409 ``already_a_member`` if they are one."""
    check_role(role)
    try:
        added = await conn.fetchval(INSERT_MEMBER, project_id, user_id, role)
    except asyncpg.ForeignKeyViolationError as exc:
        raise AccessError(
            "user_not_found", f"no console user {user_id[:40]!r}", status=404
        ) from exc
    if added is None:
        current = await member_role(conn, project_id, user_id)
        raise AccessError(
            "already_a_member",
            f"this person is already a member (role {current}): change their role instead",
            status=409,
        )
    member = await get_member(conn, project_id, user_id)
    assert member is not None
    return member


async def member_role(conn: Connection, project_id: str, user_id: str) -> str | None:
    """The person's role in the project, or None when they are not a member."""
    role: str | None = await conn.fetchval(SELECT_ROLE, project_id, user_id)
    return role


async def projects_of(conn: Connection, user_id: str) -> list[tuple[str, str]]:
    """The projects the person belongs to, as (project id, role), oldest membership first."""
    return [
        (row["project_id"], row["role"]) for row in await conn.fetch(SELECT_PROJECTS_OF, user_id)
    ]


async def list_members(conn: Connection, project_id: str) -> list[Member]:
    return [_member_of(row) for row in await conn.fetch(SELECT_MEMBERS, project_id)]


async def get_member(conn: Connection, project_id: str, user_id: str) -> Member | None:
    row = await conn.fetchrow(SELECT_MEMBER, project_id, user_id)
    return _member_of(row) if row is not None else None


async def _locked_member(conn: Connection, project_id: str, user_id: str) -> Member:
    """The member, their row and the project's owner rows locked until the transaction ends."""
    await conn.execute(LOCK_OWNERS, project_id)
    if await conn.fetchval(LOCK_MEMBER, project_id, user_id) is None:
        raise _not_a_member(user_id)
    member = await get_member(conn, project_id, user_id)
    assert member is not None
    return member


async def _owners_left_without(conn: Connection, project_id: str, user_id: str) -> int:
    owners = await conn.fetch(LOCK_OWNERS, project_id)
    return sum(1 for row in owners if row["user_id"] != user_id)


async def set_role(conn: Connection, project_id: str, user_id: str, role: str) -> MemberChange:
    """Change the member's role; 409 ``last_owner`` when that would leave no owner."""
    check_role(role)
    async with conn.transaction():
        member = await _locked_member(conn, project_id, user_id)
        if (
            member.role == "owner"
            and role != "owner"
            and not await _owners_left_without(conn, project_id, user_id)
        ):
            raise _last_owner(member.email)
        if role != member.role:
            await conn.execute(UPDATE_ROLE, project_id, user_id, role)
    return MemberChange(member=member, old_role=member.role, new_role=role)


async def remove_member(conn: Connection, project_id: str, user_id: str) -> MemberChange:
    """Take the person out of the project and revoke their tokens for it; 409 ``last_owner``
    for the last owner. Their sessions stay: they only lose this project."""
    async with conn.transaction():
        member = await _locked_member(conn, project_id, user_id)
        if member.role == "owner" and not await _owners_left_without(conn, project_id, user_id):
            raise _last_owner(member.email)
        status: str = await conn.execute(REVOKE_MEMBER_TOKENS, project_id, user_id)
        await conn.execute(DELETE_MEMBER, project_id, user_id)
    return MemberChange(
        member=member,
        old_role=member.role,
        new_role=None,
        tokens_revoked=int(status.rsplit(" ", 1)[-1]),
    )
