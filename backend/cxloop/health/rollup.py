"""Daily usage rollups from the Parquet lake into PostgreSQL, incrementally (DuckDB).

A (project, day) partition of the lake only ever gains files (new segments, late events,
replays that dedupe drops before writing), so its rollup is recomputed exactly when its file
set changed since the last run. Attribution and feature rules: docs/health.md.
"""

from __future__ import annotations

import asyncio
import hashlib
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import Any
from urllib.parse import unquote

import duckdb
import pyarrow as pa

from cxloop.db.pool import Connection

__all__ = ["LakePartition", "RollupReport", "lake_partitions", "rollup_project", "rollup_sql"]


@dataclass(frozen=True, slots=True)
class LakePartition:
    project_id: str
    day: date
    files: tuple[Path, ...]

    @property
    def signature(self) -> str:
        listing = "\n".join(f"{p.name}:{p.stat().st_size}" for p in self.files)
        return hashlib.sha256(listing.encode()).hexdigest()


@dataclass
class RollupReport:
    partitions: int = 0  # recomputed
    unchanged: int = 0
    events: int = 0  # usage events rolled up


def lake_partitions(lake_dir: Path) -> dict[str, list[LakePartition]]:
    """Every (project, day) partition of the events store, by project."""
    out: dict[str, list[LakePartition]] = {}
    root = lake_dir / "events"
    if not root.is_dir():
        return out
    for project_dir in sorted(root.glob("project_id=*")):
        project_id = unquote(project_dir.name.split("=", 1)[1])
        for day_dir in sorted(project_dir.glob("date=*")):
            files = tuple(sorted(day_dir.glob("*.parquet")))
            if files:
                day = date.fromisoformat(day_dir.name.split("=", 1)[1])
                out.setdefault(project_id, []).append(LakePartition(project_id, day, files))
    return out


def _literal_list(paths: list[Path]) -> str:
    # Our own paths, as quoted literals: a file list cannot be a bound parameter everywhere.
    return "[" + ", ".join("'" + str(p).replace("'", "''") + "'" for p in paths) + "]"


def rollup_sql(files: list[Path]) -> str:
    """Usage per (day, account, user, feature) of the given lake files; ``members`` maps a
    user to their current account for events that name none."""
    return f"""
        WITH usage AS (
            SELECT e.date AS day,
                   coalesce(e.group_id, m.account_id) AS account_id,
                   coalesce(e.user_id, e.anonymous_id) AS user_key,
                   CASE WHEN e.type = 'track'
                        THEN coalesce(json_extract_string(e.properties, '$.feature'), e.event)
                        ELSE 'page' END AS feature
            FROM read_parquet({_literal_list(files)}, hive_partitioning = true,
                              union_by_name = true,
                              hive_types = {{'project_id': VARCHAR, 'date': DATE}}) AS e
            LEFT JOIN members AS m ON m.user_id = e.user_id
            WHERE e.type IN ('track', 'page', 'screen')
              AND NOT (e.type = 'track' AND starts_with(e.event, 'Survey '))
        )
        SELECT day, account_id, user_key, feature, count(*) AS events
        FROM usage
        WHERE account_id IS NOT NULL AND user_key IS NOT NULL
        GROUP BY ALL
    """  # noqa: S608 - file literals are our own paths


def _aggregate(files: list[Path], members: pa.Table) -> tuple[list[Any], list[Any]]:
    with duckdb.connect() as db:
        db.register("members", members)
        db.register("detail", db.execute(rollup_sql(files)).to_arrow_table())
        by_feature = db.execute(
            """SELECT day, account_id, feature, sum(events)::BIGINT AS events,
                      count(DISTINCT user_key)::INTEGER AS active_users
               FROM detail GROUP BY ALL"""
        ).fetchall()
        by_user = db.execute(
            """SELECT day, account_id, user_key, sum(events)::BIGINT AS events
               FROM detail GROUP BY ALL"""
        ).fetchall()
    return by_feature, by_user


async def rollup_project(
    conn: Connection, lake_dir: Path, project_id: str, partitions: list[LakePartition]
) -> RollupReport:
    """Recompute the changed partitions of one project (in the caller's transaction)."""
    report = RollupReport()
    stored = {
        row["day"]: row["files"]
        for row in await conn.fetch(
            "SELECT day, files FROM rollup_partitions WHERE project_id = $1", project_id
        )
    }
    changed = [p for p in partitions if stored.get(p.day) != p.signature]
    report.unchanged = len(partitions) - len(changed)
    if not changed:
        return report
    members = await conn.fetch(
        "SELECT user_id, account_id FROM user_current_accounts WHERE project_id = $1",
        project_id,
    )
    member_table = pa.table(
        {
            "user_id": pa.array([r["user_id"] for r in members], pa.string()),
            "account_id": pa.array([r["account_id"] for r in members], pa.string()),
        }
    )
    files = [f for p in changed for f in p.files]
    # DuckDB works on its own threads and releases the GIL: off the event loop.
    by_feature, by_user = await asyncio.to_thread(_aggregate, files, member_table)
    days = [p.day for p in changed]
    await conn.execute(
        "DELETE FROM usage_daily WHERE project_id = $1 AND day = ANY($2::date[])", project_id, days
    )
    await conn.execute(
        "DELETE FROM usage_daily_user WHERE project_id = $1 AND day = ANY($2::date[])",
        project_id,
        days,
    )
    await conn.copy_records_to_table(
        "usage_daily",
        records=[(project_id, *row) for row in by_feature],
        columns=["project_id", "day", "account_id", "feature", "events", "active_users"],
    )
    await conn.copy_records_to_table(
        "usage_daily_user",
        records=[(project_id, *row) for row in by_user],
        columns=["project_id", "day", "account_id", "user_key", "events"],
    )
    events: dict[Any, int] = {}
    for day, _, _, count in by_user:
        events[day] = events.get(day, 0) + count
    await conn.executemany(
        """INSERT INTO rollup_partitions (project_id, day, files, rows, rolled_at)
           VALUES ($1, $2, $3, $4, now())
           ON CONFLICT (project_id, day)
           DO UPDATE SET files = EXCLUDED.files, rows = EXCLUDED.rows, rolled_at = now()""",
        [(project_id, p.day, p.signature, events.get(p.day, 0)) for p in changed],
    )
    report.partitions = len(changed)
    report.events = sum(events.values())
    return report
