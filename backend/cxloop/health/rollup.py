"""Daily usage rollups from the Parquet lake, incrementally, into Parquet (DuckDB).

Two rollup stores sit next to the events, Hive-partitioned like them:

- ``lake/rollups/usage_feature/project_id=…/date=…``: events and active users per account and
  feature and day;
- ``lake/rollups/usage_user/project_id=…/date=…``: events per account and user and day (distinct
  active users over any window: MAU, WAU, seats).

A (project, day) partition of the events store only ever gains files (new segments, late
events; replays are dropped by dedupe before they are written), so its rollup is recomputed
exactly when its file set changed since the last run (signatures in PostgreSQL,
``rollup_partitions``). The work never leaves DuckDB: no row becomes a Python object.
Attribution and feature rules: docs/health.md.
"""

from __future__ import annotations

import asyncio
import hashlib
import shutil
import uuid
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from urllib.parse import unquote

import duckdb
import pyarrow as pa

from cxloop.db import Connection
from cxloop.lake import partition_dir, project_dir

__all__ = [
    "FEATURE_SQL",
    "ROLLUP_STORES",
    "LakePartition",
    "RollupReport",
    "lake_partitions",
    "literal_list",
    "rollup_glob",
    "rollup_project",
]


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
    for directory in sorted(root.glob("project_id=*")):
        project_id = unquote(directory.name.split("=", 1)[1])
        for day_dir in sorted(directory.glob("date=*")):
            files = tuple(sorted(day_dir.glob("*.parquet")))
            if files:
                day = date.fromisoformat(day_dir.name.split("=", 1)[1])
                out.setdefault(project_id, []).append(LakePartition(project_id, day, files))
    return out


def literal_list(paths: list[Path] | list[str]) -> str:
    # Our own paths, as quoted literals: a file list cannot be a bound parameter everywhere.
    return "[" + ", ".join("'" + str(p).replace("'", "''") + "'" for p in paths) + "]"


def rollup_glob(lake_dir: Path, store: str, project_id: str) -> str | None:
    """A read_parquet() source over one project's rollup store; None when it is empty."""
    directory = project_dir(lake_dir / "rollups", store, project_id)
    if not any(directory.glob("date=*/*.parquet")):
        return None
    pattern = str(directory / "date=*" / "*.parquet").replace("'", "''")
    return f"read_parquet('{pattern}', hive_partitioning = true, hive_types = {{'date': DATE}})"


# The feature an event counts towards (docs/health.md): a track's ``properties.feature``, else its
# event name; every page or screen view counts towards "page".
FEATURE_SQL = (
    "CASE WHEN e.type = 'track' "
    "THEN coalesce(json_extract_string(e.properties, '$.feature'), e.event) ELSE 'page' END"
)

_DETAIL = """
CREATE TEMP TABLE detail AS
WITH usage AS (
    SELECT e.date AS date,
           coalesce(e.group_id, m.account_id) AS account_id,
           coalesce(e.user_id, e.anonymous_id) AS user_key,
           {feature} AS feature
    FROM read_parquet({files}, hive_partitioning = true, union_by_name = true,
                      hive_types = {{'project_id': VARCHAR, 'date': DATE}}) AS e
    LEFT JOIN members AS m ON m.user_id = e.user_id
    WHERE e.type IN ('track', 'page', 'screen')
      AND NOT (e.type = 'track' AND starts_with(e.event, 'Survey '))
)
SELECT date, account_id, user_key, feature, count(*) AS events
FROM usage
WHERE account_id IS NOT NULL AND user_key IS NOT NULL
GROUP BY ALL
"""

_STORES = {
    "usage_feature": """
        SELECT date, account_id, feature, sum(events)::BIGINT AS events,
               count(*)::INTEGER AS active_users
        FROM detail GROUP BY ALL""",
    "usage_user": """
        SELECT date, account_id, user_key, sum(events)::BIGINT AS events
        FROM detail GROUP BY ALL""",
}
ROLLUP_STORES = tuple(_STORES)


# Days rolled up by one DuckDB query, and their files' size: a backfill of a year of events
# is done a slice at a time, so its intermediate grain stays bounded (and cache-sized: the
# sliced rollup is also faster on bench_health's lake, BENCHMARKS.md).
CHUNK_DAYS = 10
CHUNK_BYTES = 1 << 30


def chunks(
    partitions: list[LakePartition], max_days: int = CHUNK_DAYS, max_bytes: int = CHUNK_BYTES
) -> list[list[LakePartition]]:
    """Consecutive slices of at most ``max_days`` partitions and ``max_bytes`` of files (a
    single larger partition is a slice of its own)."""
    out: list[list[LakePartition]] = []
    size = 0
    for partition in partitions:
        partition_bytes = sum(f.stat().st_size for f in partition.files)
        if not out or len(out[-1]) >= max_days or size + partition_bytes > max_bytes:
            out.append([])
            size = 0
        out[-1].append(partition)
        size += partition_bytes
    return out


def _build(
    lake_dir: Path, project_id: str, partitions: list[LakePartition], members: pa.Table
) -> dict[date, int]:
    """Roll the partitions up into fresh directories, then swap each day into place."""
    files = [f for p in partitions for f in p.files]
    staging = lake_dir / "rollups" / f".staging-{uuid.uuid4().hex}"
    staging.mkdir(parents=True)
    try:
        with duckdb.connect() as db:
            db.register("members", members)
            db.execute(_DETAIL.format(files=literal_list(files), feature=FEATURE_SQL))
            counts = dict(
                db.execute("SELECT date, sum(events) FROM detail GROUP BY ALL").fetchall()
            )
            for store, query in _STORES.items():
                target = str(staging / store).replace("'", "''")
                db.execute(
                    f"COPY ({query}) TO '{target}' (FORMAT parquet, COMPRESSION zstd, "
                    "PARTITION_BY (date), FILENAME_PATTERN 'part-{i}')"
                )
        for store in ROLLUP_STORES:
            for partition in partitions:
                final = partition_dir(lake_dir / "rollups", store, project_id, partition.day)
                final.parent.mkdir(parents=True, exist_ok=True)
                if final.exists():
                    shutil.rmtree(final)
                built = staging / store / final.name
                if built.exists():
                    built.rename(final)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return {day: int(n) for day, n in counts.items()}


async def rollup_project(
    conn: Connection, lake_dir: Path, project_id: str, partitions: list[LakePartition]
) -> RollupReport:
    """Recompute the changed partitions of one project."""
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
    events: dict[date, int] = {}
    for part in chunks(changed):
        # DuckDB works on its own threads and releases the GIL: off the event loop.
        events |= await asyncio.to_thread(_build, lake_dir, project_id, part, member_table)
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
