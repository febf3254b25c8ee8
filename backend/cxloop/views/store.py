"""Saved views in PostgreSQL (``saved_views``, migrations/0009)."""

from __future__ import annotations

import secrets
from typing import Any

import asyncpg
import msgspec

from cxloop.db import Connection

__all__ = ["create_view", "delete_view", "get_view", "list_views", "update_view"]

_COLUMNS = (
    "id, owner_id, owner_label, name, page, query::text AS query, shared, created_at, updated_at"
)

LIST_VIEWS = f"""
SELECT {_COLUMNS} FROM saved_views
WHERE project_id = $1 AND ($2::text IS NULL OR page = $2) AND (owner_id = $3 OR shared)
ORDER BY page, lower(name), id
"""  # noqa: S608 - fixed fragments
GET_VIEW = f"SELECT {_COLUMNS} FROM saved_views WHERE project_id = $1 AND id = $2"  # noqa: S608
INSERT_VIEW = f"""
INSERT INTO saved_views (id, project_id, owner_id, owner_label, name, page, query, shared)
VALUES ($1, $2, $3, $4, $5, $6, $7::text::jsonb, $8)
RETURNING {_COLUMNS}
"""  # noqa: S608 - fixed fragments
UPDATE_VIEW = f"""
UPDATE saved_views SET name = coalesce($3, name), query = coalesce($4::text::jsonb, query),
                       shared = coalesce($5, shared), updated_at = now()
WHERE project_id = $1 AND id = $2
RETURNING {_COLUMNS}
"""  # noqa: S608 - fixed fragments
DELETE_VIEW = "DELETE FROM saved_views WHERE project_id = $1 AND id = $2"

_encode = msgspec.json.Encoder().encode


def _json(query: dict[str, Any] | None) -> str | None:
    return None if query is None else _encode(query).decode()


async def list_views(
    conn: Connection, project_id: str, owner_id: str, page: str | None
) -> list[asyncpg.Record]:
    """The caller's views and the project's shared ones, by page and name."""
    return await conn.fetch(LIST_VIEWS, project_id, page, owner_id)


async def get_view(conn: Connection, project_id: str, view_id: str) -> asyncpg.Record | None:
    return await conn.fetchrow(GET_VIEW, project_id, view_id)


async def create_view(
    conn: Connection,
    project_id: str,
    *,
    owner_id: str,
    owner_label: str,
    name: str,
    page: str,
    query: dict[str, Any],
    shared: bool,
) -> asyncpg.Record:
    row = await conn.fetchrow(
        INSERT_VIEW,
        "view_" + secrets.token_hex(8),
        project_id,
        owner_id,
        owner_label,
        name,
        page,
        _json(query),
        shared,
    )
    assert row is not None  # INSERT … RETURNING
    return row


async def update_view(
    conn: Connection,
    project_id: str,
    view_id: str,
    *,
    name: str | None,
    query: dict[str, Any] | None,
    shared: bool | None,
) -> asyncpg.Record | None:
    """Change what is given (None keeps it); None when there is no such view."""
    return await conn.fetchrow(UPDATE_VIEW, project_id, view_id, name, _json(query), shared)


async def delete_view(conn: Connection, project_id: str, view_id: str) -> bool:
    return await conn.execute(DELETE_VIEW, project_id, view_id) == "DELETE 1"
