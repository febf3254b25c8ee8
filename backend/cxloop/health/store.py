"""Health in PostgreSQL: snapshots and accounts as the API reads them, the project's config."""

from __future__ import annotations

from datetime import date
from typing import Literal

import asyncpg
import msgspec

from cxloop.db import Connection
from cxloop.health.score import HealthConfig

__all__ = [
    "SORTS",
    "AccountSort",
    "account_latest",
    "account_responses",
    "account_row",
    "account_snapshots",
    "comments_pending_analysis",
    "latest_snapshots",
    "list_latest",
    "save_config",
]

AccountSort = Literal["score", "-score", "change", "-change"]
# Sort key → (column, direction); fixed fragments, never user text.
SORTS: dict[str, tuple[str, str]] = {
    "score": ("s.score", "ASC"),
    "-score": ("s.score", "DESC"),
    "change": ("coalesce(s.change, 0)", "ASC"),
    "-change": ("coalesce(s.change, 0)", "DESC"),
}

# The latest snapshot of each account of the project, with its traits.
# The latest refresh scores every known account, so "current health" is that day's snapshots
# (one index range, not a pass over the whole history).
LATEST = """
SELECT s.account_id, a.name, a.plan, a.seats, a.status, s.score, s.band, s.confidence,
       s.change, s.day, s.components, s.drivers
FROM health_snapshots AS s
LEFT JOIN accounts AS a ON a.project_id = s.project_id AND a.account_id = s.account_id
WHERE s.project_id = $1
  AND s.day = (SELECT max(day) FROM health_snapshots WHERE project_id = $1)
"""
# One account's newest snapshot, whenever it was taken.
ACCOUNT_LATEST = """
SELECT s.account_id, a.name, a.plan, a.seats, a.status, s.score, s.band, s.confidence,
       s.change, s.day, s.components, s.drivers
FROM health_snapshots AS s
LEFT JOIN accounts AS a ON a.project_id = s.project_id AND a.account_id = s.account_id
WHERE s.project_id = $1 AND s.account_id = $2
ORDER BY s.day DESC LIMIT 1
"""
ACCOUNT = """
SELECT traits::text AS traits, first_seen_at, last_seen_at FROM accounts
WHERE project_id = $1 AND account_id = $2
"""
ACCOUNT_RESPONSES = """
SELECT response_id, survey_id, kind, score, comment, feature, user_id, partial, responded_at
FROM survey_responses WHERE project_id = $1 AND account_id = $2
ORDER BY responded_at DESC, response_id DESC LIMIT $3
"""
ACCOUNT_SNAPSHOTS = """
SELECT day, score, band, confidence, change FROM health_snapshots
WHERE project_id = $1 AND account_id = $2
  AND ($3::date IS NULL OR day >= $3) AND ($4::date IS NULL OR day <= $4)
ORDER BY day
"""
# Comments whose analysis is missing or from an older insights configuration: the version is
# the project's insights_config.version, 1 when the project has no row (migrations/0006; the
# analysis step, cxloop.insights, stamps the same default).
PENDING_ANALYSIS = """
SELECT count(*) FROM survey_responses
WHERE project_id = $1 AND comment IS NOT NULL
  AND analysis_version IS DISTINCT FROM coalesce(
      (SELECT version FROM insights_config WHERE project_id = $1), 1)
"""
SAVE_CONFIG = """
INSERT INTO health_config (project_id, config) VALUES ($1, $2::text::jsonb)
ON CONFLICT (project_id) DO UPDATE SET config = EXCLUDED.config, updated_at = now()
"""


async def list_latest(
    conn: Connection,
    project_id: str,
    *,
    band: str | None,
    plan: str | None,
    min_score: float | None,
    max_score: float | None,
    sort: AccountSort,
    after: tuple[float | int | None, str | None],
    limit: int,
) -> list[asyncpg.Record]:
    """One page of the accounts' current health, keyset-paginated after ``after``."""
    column, direction = SORTS[sort]
    compare = ">" if direction == "ASC" else "<"
    query = (
        f"SELECT * FROM ({LATEST}) AS s WHERE ($2::text IS NULL OR s.band = $2) "  # noqa: S608 - fixed fragments
        "AND ($3::text IS NULL OR s.plan = $3) AND ($4::float8 IS NULL OR s.score >= $4) "
        "AND ($5::float8 IS NULL OR s.score <= $5) "
        f"AND ($6::float8 IS NULL OR ({column}, s.account_id) {compare} ($6, $7)) "
        f"ORDER BY {column} {direction}, s.account_id {direction} LIMIT $8"
    )
    after_value, after_id = after
    return await conn.fetch(
        query, project_id, band, plan, min_score, max_score, after_value, after_id, limit
    )


async def latest_snapshots(conn: Connection, project_id: str) -> list[asyncpg.Record]:
    """Every account's current health with its traits, by account id (the export)."""
    return await conn.fetch(f"SELECT * FROM ({LATEST}) AS s ORDER BY s.account_id", project_id)  # noqa: S608


async def account_row(conn: Connection, project_id: str, account_id: str) -> asyncpg.Record | None:
    return await conn.fetchrow(ACCOUNT, project_id, account_id)


async def account_latest(
    conn: Connection, project_id: str, account_id: str
) -> asyncpg.Record | None:
    return await conn.fetchrow(ACCOUNT_LATEST, project_id, account_id)


async def account_responses(
    conn: Connection, project_id: str, account_id: str, limit: int
) -> list[asyncpg.Record]:
    return await conn.fetch(ACCOUNT_RESPONSES, project_id, account_id, limit)


async def account_snapshots(
    conn: Connection, project_id: str, account_id: str, since: date | None, until: date | None
) -> list[asyncpg.Record]:
    return await conn.fetch(ACCOUNT_SNAPSHOTS, project_id, account_id, since, until)


async def comments_pending_analysis(conn: Connection, project_id: str) -> int:
    """How many of the project's comments wait for (re)analysis."""
    pending: int = await conn.fetchval(PENDING_ANALYSIS, project_id)
    return pending


async def save_config(conn: Connection, project_id: str, config: HealthConfig) -> None:
    """Insert or replace the project's health configuration."""
    await conn.execute(SAVE_CONFIG, project_id, msgspec.json.encode(config).decode())
