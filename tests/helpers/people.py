"""People, memberships, sessions and API tokens for integration tests, written to the database
in the formats docs/access.md describes (as ``cxloop users``/``members``/``tokens`` would)."""

from __future__ import annotations

import asyncio
import hashlib
import secrets
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import Any, TypeVar

import asyncpg

from cxloop.access import AuditEntry, list_audit
from cxloop.access.people import create_user
from cxloop.access.sessions import create_session, csrf_token

T = TypeVar("T")


def _run(database_url: str, work: Callable[[asyncpg.Connection], Awaitable[T]]) -> T:
    async def main() -> T:
        conn = await asyncpg.connect(database_url)
        try:
            return await work(conn)
        finally:
            await conn.close()

    return asyncio.run(main())


@dataclass(frozen=True)
class Person:
    user_id: str
    email: str


def add_person(database_url: str, project_id: str, email: str, role: str) -> Person:
    """A console user who is a member of ``project_id`` with ``role``."""

    async def work(conn: asyncpg.Connection) -> Person:
        user = await create_user(conn, email)
        await conn.execute(
            "INSERT INTO project_members (project_id, user_id, role) VALUES ($1, $2, $3)",
            project_id,
            user.id,
            role,
        )
        return Person(user.id, user.email)

    return _run(database_url, work)


def make_token(
    database_url: str, project_id: str, person: Person, name: str, scopes: Sequence[str]
) -> str:
    """A personal API token: ``cxp_`` + 32 random bytes, stored as its sha256 (split contract)."""
    token = "cxp_" + secrets.token_urlsafe(32)

    async def work(conn: asyncpg.Connection) -> None:
        await conn.execute(
            """INSERT INTO api_tokens (id, token_hash, prefix, project_id, user_id, name, scopes)
               VALUES ($1, $2, $3, $4, $5, $6, $7)""",
            "tok_" + secrets.token_hex(8),
            hashlib.sha256(token.encode()).hexdigest(),
            token[:12],
            project_id,
            person.user_id,
            name,
            list(scopes),
        )

    _run(database_url, work)
    return token


def make_session(database_url: str, person: Person) -> str:
    """A signed-in session of ``person``: the cookie value."""

    async def work(conn: asyncpg.Connection) -> str:
        return await create_session(
            conn, person.user_id, address="127.0.0.1", user_agent="tests", ttl_s=3600
        )

    return _run(database_url, work)


def session_headers(cookie: str, project_id: str | None = None) -> dict[str, str]:
    """What the console sends with a session: the cookie, its CSRF token, the project."""
    headers = {"Cookie": f"cxloop_session={cookie}", "X-CSRF-Token": csrf_token(cookie)}
    if project_id is not None:
        headers["X-Cxloop-Project"] = project_id
    return headers


def bearer(credential: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {credential}"}


def fetch(database_url: str, query: str, *args: Any) -> list[dict[str, Any]]:
    """Rows of a query, as dicts."""

    async def work(conn: asyncpg.Connection) -> list[dict[str, Any]]:
        return [dict(row) for row in await conn.fetch(query, *args)]

    return _run(database_url, work)


def audit_entries(database_url: str, project_id: str) -> list[AuditEntry]:
    """The project's audit log as ``GET /v1/audit`` reads it, newest first."""

    async def work(conn: asyncpg.Connection) -> list[AuditEntry]:
        return await list_audit(conn, project_id, limit=1000)

    return _run(database_url, work)
