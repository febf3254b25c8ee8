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
    "AccountFilter",
    "AccountSort",
    "account_latest",
    "account_responses",
    "account_row",
    "account_snapshots",
    "comments_pending_analysis",
    "count_latest",
    "facets",
    "latest_snapshots",
    "like_pattern",
    "list_latest",
    "save_config",
]

AccountSort = Literal[
    "score", "-score", "change", "-change", "mrr", "-mrr", "renewal", "-renewal", "name", "-name"
]
# Sort key → (key expression over LATEST's columns, direction, the cursor value's SQL type).
# Fixed fragments, never user text. Nulls come last in both directions (see ``list_latest``).
SORTS: dict[str, tuple[str, str, str]] = {
    "score": ("s.score", "ASC", "float8"),
    "-score": ("s.score", "DESC", "float8"),
    "change": ("coalesce(s.change, 0)", "ASC", "float8"),
    "-change": ("coalesce(s.change, 0)", "DESC", "float8"),
    "mrr": ("s.mrr", "ASC", "float8"),
    "-mrr": ("s.mrr", "DESC", "float8"),
    "renewal": ("s.renewal_date", "ASC", "date"),
    "-renewal": ("s.renewal_date", "DESC", "date"),
    "name": ("lower(s.name)", "ASC", "text"),
    "-name": ("lower(s.name)", "DESC", "text"),
}

# The typed traits of a summary row (``a`` is accounts): seats, status, mrr and renewal_date
# are the table's generated columns (migrations/0001: never an error for a bad value).
_TRAITS = """a.name, a.plan, a.seats, a.status, a.mrr::float8 AS mrr, a.traits ->> 'csm' AS csm,
       a.renewal_date, a.renewal_date - (now() AT TIME ZONE 'UTC')::date AS days_to_renewal"""

# The latest snapshot of each account of the project, with its traits.
# The latest refresh scores every known account, so "current health" is that day's snapshots
# (one index range, not a pass over the whole history).
_LATEST_FROM = """
FROM health_snapshots AS s
LEFT JOIN accounts AS a ON a.project_id = s.project_id AND a.account_id = s.account_id
WHERE s.project_id = $1
  AND s.day = (SELECT max(day) FROM health_snapshots WHERE project_id = $1)
"""
_SUMMARY_COLUMNS = f"s.account_id, {_TRAITS}, s.score, s.band, s.confidence, s.change, s.day"
# The list and the portfolio's summary rows; with the snapshot's JSON for the export.
LATEST_SUMMARY = f"SELECT {_SUMMARY_COLUMNS} {_LATEST_FROM}"
LATEST = f"SELECT {_SUMMARY_COLUMNS}, s.components, s.drivers {_LATEST_FROM}"


class AccountFilter(msgspec.Struct, frozen=True, kw_only=True):
    """What ``GET /v1/accounts`` (and its export) narrows the accounts to; empty = all."""

    bands: tuple[str, ...] = ()
    plans: tuple[str, ...] = ()
    csms: tuple[str, ...] = ()
    min_score: float | None = None
    max_score: float | None = None
    q: str | None = None
    renewal_within: int | None = None
    traits: tuple[tuple[str, str], ...] = ()


def like_pattern(text: str) -> str:
    """A case-insensitive substring pattern for ``ILIKE … ESCAPE '\\'``: wildcards escaped."""
    escaped = text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return f"%{escaped}%"


# Parameters $2..$10 of every filtered query, in ``_filter_args`` order.
_WHERE = r"""
WHERE (cardinality($2::text[]) = 0 OR s.band = ANY($2))
  AND (cardinality($3::text[]) = 0 OR s.plan = ANY($3))
  AND (cardinality($4::text[]) = 0 OR s.csm = ANY($4))
  AND ($5::float8 IS NULL OR s.score >= $5) AND ($6::float8 IS NULL OR s.score <= $6)
  AND ($7::text IS NULL OR s.account_id ILIKE $7 ESCAPE '\' OR s.name ILIKE $7 ESCAPE '\')
  AND ($8::int IS NULL OR s.days_to_renewal BETWEEN 0 AND $8)
  AND (cardinality($9::text[]) = 0 OR EXISTS (
      SELECT 1 FROM accounts AS ta
      WHERE ta.project_id = $1 AND ta.account_id = s.account_id
        AND NOT EXISTS (SELECT 1 FROM unnest($9::text[], $10::text[]) AS t(name, value)
                        WHERE (ta.traits ->> t.name) IS DISTINCT FROM t.value)))
"""


def _filter_args(project_id: str, f: AccountFilter) -> list[object]:
    return [
        project_id,
        list(f.bands),
        list(f.plans),
        list(f.csms),
        f.min_score,
        f.max_score,
        None if f.q is None else like_pattern(f.q),
        f.renewal_within,
        [name for name, _ in f.traits],
        [value for _, value in f.traits],
    ]


async def list_latest(
    conn: Connection,
    project_id: str,
    filters: AccountFilter,
    *,
    sort: AccountSort,
    after: tuple[float | str | date | None, str] | None,
    limit: int | None,
    with_json: bool = False,
) -> list[asyncpg.Record]:
    """One page of the accounts' current health, keyset-paginated after ``after`` (the last
    row's ``sort_key`` column, None in the null tail, and its account id); ``limit`` None:
    every row.

    Order: the key in ``sort``'s direction with nulls last either way, then the account id in
    the same direction, so (key, id) is unique and a page never repeats or skips a row.
    """
    key, direction, kind = SORTS[sort]
    compare = ">" if direction == "ASC" else "<"
    query = (
        f"SELECT s.*, {key} AS sort_key FROM ({LATEST if with_json else LATEST_SUMMARY}) AS s {_WHERE} "  # noqa: S608 - fixed fragments
        f"AND (NOT $11::bool OR CASE WHEN $12::{kind} IS NULL "
        f"THEN {key} IS NULL AND s.account_id {compare} $13 "
        f"ELSE {key} IS NULL OR {key} {compare} $12::{kind} "
        f"OR ({key} = $12::{kind} AND s.account_id {compare} $13) END) "
        f"ORDER BY {key} IS NULL, {key} {direction}, s.account_id {direction} LIMIT $14"
    )
    value, after_id = after if after is not None else (None, None)
    return await conn.fetch(
        query, *_filter_args(project_id, filters), after is not None, value, after_id, limit
    )


async def count_latest(conn: Connection, project_id: str, filters: AccountFilter) -> int:
    """How many accounts of the latest snapshot day match ``filters``."""
    total: int = await conn.fetchval(
        f"SELECT count(*) FROM ({LATEST_SUMMARY}) AS s {_WHERE}",  # noqa: S608 - fixed fragments
        *_filter_args(project_id, filters),
    )
    return total


# The distinct plans, CSMs and bands over the latest snapshot day in one pass (grouping sets),
# with how many accounts have each, at most $2 per facet: the console's filter pickers.
_FACETS = f"""
SELECT facet, value, accounts FROM (
    SELECT facet, value, accounts,
           row_number() OVER (PARTITION BY facet ORDER BY accounts DESC, value COLLATE "C") AS rank
    FROM (
        SELECT CASE WHEN GROUPING(s.plan) = 0 THEN 'plans'
                    WHEN GROUPING(s.csm) = 0 THEN 'csms' ELSE 'bands' END AS facet,
               coalesce(s.plan, s.csm, s.band) AS value, count(*) AS accounts
        FROM ({LATEST_SUMMARY}) AS s
        GROUP BY GROUPING SETS ((s.plan), (s.csm), (s.band))
    ) AS g
    WHERE value IS NOT NULL
) AS ranked
WHERE rank <= $2
ORDER BY facet, rank
"""  # noqa: S608 - fixed fragments
# The names of the group traits those accounts have, most common first.
_TRAIT_NAMES = """
SELECT k.name AS value, count(*) AS accounts
FROM health_snapshots AS s
JOIN accounts AS a ON a.project_id = s.project_id AND a.account_id = s.account_id
CROSS JOIN LATERAL jsonb_object_keys(
    CASE WHEN jsonb_typeof(a.traits) = 'object' THEN a.traits ELSE '{}'::jsonb END) AS k(name)
WHERE s.project_id = $1
  AND s.day = (SELECT max(day) FROM health_snapshots WHERE project_id = $1)
GROUP BY k.name ORDER BY accounts DESC, k.name COLLATE "C" LIMIT $2
"""
FACET_LIMIT = 200
TRAIT_NAMES_LIMIT = 50


async def facets(conn: Connection, project_id: str) -> dict[str, list[tuple[str, int]]]:
    """Plans, CSMs and bands of the accounts with a current snapshot (the list's set), each
    with its count, most common first then by value, at most ``FACET_LIMIT`` each; and the
    names of their group traits (at most ``TRAIT_NAMES_LIMIT``)."""
    out: dict[str, list[tuple[str, int]]] = {"plans": [], "csms": [], "bands": []}
    for row in await conn.fetch(_FACETS, project_id, FACET_LIMIT):
        out[row["facet"]].append((row["value"], row["accounts"]))
    rows = await conn.fetch(_TRAIT_NAMES, project_id, TRAIT_NAMES_LIMIT)
    out["traits"] = [(r["value"], r["accounts"]) for r in rows]
    return out


async def latest_snapshots(conn: Connection, project_id: str) -> list[asyncpg.Record]:
    """Every account's current health with its traits, by account id."""
    return await conn.fetch(f"SELECT * FROM ({LATEST}) AS s ORDER BY s.account_id", project_id)  # noqa: S608


# One account's newest snapshot, whenever it was taken.
ACCOUNT_LATEST = f"""
SELECT s.account_id, {_TRAITS}, s.score, s.band, s.confidence,
       s.change, s.day, s.components, s.drivers
FROM health_snapshots AS s
LEFT JOIN accounts AS a ON a.project_id = s.project_id AND a.account_id = s.account_id
WHERE s.project_id = $1 AND s.account_id = $2
ORDER BY s.day DESC LIMIT 1
"""  # noqa: S608 - fixed fragments
ACCOUNT = """
SELECT traits::text AS traits, seats, first_seen_at, last_seen_at FROM accounts
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
