"""What usage drivers read: the raters from PostgreSQL, their feature use from the lake.

The lake is read by DuckDB, one project's partitions of the days that matter, with the file
list, the features and the raters as bound parameters; no event becomes a Python object. Usage
is attributed as health attributes it (docs/health.md): a track event counts for
``properties.feature`` else its name, page/screen views for ``page``, ``Survey *`` events not at
all; an event's account is its ``groupId``, else its user's current account.
"""

from __future__ import annotations

from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Any

import asyncpg
import duckdb
import pyarrow as pa

from cxloop.db import Connection
from cxloop.health import FEATURE_SQL
from cxloop.lake import (
    EVENTS_STORE,
    LakeLocation,
    as_location,
    files_dataset,
    project_dir,
    project_partitions,
)

__all__ = [
    "DEFAULT_KEY_FEATURES",
    "busiest_features",
    "feature_usage",
    "fetch_members",
    "fetch_raters",
    "lake_files",
]

# Health's default key features: the features used by the most accounts in the last 30 days.
DEFAULT_KEY_FEATURES = 10
_BUSIEST_DAYS = 30

RATERS = """
SELECT coalesce(user_id, anonymous_id) AS user_key, account_id, score, responded_at
FROM survey_responses
WHERE project_id = $1 AND kind = $2 AND score IS NOT NULL
  AND responded_at >= $3::date AND responded_at < $4::date + 1
ORDER BY responded_at, response_id
"""
MEMBERS = "SELECT user_id, account_id FROM user_current_accounts WHERE project_id = $1"


async def fetch_raters(
    conn: Connection, project_id: str, kind: str, since: date, until: date
) -> list[asyncpg.Record]:
    """Responses of this kind with a score, rated between the two dates (inclusive)."""
    return await conn.fetch(RATERS, project_id, kind, since, until)


async def fetch_members(conn: Connection, project_id: str) -> list[asyncpg.Record]:
    """Each user's current account (for events without a ``groupId``)."""
    return await conn.fetch(MEMBERS, project_id)


def lake_files(lake: Path | LakeLocation, project_id: str, since: date, until: date) -> list[str]:
    """The project's event files of the days from ``since`` to ``until`` (inclusive): paths,
    or keys of an object-store lake's live files."""
    location = as_location(lake)
    if location.local is None:
        days = project_partitions(location, EVENTS_STORE, project_id).get(project_id, {})
        return [
            f.key
            for day, day_files in sorted(days.items())
            if since <= day <= until
            for f in day_files
        ]
    root = project_dir(location.local, EVENTS_STORE, project_id)
    files: list[str] = []
    if not root.is_dir():
        return files
    for day_dir in sorted(root.glob("date=*")):
        try:
            day = date.fromisoformat(day_dir.name.split("=", 1)[1])
        except ValueError:
            continue
        if since <= day <= until:
            files.extend(str(f) for f in sorted(day_dir.glob("*.parquet")))
    return files


_SOURCE = """
read_parquet($files, hive_partitioning = true, union_by_name = true,
             hive_types = {'project_id': VARCHAR, 'date': DATE})
"""
_USAGE_FILTER = (
    "e.type IN ('track', 'page', 'screen') AND NOT (e.type = 'track' AND "
    "starts_with(e.event, 'Survey '))"
)

# Per (user, account, feature, day): the first and last use. A rater used a feature in the
# window [rated_at − window, rated_at) exactly when some day has first < rated_at and
# last ≥ rated_at − window (a day strictly inside the window has both; the window's last day
# needs a use before the rating, its first day a use after the window opens).
_USED = f"""
WITH usage AS (
    SELECT coalesce(e.user_id, e.anonymous_id) AS user_key,
           coalesce(e.group_id, m.account_id) AS account_id,
           {FEATURE_SQL} AS feature,
           e.date AS day, min(e.timestamp) AS first_at, max(e.timestamp) AS last_at
    FROM {_SOURCE} AS e
    LEFT JOIN members AS m ON m.user_id = e.user_id
    WHERE {_USAGE_FILTER} AND list_contains($features, {FEATURE_SQL})
    GROUP BY ALL
)
SELECT DISTINCT r.idx, u.feature
FROM raters AS r JOIN usage AS u ON u.user_key = r.user_key
WHERE r.user_key IS NOT NULL AND u.first_at < r.rated_at AND u.last_at >= r.opens_at
UNION
SELECT DISTINCT r.idx, u.feature
FROM raters AS r JOIN usage AS u ON u.account_id = r.account_id
WHERE r.user_key IS NULL AND u.first_at < r.rated_at AND u.last_at >= r.opens_at
"""  # noqa: S608 - fixed fragments; every value is a bound parameter

_BUSIEST = f"""
SELECT {FEATURE_SQL} AS feature
FROM {_SOURCE} AS e
LEFT JOIN members AS m ON m.user_id = e.user_id
WHERE {_USAGE_FILTER} AND e.type = 'track'
  AND coalesce(e.group_id, m.account_id) IS NOT NULL
GROUP BY ALL
ORDER BY count(DISTINCT coalesce(e.group_id, m.account_id)) DESC, feature
LIMIT $limit
"""  # noqa: S608 - fixed fragments; every value is a bound parameter


# On object storage the files are read by pyarrow and handed to DuckDB as a dataset.
_REMOTE = "lake_events"
_USED_REMOTE = _USED.replace(_SOURCE, _REMOTE)
_BUSIEST_REMOTE = _BUSIEST.replace(_SOURCE, _REMOTE)


def _query(
    db: duckdb.DuckDBPyConnection, lake: Path | LakeLocation, files: list[str], local: str
) -> str:
    """``local`` (reading ``$files``), or its object-store twin over the files registered."""
    if as_location(lake).local is not None:
        return local
    db.register(_REMOTE, files_dataset(lake, EVENTS_STORE, files))
    return _USED_REMOTE if local is _USED else _BUSIEST_REMOTE


def _params(lake: Path | LakeLocation, files: list[str], **params: Any) -> dict[str, Any]:
    return {"files": files, **params} if as_location(lake).local is not None else params


def _members_table(members: list[Any]) -> pa.Table:
    return pa.table(
        {
            "user_id": pa.array([r["user_id"] for r in members], pa.string()),
            "account_id": pa.array([r["account_id"] for r in members], pa.string()),
        }
    )


def feature_usage(
    lake: Path | LakeLocation,
    project_id: str,
    raters: list[Any],
    members: list[Any],
    features: list[str],
    window_days: int,
) -> list[tuple[int, str]]:
    """(rater index, feature) for each key feature each rater used in the ``window_days``
    before rating (the rater: the user, else the response's account)."""
    if not raters or not features:
        return []
    first = min(r["responded_at"] for r in raters).date() - timedelta(days=window_days)
    last = max(r["responded_at"] for r in raters).date()
    files = lake_files(lake, project_id, first, last)
    if not files:
        return []
    rated: list[datetime] = [r["responded_at"] for r in raters]
    table = pa.table(
        {
            "idx": pa.array(range(len(raters)), pa.int64()),
            "user_key": pa.array([r["user_key"] for r in raters], pa.string()),
            "account_id": pa.array([r["account_id"] for r in raters], pa.string()),
            "rated_at": pa.array(rated, pa.timestamp("us", tz="UTC")),
            "opens_at": pa.array(
                [t - timedelta(days=window_days) for t in rated], pa.timestamp("us", tz="UTC")
            ),
        }
    )
    with duckdb.connect() as db:
        db.register("raters", table)
        db.register("members", _members_table(members))
        query = _query(db, lake, files, _USED)
        rows = db.execute(query, _params(lake, files, features=features)).fetchall()
    return [(int(idx), str(feature)) for idx, feature in rows]


def busiest_features(
    lake: Path | LakeLocation, project_id: str, members: list[Any], until: date
) -> list[str]:
    """Health's default key features as of ``until``: the (track) features used by the most
    accounts in the 30 days up to it."""
    files = lake_files(lake, project_id, until - timedelta(days=_BUSIEST_DAYS - 1), until)
    if not files:
        return []
    with duckdb.connect() as db:
        db.register("members", _members_table(members))
        query = _query(db, lake, files, _BUSIEST)
        rows = db.execute(query, _params(lake, files, limit=DEFAULT_KEY_FEATURES)).fetchall()
    return [str(r[0]) for r in rows]
