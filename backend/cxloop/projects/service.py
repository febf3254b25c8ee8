"""Projects and their keys.

A project has a public write key (in the snippet; it can only add events) and a secret key
(``Authorization: Bearer`` on the read API). The secret key is shown once at creation and
stored only as its sha256 hash plus a short prefix for display.

Either key can be rotated with a grace period: the old one moves to ``retired_keys`` with a
``valid_until`` and keeps working beside the new one until then; revoking retired keys ends
their grace at once.
"""

from __future__ import annotations

import hashlib
import secrets
from datetime import datetime
from typing import Any, Literal

import msgspec

from cxloop.db import Connection

__all__ = [
    "CreatedProject",
    "KeyKind",
    "KeyRotation",
    "Project",
    "ProjectError",
    "ProjectKeys",
    "RetiredKey",
    "create_project",
    "find_project",
    "hash_secret_key",
    "list_projects",
    "project_for_secret_key",
    "project_keys",
    "revoke_retired_keys",
    "rotate_key",
    "rotate_secret_key",
    "rotate_write_key",
]

KeyKind = Literal["secret", "write"]

PROJECT_ID_PREFIX = "prj_"
WRITE_KEY_PREFIX = "wk_"
SECRET_KEY_PREFIX = "sk_"  # noqa: S105 (a prefix, not a secret)
# Shown in listings so a key can be recognised: "sk_" plus 8 of its 43 random characters.
SECRET_KEY_DISPLAY_CHARS = 11
MAX_NAME_CHARS = 200
# A secret key is "sk_" + 43 characters; anything much longer is not one of ours.
MAX_SECRET_KEY_CHARS = 100

INSERT_PROJECT = """
INSERT INTO projects (id, name, write_key, secret_key_hash, secret_key_prefix)
VALUES ($1, $2, $3, $4, $5)
RETURNING created_at
"""
SELECT_PROJECTS = """
SELECT id, name, write_key, secret_key_prefix, created_at
FROM projects
ORDER BY created_at, id
"""
# The current key, or a retired one still in its grace period.
SELECT_PROJECT_BY_SECRET_HASH = """
SELECT id FROM projects WHERE secret_key_hash = $1
UNION ALL
SELECT project_id FROM retired_keys
WHERE kind = 'secret' AND key_value = $1 AND valid_until > now()
LIMIT 1
"""  # noqa: S105
SELECT_PROJECT_KEYS_FOR_UPDATE = """
SELECT write_key, secret_key_hash, secret_key_prefix FROM projects WHERE id = $1 FOR UPDATE
"""
UPDATE_SECRET_KEY = (
    "UPDATE projects SET secret_key_hash = $2, secret_key_prefix = $3 "  # noqa: S105
    "WHERE id = $1"
)
UPDATE_WRITE_KEY = "UPDATE projects SET write_key = $2 WHERE id = $1"
# A grace of 0 still records the rotation (valid_until = now): the key list shows it.
INSERT_RETIRED_KEY = """
INSERT INTO retired_keys (project_id, kind, key_value, prefix, valid_until)
VALUES ($1, $2, $3, $4, now() + make_interval(secs => $5))
ON CONFLICT (kind, key_value) DO UPDATE SET valid_until = excluded.valid_until
RETURNING valid_until
"""
REVOKE_RETIRED_KEYS = """
UPDATE retired_keys SET valid_until = now()
WHERE project_id = $1 AND kind = $2 AND valid_until > now()
"""
SELECT_PROJECT = (
    "SELECT id, name, write_key, secret_key_prefix, created_at FROM projects WHERE id = $1"
)
SELECT_PROJECTS_BY_NAME = """
SELECT id, name, write_key, secret_key_prefix, created_at FROM projects WHERE name = $1
ORDER BY created_at, id
"""
SELECT_RETIRED_KEYS = """
SELECT kind, prefix, retired_at, valid_until, valid_until > now() AS active
FROM retired_keys
WHERE project_id = $1
ORDER BY retired_at DESC, kind
LIMIT $2
"""
# How many retired keys the key list shows (the newest): enough to see recent rotations.
RETIRED_KEYS_LISTED = 50


class ProjectError(ValueError):
    """A project request that cannot be carried out as given (the message says why)."""


class Project(msgspec.Struct, frozen=True, kw_only=True):
    """A project as listed: its keys' public parts only."""

    id: str
    name: str
    write_key: str
    secret_key_prefix: str
    created_at: datetime


class RetiredKey(msgspec.Struct, frozen=True, kw_only=True):
    """A key replaced by a rotation: it works until ``valid_until`` (``active`` until then)."""

    kind: KeyKind
    prefix: str
    retired_at: datetime
    valid_until: datetime
    active: bool


class ProjectKeys(msgspec.Struct, frozen=True, kw_only=True):
    """A project's keys as an admin sees them: the write key (public), the secret key's prefix,
    and the keys rotations retired, newest first."""

    write_key: str
    secret_key_prefix: str
    retired: list[RetiredKey]


class KeyRotation(msgspec.Struct, frozen=True, kw_only=True):
    """A rotation just made: the new key (shown this once for a secret key) and what became
    of the old one."""

    kind: KeyKind
    key: str
    prefix: str
    old_prefix: str
    old_valid_until: datetime

    def audit_details(self, grace_s: float) -> dict[str, Any]:
        """What the audit log keeps of a rotation (the API's and the CLI's): prefixes, never a key."""
        return {
            "kind": self.kind,
            "prefix": self.prefix,
            "old_prefix": self.old_prefix,
            "grace_seconds": grace_s,
            "old_valid_until": self.old_valid_until.isoformat(),
        }


class CreatedProject(msgspec.Struct, frozen=True, kw_only=True):
    """A project just created, with its secret key: the only time the secret is known."""

    id: str
    name: str
    write_key: str
    secret_key: str
    created_at: datetime


def hash_secret_key(secret_key: str) -> str:
    """sha256 hex of a secret key (fast on purpose: the key is 256 random bits, not a password)."""
    return hashlib.sha256(secret_key.encode("utf-8")).hexdigest()


def _new_project_id() -> str:
    # Lower-case hex: project ids name lake directories, which may be case-insensitive.
    return PROJECT_ID_PREFIX + secrets.token_hex(8)


def _new_write_key() -> str:
    return WRITE_KEY_PREFIX + secrets.token_urlsafe(18)  # 24 characters


def _new_secret_key() -> str:
    return SECRET_KEY_PREFIX + secrets.token_urlsafe(32)  # 32 bytes, 43 characters


async def create_project(conn: Connection, name: str) -> CreatedProject:
    """Create a project with fresh keys; the returned secret key is not stored anywhere."""
    name = name.strip()
    if not name:
        raise ProjectError("a project needs a name")
    if len(name) > MAX_NAME_CHARS:
        raise ProjectError(f"a project name has at most {MAX_NAME_CHARS} characters")
    project_id = _new_project_id()
    write_key = _new_write_key()
    secret_key = _new_secret_key()
    created_at: datetime = await conn.fetchval(
        INSERT_PROJECT,
        project_id,
        name,
        write_key,
        hash_secret_key(secret_key),
        secret_key[:SECRET_KEY_DISPLAY_CHARS],
    )
    return CreatedProject(
        id=project_id,
        name=name,
        write_key=write_key,
        secret_key=secret_key,
        created_at=created_at,
    )


async def rotate_key(
    conn: Connection, project_id: str, kind: KeyKind, *, grace_s: float
) -> KeyRotation | None:
    """Give the project a new ``kind`` key; the old one keeps working for ``grace_s`` seconds
    (0: it stops now). None when there is no such project.

    The old secret key is kept as its hash; the old write key as itself (it is public).
    """
    if grace_s < 0:
        raise ProjectError("a grace period cannot be negative")
    async with conn.transaction():
        row = await conn.fetchrow(SELECT_PROJECT_KEYS_FOR_UPDATE, project_id)
        if row is None:
            return None
        if kind == "secret":
            key = _new_secret_key()
            old_value, old_prefix = row["secret_key_hash"], row["secret_key_prefix"]
            await conn.execute(
                UPDATE_SECRET_KEY,
                project_id,
                hash_secret_key(key),
                key[:SECRET_KEY_DISPLAY_CHARS],
            )
        else:
            key = _new_write_key()
            old_value = row["write_key"]
            old_prefix = old_value[:SECRET_KEY_DISPLAY_CHARS]
            await conn.execute(UPDATE_WRITE_KEY, project_id, key)
        valid_until: datetime = await conn.fetchval(
            INSERT_RETIRED_KEY, project_id, kind, old_value, old_prefix, float(grace_s)
        )
    return KeyRotation(
        kind=kind,
        key=key,
        prefix=key[:SECRET_KEY_DISPLAY_CHARS],
        old_prefix=old_prefix,
        old_valid_until=valid_until,
    )


async def rotate_secret_key(
    conn: Connection, project_id: str, *, grace_s: float = 0.0
) -> str | None:
    """Give the project a new secret key and return it; the old one works ``grace_s`` more
    seconds (by default it stops at once). None when there is no such project. Like at
    creation, only the hash is stored."""
    rotation = await rotate_key(conn, project_id, "secret", grace_s=grace_s)
    return rotation.key if rotation is not None else None


async def rotate_write_key(
    conn: Connection, project_id: str, *, grace_s: float = 0.0
) -> str | None:
    """Give the project a new write key and return it; the old one keeps ingesting for
    ``grace_s`` seconds. None when there is no such project."""
    rotation = await rotate_key(conn, project_id, "write", grace_s=grace_s)
    return rotation.key if rotation is not None else None


async def revoke_retired_keys(conn: Connection, project_id: str, kind: KeyKind) -> int:
    """End the grace period of every retired ``kind`` key of the project now; how many were
    still working."""
    status: str = await conn.execute(REVOKE_RETIRED_KEYS, project_id, kind)
    return int(status.rsplit(" ", 1)[-1])


async def project_keys(conn: Connection, project_id: str) -> ProjectKeys | None:
    """The project's keys as ``GET /v1/keys`` shows them; None when there is no such project."""
    row = await conn.fetchrow(SELECT_PROJECT, project_id)
    if row is None:
        return None
    retired = await conn.fetch(SELECT_RETIRED_KEYS, project_id, RETIRED_KEYS_LISTED)
    return ProjectKeys(
        write_key=row["write_key"],
        secret_key_prefix=row["secret_key_prefix"],
        retired=[
            RetiredKey(
                kind=r["kind"],
                prefix=r["prefix"],
                retired_at=r["retired_at"],
                valid_until=r["valid_until"],
                active=r["active"],
            )
            for r in retired
        ],
    )


async def find_project(conn: Connection, project: str) -> Project:
    """The project whose id, else whose name, is ``project`` (what ``--project`` takes).

    ProjectError when there is none, or when several share the name (give the id then).
    """
    rows = [row] if (row := await conn.fetchrow(SELECT_PROJECT, project)) is not None else []
    if not rows:
        rows = await conn.fetch(SELECT_PROJECTS_BY_NAME, project)
    if len(rows) != 1:
        raise ProjectError(
            f"no project {project!r} (cxloop projects list)"
            if not rows
            else f"{len(rows)} projects are called {project!r}: give the id (cxloop projects list)"
        )
    return _project_of(rows[0])


def _project_of(row: Any) -> Project:
    return Project(
        id=row["id"],
        name=row["name"],
        write_key=row["write_key"],
        secret_key_prefix=row["secret_key_prefix"],
        created_at=row["created_at"],
    )


async def list_projects(conn: Connection) -> list[Project]:
    """Every project, oldest first."""
    return [_project_of(row) for row in await conn.fetch(SELECT_PROJECTS)]


async def project_for_secret_key(conn: Connection, secret_key: str) -> str | None:
    """The project id a secret key belongs to (the current key, or a retired one still in its
    grace period), or None.

    The lookup is by the key's hash, so timing reveals nothing about stored keys.
    """
    if not secret_key.startswith(SECRET_KEY_PREFIX) or len(secret_key) > MAX_SECRET_KEY_CHARS:
        return None
    project_id: str | None = await conn.fetchval(
        SELECT_PROJECT_BY_SECRET_HASH, hash_secret_key(secret_key)
    )
    return project_id
