"""Projects and their keys.

A project has a public write key (in the snippet; it can only add events) and a secret key
(``Authorization: Bearer`` on the read API). The secret key is shown once at creation and
stored only as its sha256 hash plus a short prefix for display.
"""

from __future__ import annotations

import hashlib
import secrets
from datetime import datetime

import msgspec

from cxloop.db import Connection

__all__ = [
    "CreatedProject",
    "Project",
    "ProjectError",
    "create_project",
    "hash_secret_key",
    "list_projects",
    "project_for_secret_key",
    "rotate_secret_key",
]

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
SELECT_PROJECT_BY_SECRET_HASH = "SELECT id FROM projects WHERE secret_key_hash = $1"  # noqa: S105
UPDATE_SECRET_KEY = (
    "UPDATE projects SET secret_key_hash = $2, secret_key_prefix = $3 "  # noqa: S105
    "WHERE id = $1 RETURNING id"
)


class ProjectError(ValueError):
    """A project request that cannot be carried out as given (the message says why)."""


class Project(msgspec.Struct, frozen=True, kw_only=True):
    """A project as listed: its keys' public parts only."""

    id: str
    name: str
    write_key: str
    secret_key_prefix: str
    created_at: datetime


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


async def rotate_secret_key(conn: Connection, project_id: str) -> str | None:
    """Give the project a new secret key and return it (the old one stops working); None when
    there is no such project. Like at creation, only the hash is stored."""
    secret_key = _new_secret_key()
    updated = await conn.fetchval(
        UPDATE_SECRET_KEY,
        project_id,
        hash_secret_key(secret_key),
        secret_key[:SECRET_KEY_DISPLAY_CHARS],
    )
    return secret_key if updated is not None else None


async def list_projects(conn: Connection) -> list[Project]:
    """Every project, oldest first."""
    rows = await conn.fetch(SELECT_PROJECTS)
    return [
        Project(
            id=row["id"],
            name=row["name"],
            write_key=row["write_key"],
            secret_key_prefix=row["secret_key_prefix"],
            created_at=row["created_at"],
        )
        for row in rows
    ]


async def project_for_secret_key(conn: Connection, secret_key: str) -> str | None:
    """The project id a secret key belongs to, or None.

    The lookup is by the key's hash, so timing reveals nothing about stored keys.
    """
    if not secret_key.startswith(SECRET_KEY_PREFIX) or len(secret_key) > MAX_SECRET_KEY_CHARS:
        return None
    project_id: str | None = await conn.fetchval(
        SELECT_PROJECT_BY_SECRET_HASH, hash_secret_key(secret_key)
    )
    return project_id
